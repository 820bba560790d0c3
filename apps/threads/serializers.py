"""Input validation and output shapes of the thread endpoints."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from apps.core.fields import ObjectField, PageSerializer
from apps.threads.models import Thread, ThreadStatus, TtlStrategy
from apps.threads.selectors import THREAD_SORT_FIELDS

THREAD_FIELDS = (
    "thread_id",
    "created_at",
    "updated_at",
    "state_updated_at",
    "metadata",
    "config",
    "status",
    "values",
    "interrupts",
)


class TtlField(serializers.Field):
    """``{ttl: minutes, strategy}``; a bare number means ``{ttl: n, strategy: "delete"}``."""

    default_error_messages = {
        "invalid": (
            "Must be a number of minutes or {{ttl: minutes, strategy: delete|keep_latest}}."
        ),
        "positive": "The TTL must be a positive number of minutes.",
    }

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if isinstance(data, bool):
            self.fail("invalid")
        if isinstance(data, int | float):
            data = {"ttl": data}
        if not isinstance(data, dict):
            self.fail("invalid")
        minutes = data.get("ttl")
        strategy = data.get("strategy") or TtlStrategy.DELETE
        if isinstance(minutes, bool) or not isinstance(minutes, int | float):
            self.fail("invalid")
        if minutes <= 0:
            self.fail("positive")
        if strategy not in TtlStrategy.values:
            self.fail("invalid")
        return {"ttl": minutes, "strategy": strategy}


class StateUpdateSerializer(serializers.Serializer):
    values = serializers.JSONField(required=False, allow_null=True)
    command = ObjectField(required=False, allow_null=True)
    as_node = serializers.CharField(required=False, allow_null=True)
    task_id = serializers.CharField(required=False, allow_null=True)

    def validate_command(self, command):
        # The SDKs send ``command: null``; a real command cannot be replayed as a state update.
        if command:
            raise serializers.ValidationError("commands are not supported in supersteps")
        return command


class SuperstepSerializer(serializers.Serializer):
    updates = StateUpdateSerializer(many=True)


class ThreadCreateSerializer(serializers.Serializer):
    thread_id = serializers.UUIDField(required=False, allow_null=True)
    metadata = ObjectField(required=False, allow_null=True)
    if_exists = serializers.ChoiceField(choices=["raise", "do_nothing"], default="raise")
    ttl = TtlField(required=False, allow_null=True)
    supersteps = SuperstepSerializer(many=True, required=False, allow_null=True)


class ThreadPatchSerializer(serializers.Serializer):
    metadata = ObjectField(required=False, allow_null=True)
    ttl = TtlField(required=False, allow_null=True)


class ThreadSearchSerializer(PageSerializer):
    metadata = ObjectField(required=False, allow_null=True)
    values = ObjectField(required=False, allow_null=True)
    ids = serializers.ListField(child=serializers.UUIDField(), required=False, allow_null=True)
    status = serializers.ChoiceField(choices=ThreadStatus.values, required=False, allow_null=True)
    sort_by = serializers.ChoiceField(choices=THREAD_SORT_FIELDS, required=False, allow_null=True)
    extract = serializers.DictField(child=serializers.CharField(), required=False, allow_null=True)


class ThreadCountSerializer(serializers.Serializer):
    metadata = ObjectField(required=False, allow_null=True)
    values = ObjectField(required=False, allow_null=True)
    status = serializers.ChoiceField(choices=ThreadStatus.values, required=False, allow_null=True)


class ThreadPruneSerializer(serializers.Serializer):
    thread_ids = serializers.ListField(child=serializers.UUIDField(), allow_empty=True)
    strategy = serializers.ChoiceField(choices=TtlStrategy.values, default=TtlStrategy.DELETE)


class CheckpointSerializer(serializers.Serializer):
    checkpoint_id = serializers.CharField(required=False, allow_null=True)
    checkpoint_ns = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    checkpoint_map = ObjectField(required=False, allow_null=True)
    thread_id = serializers.CharField(required=False, allow_null=True)


class ThreadStateUpdateSerializer(serializers.Serializer):
    values = serializers.JSONField(required=False, allow_null=True)
    as_node = serializers.CharField(required=False, allow_null=True)
    checkpoint = CheckpointSerializer(required=False, allow_null=True)
    checkpoint_id = serializers.CharField(required=False, allow_null=True)


class ThreadStateAtCheckpointSerializer(serializers.Serializer):
    checkpoint = CheckpointSerializer()
    subgraphs = serializers.BooleanField(default=False)
    select = serializers.ListField(child=serializers.CharField(), required=False, allow_null=True)


class HistoryBeforeField(serializers.Field):
    """``before`` in any of its three forms: a checkpoint id, ``{"configurable": {...}}``
    (JS), or a bare checkpoint dict (Python)."""

    default_error_messages = {"invalid": "Must be a checkpoint id or a checkpoint object."}

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if isinstance(data, str) and data:
            return {"checkpoint_id": data}
        if isinstance(data, dict):
            inner = data.get("configurable", data)
            if isinstance(inner, dict) and isinstance(inner.get("checkpoint_id"), str):
                return {
                    "checkpoint_id": inner["checkpoint_id"],
                    "checkpoint_ns": inner.get("checkpoint_ns") or "",
                }
        self.fail("invalid")


class ThreadHistorySerializer(serializers.Serializer):
    limit = serializers.IntegerField(default=10, min_value=1, max_value=1000)
    before = HistoryBeforeField(required=False, allow_null=True)
    metadata = ObjectField(required=False, allow_null=True)
    checkpoint = CheckpointSerializer(required=False, allow_null=True)
    select = serializers.ListField(child=serializers.CharField(), required=False, allow_null=True)


def thread_json(thread: Thread, *, include_ttl: bool = False) -> dict[str, Any]:
    data = {
        "thread_id": str(thread.thread_id),
        "created_at": thread.created_at,
        "updated_at": thread.updated_at,
        "state_updated_at": thread.state_updated_at,
        "metadata": thread.metadata,
        "config": thread.config,
        "status": thread.status,
        "values": thread.values,
        "interrupts": thread.interrupts,
    }
    if thread.error is not None:
        data["error"] = thread.error
    if include_ttl:
        data["ttl"] = (
            {
                "strategy": thread.ttl_strategy,
                "ttl_minutes": thread.ttl_minutes,
                "expires_at": thread.expires_at,
            }
            if thread.ttl_minutes
            else None
        )
    return data
