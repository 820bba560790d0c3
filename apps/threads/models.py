"""Threads: a conversation's identity, metadata and a cached view of its latest state.

The checkpoints (apps.checkpoints) are the durable state; ``values`` and ``interrupts`` here are
refreshed from the latest checkpoint so search and listing need no graph."""

from __future__ import annotations

import uuid

from django.db import models

from apps.core.models import TimestampedModel
from apps.tenancy.models import Tenant
from apps.tenancy.scoping import TenantQuerySet


class ThreadStatus(models.TextChoices):
    IDLE = "idle"
    BUSY = "busy"
    INTERRUPTED = "interrupted"
    ERROR = "error"


class TtlStrategy(models.TextChoices):
    DELETE = "delete"
    KEEP_LATEST = "keep_latest"


class ThreadQuerySet(TenantQuerySet):
    def expired(self, now) -> ThreadQuerySet:
        return self.filter(expires_at__lte=now)


class Thread(TimestampedModel):
    thread_id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="threads")
    owner = models.CharField(max_length=255, blank=True, default="")
    metadata = models.JSONField(default=dict)
    config = models.JSONField(default=dict)
    status = models.CharField(
        max_length=16, choices=ThreadStatus.choices, default=ThreadStatus.IDLE, db_index=True
    )
    values = models.JSONField(null=True, blank=True)
    interrupts = models.JSONField(default=dict)
    error = models.JSONField(null=True, blank=True)
    state_updated_at = models.DateTimeField(auto_now_add=True)
    ttl_strategy = models.CharField(max_length=16, choices=TtlStrategy.choices, null=True)
    ttl_minutes = models.FloatField(null=True)
    expires_at = models.DateTimeField(null=True, db_index=True)

    objects = ThreadQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ttl_minutes__isnull=True) | models.Q(ttl_minutes__gt=0),
                name="thread_ttl_positive",
            ),
        ]

    def __str__(self) -> str:
        return str(self.thread_id)

    @property
    def graph_id(self) -> str | None:
        return self.metadata.get("graph_id")
