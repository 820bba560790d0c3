"""The auth handlers' metadata filters (reference §9.3) as query conditions.

A filter is a dict of ``key: value`` (equality), ``key: {"$eq": value}``, ``key: {"$contains":
value}`` (the array at ``key`` holds ``value``, or every item of a list ``value``), several keys
AND-ed, and ``$or`` / ``$and`` lists of filters. Keys are built as expressions, never parsed
from ``__`` lookups, so any key text is safe; the JSON field may sit across a relation
(``thread__metadata``).
"""

from __future__ import annotations

import json
from typing import Any

from django.db.models import BooleanField, Func, Q
from django.db.models.fields.json import KeyTransform

MAX_DEPTH = 3


def metadata_filter(filters: dict[str, Any], field: str = "metadata") -> Q:
    """The condition ``filters`` puts on the JSON ``field``."""
    return _condition(filters, field, depth=1)


def check_filters(filters: Any) -> dict[str, Any]:
    """``filters`` if it is a filter this server can apply; otherwise a ValueError naming the
    problem (a project's handler returned something malformed: a server-side mistake)."""
    if not isinstance(filters, dict):
        raise ValueError(f"an auth filter must be a dict, not {type(filters).__name__}")
    _condition(filters, "metadata", depth=1)
    return filters


def _condition(filters: dict[str, Any], field: str, depth: int) -> Q:
    if depth > MAX_DEPTH:
        raise ValueError(f"auth filters nest at most {MAX_DEPTH} deep")
    condition = Q()
    for key, wanted in filters.items():
        if key in ("$or", "$and"):
            if not isinstance(wanted, list) or not wanted:
                raise ValueError(f"{key} takes a non-empty list of filters")
            parts = [_condition(_as_dict(part), field, depth + 1) for part in wanted]
            combined = parts[0]
            for part in parts[1:]:
                combined = combined | part if key == "$or" else combined & part
            condition &= combined
        elif isinstance(wanted, dict) and len(wanted) == 1 and next(iter(wanted)).startswith("$"):
            operator, operand = next(iter(wanted.items()))
            if operator == "$eq":
                condition &= _equals(field, key, operand)
            elif operator == "$contains":
                items = operand if isinstance(operand, list) else [operand]
                condition &= Q(ArrayHas(KeyTransform(str(key), field), items))
            else:
                raise ValueError(f"unsupported auth filter operator {operator!r}")
        else:
            condition &= _equals(field, key, wanted)
    return condition


def _as_dict(part: Any) -> dict[str, Any]:
    if not isinstance(part, dict):
        raise ValueError("each filter in $or / $and must be a dict")
    return part


def _equals(field: str, key: str, value: Any) -> Q:
    return Q(JsonEquals(KeyTransform(str(key), field), value))


class JsonEquals(Func):
    """The JSON value at ``expression`` equals ``value`` (a missing key equals nothing)."""

    output_field = BooleanField()

    def __init__(self, expression, value: Any) -> None:
        super().__init__(expression)
        self.value = value

    def as_postgresql(self, compiler, connection, **extra):
        sql, params = compiler.compile(self.source_expressions[0])
        return f"COALESCE(({sql}) = %s::jsonb, false)", [*params, json.dumps(self.value)]

    def as_sql(self, compiler, connection, **extra):
        # SQLite: Django's key transform reads true, false and null as their JSON type names
        # ('true', ...), other scalars as SQL values and containers as JSON text.
        sql, params = compiler.compile(self.source_expressions[0])
        if isinstance(self.value, dict | list):
            return f"(json({sql}) = json(%s))", [*params, json.dumps(self.value)]
        if self.value is None or isinstance(self.value, bool):
            return f"({sql} = %s)", [*params, json.dumps(self.value)]
        return f"({sql} = %s)", [*params, self.value]


class ArrayHas(Func):
    """The JSON array ``expression`` holds every one of ``items`` (JSON scalars or objects)."""

    output_field = BooleanField()

    def __init__(self, expression, items: list[Any]) -> None:
        super().__init__(expression)
        self.items = items

    def as_postgresql(self, compiler, connection, **extra):
        sql, params = compiler.compile(self.source_expressions[0])
        return f"COALESCE(({sql}) @> %s::jsonb, false)", [*params, json.dumps(self.items)]

    def as_sql(self, compiler, connection, **extra):
        # SQLite: json_each walks the array; each wanted item must equal one element.
        sql, params = compiler.compile(self.source_expressions[0])
        checks, args = [], []
        for item in self.items:
            if isinstance(item, dict | list):
                checks.append(
                    f"EXISTS (SELECT 1 FROM json_each({sql}) AS e "
                    "WHERE e.type IN ('object', 'array') AND json(e.value) = json(%s))"
                )
                args.extend([*params, json.dumps(item, sort_keys=True)])
            else:
                checks.append(
                    f"EXISTS (SELECT 1 FROM json_each({sql}) AS e "
                    "WHERE e.type NOT IN ('object', 'array') AND e.value = %s)"
                )
                args.extend([*params, item])
        return "(" + " AND ".join(checks or ["1"]) + ")", args
