"""Assistants: a graph plus its configuration, versioned on every change."""

from __future__ import annotations

import uuid

from django.db import models

from apps.core.models import TimestampedModel


class Assistant(TimestampedModel):
    """The current version of an assistant; every version is also kept in AssistantVersion."""

    assistant_id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    graph_id = models.CharField(max_length=255, db_index=True)
    name = models.CharField(max_length=255, default="Untitled")
    description = models.TextField(null=True, blank=True)
    config = models.JSONField(default=dict)
    context = models.JSONField(default=dict)
    metadata = models.JSONField(default=dict)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.graph_id})"


class AssistantVersion(models.Model):
    assistant = models.ForeignKey(Assistant, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    graph_id = models.CharField(max_length=255)
    name = models.CharField(max_length=255)
    description = models.TextField(null=True, blank=True)
    config = models.JSONField(default=dict)
    context = models.JSONField(default=dict)
    metadata = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["assistant", "version"], name="assistant_version_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.assistant_id} v{self.version}"
