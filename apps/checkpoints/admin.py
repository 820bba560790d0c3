"""Read-only admin pages for inspecting checkpoints; only ``DjangoSaver`` writes these rows."""

from __future__ import annotations

from django.contrib import admin

from apps.checkpoints.models import Checkpoint, CheckpointBlob, CheckpointWrite
from apps.core.admin import ViewOnlyAdminMixin


class ReadOnlyAdmin(ViewOnlyAdminMixin, admin.ModelAdmin):
    """Viewing only: editing a row by hand would desynchronize it from its blobs and writes."""

    search_fields = ["thread_id"]
    list_filter = ["checkpoint_ns"]
    list_per_page = 50


@admin.register(Checkpoint)
class CheckpointAdmin(ReadOnlyAdmin):
    list_display = ["thread_id", "checkpoint_ns", "checkpoint_id", "run_id", "step", "created_at"]
    readonly_fields = ["parent_checkpoint_id", "type", "payload_size", "metadata"]
    ordering = ["-checkpoint_id"]

    @admin.display(description="step")
    def step(self, obj: Checkpoint):
        return obj.metadata.get("step")

    @admin.display(description="payload bytes")
    def payload_size(self, obj: Checkpoint) -> int:
        return len(obj.checkpoint)


@admin.register(CheckpointBlob)
class CheckpointBlobAdmin(ReadOnlyAdmin):
    list_display = ["thread_id", "checkpoint_ns", "channel", "version", "type", "size"]
    ordering = ["thread_id", "checkpoint_ns", "channel", "-version"]

    @admin.display(description="bytes")
    def size(self, obj: CheckpointBlob) -> int:
        return len(obj.blob or b"")


@admin.register(CheckpointWrite)
class CheckpointWriteAdmin(ReadOnlyAdmin):
    list_display = ["thread_id", "checkpoint_ns", "checkpoint_id", "task_path", "idx", "channel"]
    ordering = ["-checkpoint_id", "task_path", "task_id", "idx"]
