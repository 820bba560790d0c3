"""JSON encoding of graph values: LangChain messages, pydantic models, interrupts, tuples."""

from __future__ import annotations

import dataclasses
from collections.abc import Set
from typing import Any

import orjson
from pydantic import BaseModel

OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


def default(obj: Any) -> Any:
    """Turn what orjson cannot encode into plain JSON data, the way the reference server does."""
    if isinstance(obj, BaseModel):
        return obj.model_dump(mode="json")
    if hasattr(obj, "_asdict"):
        return obj._asdict()
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    if isinstance(obj, Set):
        return list(obj)
    if isinstance(obj, bytes | bytearray):
        return obj.decode("utf-8", errors="replace")
    if hasattr(obj, "to_json") and callable(obj.to_json):
        return obj.to_json()
    return repr(obj)


def dumps(value: Any) -> bytes:
    return orjson.dumps(value, default=default, option=OPTIONS)


def to_jsonable(value: Any) -> Any:
    """Plain JSON data (dicts, lists, scalars) for any graph value, safe to store in a JSONField."""
    return orjson.loads(dumps(value))
