"""Input validation and output shapes of the run endpoints (reference §4)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from apps.core.fields import ObjectField
from apps.runs.models import MultitaskStrategy, Run, RunStatus
from apps.threads.serializers import CheckpointSerializer

STREAM_MODES = (
    "values",
    "messages",
    "messages-tuple",
    "updates",
    "events",
    "debug",
    "tasks",
    "checkpoints",
    "custom",
)
V2_ONLY_STREAM_MODES = ("tools", "lifecycle")
RUN_FIELDS = (
    "run_id",
    "thread_id",
    "assistant_id",
    "created_at",
    "updated_at",
    "status",
    "metadata",
    "kwargs",
    "multitask_strategy",
)


class StreamModeField(serializers.Field):
    """One stream mode or a list of them; ``tools`` / ``lifecycle`` belong to the v2 protocol."""

    def to_internal_value(self, data: Any) -> list[str]:
        modes = [data] if isinstance(data, str) else data
        if not isinstance(modes, list) or not all(isinstance(m, str) for m in modes):
            raise serializers.ValidationError("Must be a stream mode or a list of stream modes.")
        for mode in modes:
            if mode in V2_ONLY_STREAM_MODES:
                raise serializers.ValidationError(
                    f"'{mode}' is only supported on the v2 event streaming endpoints."
                )
            if mode not in STREAM_MODES:
                raise serializers.ValidationError(
                    f"'{mode}' is not a stream mode; use one of {', '.join(STREAM_MODES)}."
                )
        return list(dict.fromkeys(modes)) or ["values"]


class NodeListField(serializers.Field):
    """``"*"`` or a list of node names (static breakpoints)."""

    def to_internal_value(self, data: Any) -> str | list[str]:
        if data == "*":
            return data
        if isinstance(data, list) and all(isinstance(node, str) for node in data):
            return data
        raise serializers.ValidationError('Must be "*" or a list of node names.')


class CommandSerializer(serializers.Serializer):
    resume = serializers.JSONField(required=False, allow_null=True)
    update = serializers.JSONField(required=False, allow_null=True)
    goto = serializers.JSONField(required=False, allow_null=True)

    def validate_update(self, update: Any) -> Any:
        if update is None or isinstance(update, dict):
            return update
        if isinstance(update, list) and all(
            isinstance(pair, list | tuple) and len(pair) == 2 and isinstance(pair[0], str)
            for pair in update
        ):
            return update
        raise serializers.ValidationError("Must be an object or a list of [key, value] pairs.")

    def validate_goto(self, goto: Any) -> Any:
        targets = goto if isinstance(goto, list) else [goto]
        for target in targets:
            if goto is None:
                break
            if isinstance(target, str):
                continue
            if isinstance(target, dict) and isinstance(target.get("node"), str):
                continue
            raise serializers.ValidationError(
                "Must be a node name, {node, input}, or a list of these."
            )
        return goto


class LangsmithTracerSerializer(serializers.Serializer):
    project_name = serializers.CharField(required=False, allow_null=True)
    example_id = serializers.CharField(required=False, allow_null=True)


class RunCreateSerializer(serializers.Serializer):
    """Every field of RunCreateStateful; the stateless variant refuses the stateful ones."""

    assistant_id = serializers.CharField()
    input = serializers.JSONField(required=False, allow_null=True)
    command = CommandSerializer(required=False, allow_null=True)
    config = ObjectField(required=False, allow_null=True)
    context = ObjectField(required=False, allow_null=True)
    metadata = ObjectField(required=False, allow_null=True)
    stream_mode = StreamModeField(required=False, default=["values"])
    stream_subgraphs = serializers.BooleanField(required=False, default=False)
    stream_resumable = serializers.BooleanField(required=False, default=False)
    interrupt_before = NodeListField(required=False, allow_null=True)
    interrupt_after = NodeListField(required=False, allow_null=True)
    checkpoint = CheckpointSerializer(required=False, allow_null=True)
    checkpoint_id = serializers.UUIDField(required=False, allow_null=True)
    webhook = serializers.CharField(required=False, allow_null=True, max_length=2048)
    multitask_strategy = serializers.ChoiceField(
        choices=MultitaskStrategy.values, required=False, default=MultitaskStrategy.ENQUEUE
    )
    if_not_exists = serializers.ChoiceField(
        choices=["create", "reject"], required=False, default="reject"
    )
    on_completion = serializers.ChoiceField(
        choices=["delete", "keep"], required=False, default="delete"
    )
    on_disconnect = serializers.ChoiceField(
        choices=["cancel", "continue"], required=False, default="continue"
    )
    after_seconds = serializers.FloatField(required=False, default=0, min_value=0)
    feedback_keys = serializers.ListField(
        child=serializers.CharField(), required=False, allow_null=True
    )
    durability = serializers.ChoiceField(
        choices=["sync", "async", "exit"], required=False, allow_null=True
    )
    checkpoint_during = serializers.BooleanField(required=False, allow_null=True)
    langsmith_tracer = LangsmithTracerSerializer(required=False, allow_null=True)
    strict_resume = serializers.BooleanField(required=False, default=False)

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        if data.get("input") is not None and data.get("command"):
            raise serializers.ValidationError("Provide either input or command, not both.")
        if data.get("durability") is None:
            during = data.pop("checkpoint_during", None)
            data["durability"] = "sync" if during is None else ("async" if during else "exit")
        else:
            data.pop("checkpoint_during", None)
        if data.get("checkpoint_id") is not None:
            data["checkpoint_id"] = str(data["checkpoint_id"])
        return data


class StatelessRunCreateSerializer(RunCreateSerializer):
    """A run on a temporary thread: the fields that address an existing thread are refused."""

    STATEFUL_ONLY = ("multitask_strategy", "if_not_exists", "checkpoint", "checkpoint_id")

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        sent = [f for f in self.STATEFUL_ONLY if self.initial_data.get(f) is not None]
        if sent:
            raise serializers.ValidationError(
                {field: "Only runs on a thread take this field." for field in sent}
            )
        return super().validate(data)


class RunListSerializer(serializers.Serializer):
    limit = serializers.IntegerField(default=10, min_value=0, max_value=1000)
    offset = serializers.IntegerField(default=0, min_value=0)
    status = serializers.ChoiceField(choices=RunStatus.values, required=False, allow_null=True)


class RunCancelManySerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=["pending", "running", "all"], required=False, allow_null=True
    )
    thread_id = serializers.UUIDField(required=False, allow_null=True)
    run_ids = serializers.ListField(child=serializers.UUIDField(), required=False, allow_null=True)

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        by_status = data.get("status") is not None
        by_ids = data.get("thread_id") is not None or data.get("run_ids") is not None
        if by_status == by_ids:
            raise serializers.ValidationError(
                "Give either status, or thread_id with run_ids, but not both."
            )
        if by_ids and (not data.get("thread_id") or not data.get("run_ids")):
            raise serializers.ValidationError("thread_id and run_ids go together.")
        return data


def run_json(run: Run) -> dict[str, Any]:
    return {
        "run_id": str(run.run_id),
        "thread_id": str(run.thread_id),
        "assistant_id": str(run.assistant_id),
        "created_at": run.created_at,
        "updated_at": run.updated_at,
        "status": run.status,
        "metadata": run.metadata,
        "kwargs": run.kwargs,
        "multitask_strategy": run.multitask_strategy,
        "langsmith_session_name": None,
    }
