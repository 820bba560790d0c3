"""The queue of runs: dispatch to the workers, whose turn it is, and the lock order."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from apps.runs.models import (
    Run,
    RunStatus,
)
from apps.threads.models import Thread


def lease_seconds() -> int:
    return getattr(settings, "AGENTSERVER_RUN_LEASE_SECONDS", 30)


def max_attempts() -> int:
    return getattr(settings, "AGENTSERVER_RUN_MAX_ATTEMPTS", 3)


def run_dispatch(*, run_id: uuid.UUID, available_at=None) -> None:
    """Send the run to the workers, timed for its ``available_at`` (looked up when not given;
    no-op once the run ended). Call after commit; the worker's claim decides whether it is the
    run's turn."""
    from apps.runs.tasks import execute

    if available_at is None:
        run = Run.objects.filter(pk=run_id).active().only("available_at").first()
        if run is None:
            return
        available_at = run.available_at
    delay = max(0.0, (available_at - timezone.now()).total_seconds())
    execute.apply_async((str(run_id),), countdown=delay or None)


def thread_dispatch_next(*, thread_id: uuid.UUID) -> None:
    """Send the thread's oldest pending run to the workers, if there is one."""
    head = (
        Run.objects.for_thread(thread_id)
        .filter(status=RunStatus.PENDING)
        .order_by("created_at", "run_id")
        .values_list("run_id", flat=True)
        .first()
    )
    if head is not None:
        run_dispatch(run_id=head)


def _claimable(now) -> Q:
    ahead = Run.objects.filter(thread_id=OuterRef("thread_id")).exclude(pk=OuterRef("pk"))
    earlier_pending = ahead.filter(status=RunStatus.PENDING, created_at__lt=OuterRef("created_at"))
    other_running = ahead.filter(status=RunStatus.RUNNING)
    expired = Q(status=RunStatus.RUNNING, lease_expires_at__lt=now)
    return (
        (Q(status=RunStatus.PENDING) | expired)
        & Q(cancel_action__isnull=True, available_at__lte=now)
        & Q(attempt__lt=F("releases") + max_attempts())
        & ~Exists(earlier_pending)
        & ~Exists(other_running)
    )


def _lock_threads(thread_ids) -> None:
    """Lock thread rows, in id order, before any run row of theirs: every transaction that
    changes a thread's runs takes its locks in this order (thread, then runs), so two of them
    can never wait on each other."""
    list(
        Thread.objects.select_for_update()
        .filter(pk__in=list(thread_ids))
        .order_by("pk")
        .values_list("pk", flat=True)
    )
