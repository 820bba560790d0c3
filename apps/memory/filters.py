"""Store search filters and namespace match conditions, parsed once and compiled to SQL.

Filter keys and operands only ever travel as query parameters; the SQL text is fixed per
operator and database, so no key or value can change the statement.

Filter semantics (the same on SQLite and PostgreSQL):
- ``{"k": v}`` and ``{"k": {"$eq": v}}``: the top-level key ``k`` holds a JSON value equal to
  ``v``. Types must match (``1`` never equals ``"1"`` or ``true``; ``1`` equals ``1.0``);
  objects and arrays compare as whole JSON documents (object key order is irrelevant).
- ``$ne``: the negation of the above, so an item without ``k`` also matches.
- ``$gt``, ``$gte``, ``$lt``, ``$lte`` take a number or a string. A number compares only with
  numbers, numerically; a string compares only with strings, by code point. Values of any
  other type never match (PostgresStore compares everything as text, so ``"9" > "10"``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db.models import BooleanField, Expression, F, Q

COMPARISONS = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
OPERATORS = ("$eq", "$ne", *COMPARISONS)


@dataclass(frozen=True)
class ValueCondition:
    key: str
    operator: str
    operand: Any


def parse_value_filter(filter: Mapping[str, Any] | None) -> list[ValueCondition]:
    """The conditions of a search ``filter``; raises ValueError naming what is wrong."""
    if filter is None:
        return []
    if not isinstance(filter, Mapping):
        raise ValueError(f"filter must be an object, not {type(filter).__name__}")
    conditions = []
    for key, wanted in filter.items():
        if not isinstance(key, str) or not key:
            raise ValueError(f"filter keys must be non-empty strings, got {key!r}")
        if isinstance(wanted, Mapping) and any(str(name).startswith("$") for name in wanted):
            for operator, operand in wanted.items():
                conditions.append(_operator_condition(key, operator, operand))
        else:
            _check_json(key, wanted)
            conditions.append(ValueCondition(key, "$eq", wanted))
    return conditions


def _operator_condition(key: str, operator: Any, operand: Any) -> ValueCondition:
    if operator not in OPERATORS:
        raise ValueError(
            f"filter[{key!r}]: unsupported operator {operator!r} (use {', '.join(OPERATORS)})"
        )
    if operator in COMPARISONS and (
        isinstance(operand, bool) or not isinstance(operand, int | float | str)
    ):
        raise ValueError(
            f"filter[{key!r}]: {operator} compares numbers or strings, not {type(operand).__name__}"
        )
    _check_json(key, operand)
    return ValueCondition(key, operator, operand)


def _check_json(key: str, operand: Any) -> None:
    try:
        json.dumps(operand, allow_nan=False)
    except (TypeError, ValueError):
        raise ValueError(f"filter[{key!r}]: {operand!r} is not a JSON value") from None


class ValueMatch(Expression):
    """A WHERE condition on ``StoreItem.value`` for one ValueCondition."""

    conditional = True
    output_field = BooleanField()

    def __init__(self, condition: ValueCondition) -> None:
        super().__init__()
        self.condition = condition
        self.column = F("value")

    def get_source_expressions(self) -> list:
        return [self.column]

    def set_source_expressions(self, exprs: list) -> None:
        (self.column,) = exprs

    def as_sql(self, compiler, connection) -> tuple[str, list]:
        column, column_params = compiler.compile(self.column)
        assert not column_params
        if connection.vendor == "postgresql":
            return _postgres_sql(self.condition, column)
        return _sqlite_sql(self.condition, column)


def _postgres_sql(condition: ValueCondition, col: str) -> tuple[str, list]:
    key, operand = condition.key, condition.operand
    if condition.operator in ("$eq", "$ne"):
        equal = f"({col} -> %s) = %s::jsonb"
        params = [key, json.dumps(operand)]
        if condition.operator == "$ne":
            return f"NOT COALESCE({equal}, FALSE)", params
        return equal, params
    symbol = COMPARISONS[condition.operator]
    if isinstance(operand, str):
        return (
            f"(jsonb_typeof({col} -> %s) = 'string' AND ({col} ->> %s) COLLATE \"C\" {symbol} %s)",
            [key, key, operand],
        )
    # jsonb orders numbers numerically; the type check keeps other types (which jsonb
    # orders by type rank) out of the comparison.
    return (
        f"(jsonb_typeof({col} -> %s) = 'number' AND ({col} -> %s) {symbol} %s::jsonb)",
        [key, key, json.dumps(operand)],
    )


def _sqlite_sql(condition: ValueCondition, col: str) -> tuple[str, list]:
    # json_each lists the top-level members as rows (key, type, value), so any key text
    # works; a JSON path cannot quote a key that contains '"'.
    member = f"SELECT 1 FROM JSON_EACH({col}) AS member WHERE member.key = %s AND "
    operand = condition.operand
    if (
        isinstance(operand, int)
        and not isinstance(operand, bool)
        and not -(2**63) <= operand < 2**63
    ):
        operand = float(operand)  # SQLite integers are 64-bit; it reads larger JSON ints as reals
    if condition.operator in ("$eq", "$ne"):
        sql, params = _sqlite_equal(operand)
        negate = "NOT " if condition.operator == "$ne" else ""
        return f"{negate}EXISTS ({member}{sql})", [condition.key, *params]
    symbol = COMPARISONS[condition.operator]
    types = "('text')" if isinstance(operand, str) else "('integer', 'real')"
    return (
        f"EXISTS ({member}member.type IN {types} AND member.value {symbol} %s)",
        [condition.key, operand],
    )


def _sqlite_equal(operand: Any) -> tuple[str, list]:
    # member.value turns true into 1 and objects into text, so the JSON type is checked too.
    if operand is None:
        return "member.type = 'null'", []
    if isinstance(operand, bool):
        return "member.type = %s", ["true" if operand else "false"]
    if isinstance(operand, int | float):
        return "member.type IN ('integer', 'real') AND member.value = %s", [operand]
    if isinstance(operand, str):
        return "member.type = 'text' AND member.value = %s", [operand]
    # Stored values are written with sorted keys (SortedKeysJSONEncoder); JSON() minifies
    # both sides the same way.
    kind = "object" if isinstance(operand, Mapping) else "array"
    return (
        f"member.type = '{kind}' AND JSON(member.value) = JSON(%s)",
        [json.dumps(operand, sort_keys=True)],
    )


# Namespaces ---------------------------------------------------------------------------------


def namespace_text(namespace: tuple[str, ...]) -> str:
    return ".".join(namespace)


def namespace_range(namespace: tuple[str, ...]) -> tuple[str, str]:
    """Bounds ``[low, high)`` of the prefixes strictly below ``namespace``: the text starts
    with the labels and a ``"."``, and ``"/"`` is the character right after ``"."``."""
    text = namespace_text(namespace)
    return f"{text}.", f"{text}/"


@dataclass(frozen=True)
class NamespaceCondition:
    """A ListNamespacesOp match condition on a prefix column: an optional range on the
    literal labels before the first ``"*"`` (an index range), then an optional regex."""

    exact: str | None
    low: str | None
    high: str | None
    regex: str | None

    @classmethod
    def parse(cls, match_type: str, path: tuple[str, ...]) -> NamespaceCondition | None:
        if match_type not in ("prefix", "suffix"):
            raise ValueError(f"unsupported match_type {match_type!r} (use prefix or suffix)")
        if not path:
            return None  # an empty path constrains nothing
        # The same regex runs as PostgreSQL's ~ and Python's re (SQLite's REGEXP): escaped
        # labels, [^.]+ for one label, \Z for the very end (a label may end in a newline).
        segments = r"\.".join("[^.]+" if label == "*" else re.escape(label) for label in path)
        if match_type == "suffix":
            return cls(None, None, None, rf"(^|\.){segments}\Z")
        if "*" not in path:
            low, high = namespace_range(path)
            return cls(namespace_text(path), low, high, None)
        literal = path[: path.index("*")]
        low, high = namespace_range(literal) if literal else (None, None)
        return cls(None, low, high, rf"^{segments}(\.|\Z)")

    def sql(self, column: str, vendor: str) -> tuple[str, list]:
        """This condition on ``column`` as a WHERE fragment with its parameters."""
        parts, params = [], []
        if self.exact is not None:
            parts.append(f"{column} >= %s AND {column} < %s AND ({column} = %s OR {column} >= %s)")
            params += [self.exact, self.high, self.exact, self.low]
        elif self.low is not None:
            parts.append(f"{column} >= %s AND {column} < %s")
            params += [self.low, self.high]
        if self.regex is not None:
            parts.append(f"{column} ~ %s" if vendor == "postgresql" else f"{column} REGEXP %s")
            params.append(self.regex)
        return " AND ".join(parts), params


def namespace_scope(namespace: tuple[str, ...], *, field: str = "prefix") -> Q:
    """``namespace`` and everything under it, as one index range (its text up to
    ``"<text>/"``) minus the siblings such as ``"<text>-x"`` that sort inside that range."""
    text = namespace_text(namespace)
    low, high = namespace_range(namespace)
    return Q(**{f"{field}__gte": text, f"{field}__lt": high}) & (
        Q(**{field: text}) | Q(**{f"{field}__gte": low})
    )
