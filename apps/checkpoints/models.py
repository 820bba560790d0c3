"""LangGraph checkpoints in the operator's database, in the layout of the official savers.

A ``Checkpoint`` row is one saved super-step without its large channel values; those live in
``CheckpointBlob``, one row per (channel, version), so a channel that did not change since the
parent costs nothing. ``CheckpointWrite`` holds the pending writes of the tasks of a step.
Rows are written by ``apps.checkpoints.saver.DjangoSaver``; nothing else should change them.
"""

from __future__ import annotations

from django.db import models
from django.db.models.functions import Now


class Checkpoint(models.Model):
    """One checkpoint of one (thread, namespace).

    ``checkpoint`` is the saver-serialized checkpoint (``serde.dumps_typed``, tag in ``type``)
    without its ``channel_versions``, which are kept as JSON so SQL can join them to their
    blobs, and with only its inline values (None, str, int, float, bool) in ``channel_values``.
    ``run_id`` copies ``metadata["run_id"]`` so a run's checkpoints can be found by index.
    """

    thread_id = models.CharField(max_length=64)
    checkpoint_ns = models.TextField(default="", blank=True)
    checkpoint_id = models.TextField()
    parent_checkpoint_id = models.TextField(null=True, blank=True)
    run_id = models.TextField(null=True, blank=True)
    type = models.CharField(max_length=64)
    checkpoint = models.BinaryField()
    channel_versions = models.JSONField(default=dict)
    metadata = models.JSONField(default=dict)
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        constraints = [
            # Also the index behind "latest of a thread/namespace": a backward scan of it is
            # ORDER BY checkpoint_id DESC (uuid6 ids sort in time order).
            models.UniqueConstraint(
                fields=["thread_id", "checkpoint_ns", "checkpoint_id"],
                name="checkpoint_unique_id",
            ),
        ]
        indexes = [
            models.Index(
                fields=["run_id"],
                name="checkpoint_run_id_idx",
                condition=models.Q(run_id__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.thread_id} {self.checkpoint_ns!r} {self.checkpoint_id}"


class CheckpointBlob(models.Model):
    """The value of one channel at one version, shared by every checkpoint at that version.
    ``type`` is the serializer's tag for ``blob``."""

    thread_id = models.CharField(max_length=64)
    checkpoint_ns = models.TextField(default="", blank=True)
    channel = models.TextField()
    version = models.TextField()
    type = models.CharField(max_length=64)
    blob = models.BinaryField(null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["thread_id", "checkpoint_ns", "channel", "version"],
                name="checkpoint_blob_unique_version",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.thread_id} {self.checkpoint_ns!r} {self.channel}@{self.version}"


class CheckpointWrite(models.Model):
    """One pending write of one task, attached to the checkpoint the task started from.

    ``idx`` is the write's position in its task's batch, or a negative number for the special
    channels (``WRITES_IDX_MAP``), so a retried task overwrites or skips instead of duplicating.
    """

    thread_id = models.CharField(max_length=64)
    checkpoint_ns = models.TextField(default="", blank=True)
    checkpoint_id = models.TextField()
    task_id = models.TextField()
    task_path = models.TextField(default="", blank=True)
    idx = models.IntegerField()
    channel = models.TextField()
    type = models.CharField(max_length=64)
    blob = models.BinaryField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["thread_id", "checkpoint_ns", "checkpoint_id", "task_id", "idx"],
                name="checkpoint_write_unique_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.thread_id} {self.checkpoint_id} {self.task_id}[{self.idx}] {self.channel}"
