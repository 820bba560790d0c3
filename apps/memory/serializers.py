"""Input validation and output shapes of the /store endpoints (reference §8).

Every ill-typed value is rejected here, naming the field, so the store only ever sees valid
operations: nothing is written when a request fails.
"""

from __future__ import annotations

import math
from typing import Any

from langgraph.store.base import Item, SearchItem
from rest_framework import serializers

from apps.core.errors import Unprocessable
from apps.core.fields import ObjectField
from apps.memory.filters import parse_value_filter
from apps.memory.store import check_address

MAX_LIMIT = 1000


class StrictCharField(serializers.CharField):
    """A JSON string; numbers and booleans are not coerced to text."""

    default_error_messages = {"not_string": "Must be a string."}

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("not_string")
        return super().to_internal_value(data)


class LabelField(StrictCharField):
    """One namespace label: a non-empty string without "." (the labels are stored joined
    with dots) or NUL characters."""

    default_error_messages = {"dot": 'Namespace labels cannot contain "." (got {label!r}).'}

    def to_internal_value(self, data: Any) -> str:
        label = super().to_internal_value(data)
        if "." in label:
            self.fail("dot", label=label)
        return label


class NamespaceField(serializers.ListField):
    """A namespace as a JSON array of labels; read as a tuple."""

    def __init__(self, **kwargs) -> None:
        super().__init__(child=LabelField(), **kwargs)

    def to_internal_value(self, data: Any) -> tuple[str, ...]:
        return tuple(super().to_internal_value(data))


class IndexField(serializers.Field):
    """``false`` (do not embed) or a list of JSON paths to embed instead of the defaults."""

    default_error_messages = {"invalid": "Must be false, null or a list of JSON paths."}

    def to_internal_value(self, data: Any) -> bool | list[str]:
        if data is False:
            return False
        if isinstance(data, list) and all(isinstance(path, str) and path for path in data):
            return data
        self.fail("invalid")

    def to_representation(self, value: Any) -> Any:
        return value


class MinutesField(serializers.FloatField):
    """A positive, finite number of minutes (fractions allowed)."""

    default_error_messages = {"positive": "Must be a positive number of minutes."}

    def to_internal_value(self, data: Any) -> float:
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        minutes = super().to_internal_value(data)
        if not math.isfinite(minutes) or minutes <= 0:
            self.fail("positive")
        return minutes


class ItemPutSerializer(serializers.Serializer):
    namespace = NamespaceField(allow_empty=False)
    key = StrictCharField()
    value = ObjectField()
    index = IndexField(required=False, allow_null=True, default=None)
    ttl = MinutesField(required=False, allow_null=True, default=None)

    def validate_namespace(self, namespace: tuple[str, ...]) -> tuple[str, ...]:
        if namespace[0] == "langgraph":
            raise serializers.ValidationError('The root label cannot be "langgraph".')
        return namespace

    def validate(self, data: dict) -> dict:
        try:
            check_address(data["namespace"], data["key"])
        except ValueError as exc:
            raise serializers.ValidationError({"key": str(exc)}) from None
        return data


class ItemDeleteSerializer(serializers.Serializer):
    namespace = NamespaceField(allow_empty=True)
    key = StrictCharField()


class ItemSearchSerializer(serializers.Serializer):
    namespace_prefix = NamespaceField(required=False, allow_null=True, allow_empty=True)
    filter = ObjectField(required=False, allow_null=True, default=None)
    limit = serializers.IntegerField(default=10, min_value=1, max_value=MAX_LIMIT)
    offset = serializers.IntegerField(default=0, min_value=0)
    query = StrictCharField(required=False, allow_null=True, allow_blank=True, default=None)
    refresh_ttl = serializers.BooleanField(required=False, allow_null=True, default=None)

    def validate_filter(self, filter: dict | None) -> dict | None:
        try:
            parse_value_filter(filter)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from None
        return filter


class NamespaceListSerializer(serializers.Serializer):
    prefix = NamespaceField(required=False, allow_null=True, allow_empty=True)
    suffix = NamespaceField(required=False, allow_null=True, allow_empty=True)
    max_depth = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    limit = serializers.IntegerField(default=100, min_value=1, max_value=MAX_LIMIT)
    offset = serializers.IntegerField(default=0, min_value=0)


def namespace_from_query(dotted: str) -> tuple[str, ...]:
    """The namespace of ``GET /store/items?namespace=a.b``: labels joined with "."."""
    if not dotted:
        return ()
    labels = tuple(dotted.split("."))
    if not all(labels):
        raise Unprocessable(f"namespace: Namespace labels cannot be empty (got {dotted!r}).")
    if any("\x00" in label for label in labels):
        raise Unprocessable("namespace: Null characters are not allowed.")
    return labels


def item_json(item: Item, *, with_score: bool = False) -> dict[str, Any]:
    data = {
        "namespace": list(item.namespace),
        "key": item.key,
        "value": item.value,
        "created_at": item.created_at.isoformat(),
        "updated_at": item.updated_at.isoformat(),
    }
    if with_score and isinstance(item, SearchItem):
        data["score"] = item.score
    return data
