"""JSON containment filters (PostgreSQL ``@>`` semantics) that also work on SQLite."""

from __future__ import annotations

from typing import Any

from django.db import connection, models
from django.db.models import Q
from django.db.models.expressions import Col
from django.db.models.fields.json import KeyTransform


def json_contains(model: type[models.Model], field: str, wanted: dict[str, Any]) -> Q:
    """Rows of ``model`` whose JSON ``field`` contains ``wanted``: every key present with an
    equal value, nested objects compared recursively.

    PostgreSQL uses ``@>``. SQLite has no containment operator, so objects are walked into one
    equality per leaf path; arrays are then compared whole rather than by containment. Keys are
    built as expressions, never parsed from ``__`` lookups, so any key text is safe.
    """
    if not wanted:
        return Q()
    if connection.vendor == "postgresql":
        return Q(**{f"{field}__contains": wanted})
    column = Col(model._meta.db_table, model._meta.get_field(field))
    return _leaf_equalities(column, wanted)


def _leaf_equalities(parent, wanted: dict[str, Any]) -> Q:
    condition = Q()
    for key, value in wanted.items():
        node = KeyTransform(str(key), parent)
        if isinstance(value, dict) and value:
            condition &= _leaf_equalities(node, value)
        else:
            condition &= Q(node.get_lookup("exact")(node, value))
    return condition
