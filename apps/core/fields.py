"""Serializer fields shared by the API's input serializers."""

from __future__ import annotations

from rest_framework import serializers

from apps.core.errors import Unprocessable


class ObjectField(serializers.JSONField):
    """A JSON object (a dict); ``null`` only where ``allow_null``."""

    default_error_messages = {"not_object": "Must be a JSON object."}

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            self.fail("not_object")
        return data


class StringListField(serializers.ListField):
    child = serializers.CharField(allow_blank=False, trim_whitespace=False)


def check_select(select: list[str] | None, allowed: tuple[str, ...]) -> list[str] | None:
    """Validate a ``select`` field list with the reference's message for unknown columns."""
    if not select:
        return None
    unknown = [column for column in select if column not in allowed]
    if unknown:
        raise Unprocessable(f"Invalid select columns: {unknown}")
    return select


def selected(row: dict, select: list[str] | None) -> dict:
    return row if not select else {key: row[key] for key in select}


class PageSerializer(serializers.Serializer):
    limit = serializers.IntegerField(default=10, min_value=0, max_value=1000)
    offset = serializers.IntegerField(default=0, min_value=0)
    sort_order = serializers.ChoiceField(
        choices=["asc", "desc", "ASC", "DESC"], required=False, allow_null=True
    )
    select = serializers.ListField(child=serializers.CharField(), required=False, allow_null=True)


def validated(serializer_class: type[serializers.Serializer], data) -> dict:
    """Run an input serializer; invalid input raises (rendered as a 422 naming the field)."""
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data
