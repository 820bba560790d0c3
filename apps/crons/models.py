"""Crons: a run payload fired on a schedule, on a thread or on a fresh thread each time."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q

from apps.core.models import TimestampedModel
from apps.tenancy.models import Tenant
from apps.tenancy.scoping import TenantQuerySet
from apps.threads.models import Thread


class OnRunCompleted(models.TextChoices):
    DELETE = "delete"
    KEEP = "keep"


class CronQuerySet(TenantQuerySet):
    def due(self, now) -> CronQuerySet:
        return self.filter(enabled=True, next_run_date__lte=now)


class Cron(TimestampedModel):
    cron_id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="crons")
    owner = models.CharField(max_length=255, blank=True, default="")
    # The creator's principal (Principal.to_json): each firing acts for it.
    principal = models.JSONField(default=dict)
    assistant_id = models.UUIDField(db_index=True)
    # Thread-bound crons append a run to their thread; without one, each firing makes a thread.
    thread = models.ForeignKey(
        Thread, null=True, blank=True, on_delete=models.CASCADE, related_name="crons"
    )
    schedule = models.CharField(max_length=255, help_text="5-field cron expression.")
    timezone = models.CharField(
        max_length=64, null=True, blank=True, help_text="IANA; UTC if empty."
    )
    # The run-create fields (input, config, context, webhook, ...) each firing sends.
    payload = models.JSONField(default=dict, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    enabled = models.BooleanField(default=True)
    on_run_completed = models.CharField(
        max_length=8, choices=OnRunCompleted.choices, null=True, blank=True
    )
    end_time = models.DateTimeField(null=True, blank=True)
    # The next slot to fire; empty once the schedule has passed end_time.
    next_run_date = models.DateTimeField(null=True, blank=True)

    objects = CronQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(
                fields=["next_run_date"],
                condition=Q(enabled=True, next_run_date__isnull=False),
                name="cron_due_idx",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(thread__isnull=True) | Q(on_run_completed__isnull=True),
                name="cron_on_run_completed_only_stateless",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.schedule} ({self.cron_id})"
