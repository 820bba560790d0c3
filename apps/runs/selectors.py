"""Reads of runs."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet

from apps.core.errors import NotFound
from apps.runs.models import Run
from apps.tenancy.principal import Principal
from apps.threads.models import Thread


def run_get(*, principal: Principal, run_id: uuid.UUID, thread_id: uuid.UUID | None = None) -> Run:
    """A run ``principal`` may see, by id (of that thread, when given)."""
    runs = Run.objects.visible_to(principal).filter(pk=run_id)
    if thread_id is not None:
        runs = runs.filter(thread_id=thread_id)
    run = runs.first()
    if run is None:
        raise NotFound(f"Run {run_id} not found")
    return run


def runs_of_thread(*, thread: Thread, status: str | None = None) -> QuerySet[Run]:
    """The thread's runs, newest first."""
    runs = Run.objects.for_thread(thread.pk).order_by("-created_at", "-run_id")
    return runs.filter(status=status) if status else runs
