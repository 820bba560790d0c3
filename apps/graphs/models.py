"""Assistants: a graph plus its configuration, versioned on every change."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q

from apps.core.models import TimestampedModel
from apps.tenancy.models import Tenant
from apps.tenancy.principal import Principal
from apps.tenancy.scoping import TenantQuerySet


class AssistantQuerySet(TenantQuerySet):
    def tenant_condition(self, principal: Principal) -> Q:
        # A graph's default assistant (no tenant) is every tenant's.
        return Q(tenant_id=principal.tenant_id) | Q(tenant__isnull=True)


class Assistant(TimestampedModel):
    """The current version of an assistant; every version is also kept in AssistantVersion."""

    assistant_id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    tenant = models.ForeignKey(
        Tenant,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="assistants",
        help_text="Empty for a graph's default assistant, which every tenant sees.",
    )
    owner = models.CharField(max_length=255, blank=True, default="")
    graph_id = models.CharField(max_length=255, db_index=True)
    name = models.CharField(max_length=255, default="Untitled")
    description = models.TextField(null=True, blank=True)
    config = models.JSONField(default=dict, blank=True)
    context = models.JSONField(default=dict, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    version = models.PositiveIntegerField(default=1)

    objects = AssistantQuerySet.as_manager()

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
