"""Webhook deliveries: the POST a run's webhook URL receives when the run ends, and its log.

A delivery is recorded in the transaction that ends its run, with the whole payload: the run
may be gone by the time it is sent (a temporary run is deleted with its thread at its end), so
sending never needs the run row. ``run_id`` and ``thread_id`` are plain values, not foreign
keys, for the same reason.
"""

from __future__ import annotations

import uuid

from django.db import models

from apps.core.models import TimestampedModel
from apps.tenancy.models import Tenant


class DeliveryStatus(models.TextChoices):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class WebhookDelivery(TimestampedModel):
    delivery_id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="webhook_deliveries")
    run_id = models.UUIDField(db_index=True)
    thread_id = models.UUIDField(db_index=True)
    url = models.TextField()
    # The body as recorded at the run's end; ``webhook_sent_at`` is added at each attempt.
    payload = models.JSONField()
    status = models.CharField(
        max_length=16,
        choices=DeliveryStatus.choices,
        default=DeliveryStatus.PENDING,
        db_index=True,
    )
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return f"{self.delivery_id} ({self.status})"
