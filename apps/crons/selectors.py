"""Reads of crons."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet

from apps.core.errors import NotFound
from apps.core.jsonfilters import json_contains
from apps.crons.models import Cron
from apps.tenancy.principal import Principal


def cron_get(*, principal: Principal, cron_id: uuid.UUID) -> Cron:
    cron = Cron.objects.visible_to(principal).filter(pk=cron_id).first()
    if cron is None:
        raise NotFound(f"Cron {cron_id} not found")
    return cron


def crons_filtered(
    *,
    principal: Principal,
    assistant_id: uuid.UUID | None = None,
    thread_id: uuid.UUID | None = None,
    enabled: bool | None = None,
    metadata: dict[str, Any] | None = None,
) -> QuerySet[Cron]:
    crons = Cron.objects.visible_to(principal).filter(
        json_contains(Cron, "metadata", metadata or {})
    )
    if assistant_id is not None:
        crons = crons.filter(assistant_id=assistant_id)
    if thread_id is not None:
        crons = crons.filter(thread_id=thread_id)
    if enabled is not None:
        crons = crons.filter(enabled=enabled)
    return crons
