"""Query-parameter readers that accept every encoding the official clients use.

Python sends repeated keys and ``key=`` for None; JS sends JSON-array strings and ``1``/``0``;
the reference server also reads comma-separated lists.
"""

from __future__ import annotations

import uuid

import orjson
from django.http import QueryDict

from apps.core.errors import Unprocessable

TRUE = {"true", "1", "yes", "on"}
FALSE = {"false", "0", "no", "off"}


def query_bool(query: QueryDict, name: str, default: bool = False) -> bool:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise Unprocessable(f"Invalid value for query parameter '{name}': {raw!r} is not a boolean")


def query_list(query: QueryDict, *names: str) -> list[str]:
    """Every value given under any of ``names``, whether repeated, a JSON array, or comma-joined."""
    values: list[str] = []
    for name in names:
        for raw in query.getlist(name):
            raw = raw.strip()
            if not raw:
                continue
            if raw.startswith("["):
                try:
                    decoded = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    raise Unprocessable(f"Invalid JSON list in query parameter '{name}'") from None
                values.extend(str(item) for item in decoded)
            else:
                values.extend(part.strip() for part in raw.split(",") if part.strip())
    return values


def path_uuid(value: str, kind: str) -> uuid.UUID:
    """A UUID path segment, or the reference's 422 ``Invalid <kind> ID: must be a UUID``."""
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise Unprocessable(f"Invalid {kind} ID: must be a UUID") from None
