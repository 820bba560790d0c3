"""Cron request bodies (reference §7) and the Cron object."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from apps.core.fields import ObjectField, PageSerializer
from apps.crons.models import Cron, OnRunCompleted
from apps.runs.models import MultitaskStrategy
from apps.runs.serializers import NodeListField, StreamModeField

# The run-create fields a cron keeps in its payload and sends with each firing.
RUN_FIELDS = (
    "input",
    "config",
    "context",
    "webhook",
    "interrupt_before",
    "interrupt_after",
    "stream_mode",
    "stream_subgraphs",
    "stream_resumable",
    "durability",
    "checkpoint_during",
    "multitask_strategy",
)
CRON_FIELDS = (
    "cron_id",
    "assistant_id",
    "thread_id",
    "on_run_completed",
    "end_time",
    "schedule",
    "timezone",
    "created_at",
    "updated_at",
    "user_id",
    "payload",
    "next_run_date",
    "metadata",
    "enabled",
)
SORT_FIELDS = (
    "cron_id",
    "assistant_id",
    "thread_id",
    "created_at",
    "updated_at",
    "next_run_date",
    "end_time",
)


class CronFieldsSerializer(serializers.Serializer):
    """The fields a cron is written with; all optional here (a patch), required on create."""

    schedule = serializers.CharField(required=False, max_length=255)
    timezone = serializers.CharField(required=False, allow_null=True, max_length=64)
    end_time = serializers.DateTimeField(required=False, allow_null=True)
    enabled = serializers.BooleanField(required=False)
    metadata = ObjectField(required=False, allow_null=True)
    on_run_completed = serializers.ChoiceField(
        choices=OnRunCompleted.values, required=False, allow_null=True
    )
    input = serializers.JSONField(required=False, allow_null=True)
    config = ObjectField(required=False, allow_null=True)
    context = ObjectField(required=False, allow_null=True)
    webhook = serializers.CharField(required=False, allow_null=True, max_length=2048)
    interrupt_before = NodeListField(required=False, allow_null=True)
    interrupt_after = NodeListField(required=False, allow_null=True)
    stream_mode = StreamModeField(required=False, allow_null=True)
    stream_subgraphs = serializers.BooleanField(required=False, allow_null=True)
    stream_resumable = serializers.BooleanField(required=False, allow_null=True)
    durability = serializers.ChoiceField(
        choices=["sync", "async", "exit"], required=False, allow_null=True
    )
    checkpoint_during = serializers.BooleanField(required=False, allow_null=True)
    multitask_strategy = serializers.ChoiceField(
        choices=MultitaskStrategy.values, required=False, allow_null=True
    )


class CronCreateSerializer(CronFieldsSerializer):
    assistant_id = serializers.CharField()
    schedule = serializers.CharField(max_length=255)
    enabled = serializers.BooleanField(required=False, default=True)


class CronSearchSerializer(PageSerializer):
    assistant_id = serializers.UUIDField(required=False, allow_null=True)
    thread_id = serializers.UUIDField(required=False, allow_null=True)
    enabled = serializers.BooleanField(required=False, allow_null=True)
    metadata = ObjectField(required=False, allow_null=True)
    sort_by = serializers.ChoiceField(choices=SORT_FIELDS, required=False, allow_null=True)


class CronCountSerializer(serializers.Serializer):
    assistant_id = serializers.UUIDField(required=False, allow_null=True)
    thread_id = serializers.UUIDField(required=False, allow_null=True)
    metadata = ObjectField(required=False, allow_null=True)


def cron_json(cron: Cron) -> dict[str, Any]:
    return {
        "cron_id": str(cron.cron_id),
        "assistant_id": str(cron.assistant_id),
        "thread_id": str(cron.thread_id) if cron.thread_id else None,
        "on_run_completed": cron.on_run_completed,
        "end_time": cron.end_time,
        "schedule": cron.schedule,
        "timezone": cron.timezone,
        "created_at": cron.created_at,
        "updated_at": cron.updated_at,
        "user_id": cron.owner or None,
        "payload": {"assistant_id": str(cron.assistant_id), **cron.payload},
        "next_run_date": cron.next_run_date,
        "metadata": cron.metadata,
        "enabled": cron.enabled,
    }
