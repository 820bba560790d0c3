"""Input validation and output shapes of the assistant endpoints."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from apps.core.fields import ObjectField, PageSerializer
from apps.graphs.models import Assistant, AssistantVersion
from apps.graphs.selectors import ASSISTANT_SORT_FIELDS

ASSISTANT_FIELDS = (
    "assistant_id",
    "graph_id",
    "name",
    "description",
    "config",
    "context",
    "created_at",
    "updated_at",
    "metadata",
    "version",
)


class AssistantCreateSerializer(serializers.Serializer):
    graph_id = serializers.CharField()
    assistant_id = serializers.UUIDField(required=False, allow_null=True)
    config = ObjectField(required=False, allow_null=True)
    context = ObjectField(required=False, allow_null=True)
    metadata = ObjectField(required=False, allow_null=True)
    if_exists = serializers.ChoiceField(choices=["raise", "do_nothing"], default="raise")
    name = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    description = serializers.CharField(required=False, allow_null=True, allow_blank=True)


class AssistantPatchSerializer(serializers.Serializer):
    graph_id = serializers.CharField(required=False, allow_null=True)
    config = ObjectField(required=False, allow_null=True)
    context = ObjectField(required=False, allow_null=True)
    metadata = ObjectField(required=False, allow_null=True)
    name = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    description = serializers.CharField(required=False, allow_null=True, allow_blank=True)


class AssistantSearchSerializer(PageSerializer):
    metadata = ObjectField(required=False, allow_null=True)
    graph_id = serializers.CharField(required=False, allow_null=True)
    name = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    sort_by = serializers.ChoiceField(
        choices=ASSISTANT_SORT_FIELDS, required=False, allow_null=True
    )


class AssistantCountSerializer(serializers.Serializer):
    metadata = ObjectField(required=False, allow_null=True)
    graph_id = serializers.CharField(required=False, allow_null=True)
    name = serializers.CharField(required=False, allow_null=True, allow_blank=True)


class AssistantVersionsSerializer(serializers.Serializer):
    metadata = ObjectField(required=False, allow_null=True)
    limit = serializers.IntegerField(default=10, min_value=0, max_value=1000)
    offset = serializers.IntegerField(default=0, min_value=0)


class AssistantLatestSerializer(serializers.Serializer):
    version = serializers.IntegerField(min_value=1)


def assistant_json(assistant: Assistant | AssistantVersion) -> dict[str, Any]:
    data = {
        "assistant_id": str(assistant.assistant_id),
        "graph_id": assistant.graph_id,
        "name": assistant.name,
        "description": assistant.description,
        "config": assistant.config,
        "context": assistant.context,
        "metadata": assistant.metadata,
        "version": assistant.version,
        "created_at": assistant.created_at,
    }
    if isinstance(assistant, Assistant):
        data["updated_at"] = assistant.updated_at
    return data
