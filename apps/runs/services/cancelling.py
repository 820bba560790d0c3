"""Cancelling and deleting runs."""

from __future__ import annotations

import uuid

from django.db import transaction
from django.utils import timezone

from apps.core.errors import Conflict, NotFound
from apps.runs.models import (
    CancelAction,
    Run,
    RunStatus,
)
from apps.runs.services.queue import _lock_threads, thread_dispatch_next
from apps.tenancy.principal import Principal
from apps.threads.models import Thread, ThreadStatus
from apps.webhooks.services import delivery_create, runs_with_webhook


def _cancel_runs(runs: list[Run], *, action: CancelAction) -> None:
    """Within the caller's transaction: pending runs end now (interrupted, with their webhook
    deliveries, or deleted on rollback, without); running runs get the flag their worker
    checks between steps (and their worker ends them)."""
    pending = [r.pk for r in runs if r.status == RunStatus.PENDING]
    running = [r.pk for r in runs if r.status == RunStatus.RUNNING]
    now = timezone.now()
    if pending:
        ended = Run.objects.filter(pk__in=pending, status=RunStatus.PENDING)
        if action == CancelAction.ROLLBACK:
            ended.delete()
        else:
            # Read before the UPDATE (which moves them out of ``ended``), and from the table:
            # ``runs`` may hold partial rows (run_create loads pk and status only).
            hooked = runs_with_webhook(ended)
            ended.update(
                status=RunStatus.INTERRUPTED, cancel_action=action, ended_at=now, updated_at=now
            )
            for run in hooked:
                delivery_create(run=run, status=RunStatus.INTERRUPTED, ended_at=now)
    if running:
        Run.objects.filter(pk__in=running).update(cancel_action=action, updated_at=now)


def run_cancel(
    *, principal: Principal, thread_id: uuid.UUID, run_id: uuid.UUID, action: str
) -> Run | None:
    """Cancel one run ``principal`` may see. Returns the run, or None when a pending run was
    rolled back (deleted). A finished run is left as it is."""
    with transaction.atomic():
        _lock_threads([thread_id])
        run = _locked(principal).filter(pk=run_id, thread_id=thread_id).first()
        if run is None:
            raise NotFound(f"Run {run_id} not found")
        if run.is_terminal:
            return run
        _cancel_runs([run], action=CancelAction(action))
        if run.status == RunStatus.PENDING:
            _settle_after_pending_cancel(thread_id)
    return Run.objects.filter(pk=run_id).first()


def runs_cancel_many(
    *,
    principal: Principal,
    action: str,
    status: str | None = None,
    thread_id: uuid.UUID | None = None,
    run_ids: list[uuid.UUID] | None = None,
) -> int:
    """Cancel the runs with a status (``all`` = pending and running), or the listed runs of a
    thread, of those ``principal`` may see. Returns how many were cancelled; NotFound if none
    matched."""
    runs = Run.objects.visible_to(principal).active()
    if status is not None:
        if status != "all":
            runs = runs.filter(status=status)
    else:
        runs = runs.filter(thread_id=thread_id, pk__in=run_ids)
    with transaction.atomic():
        _lock_threads(set(runs.values_list("thread_id", flat=True)))
        selected = list(runs.select_for_update(of=("self",)))
        if not selected:
            raise NotFound("No runs found to cancel.")
        _cancel_runs(selected, action=CancelAction(action))
        for thread in {r.thread_id for r in selected if r.status == RunStatus.PENDING}:
            _settle_after_pending_cancel(thread)
    return len(selected)


def _settle_after_pending_cancel(thread_id: uuid.UUID) -> None:
    if not Run.objects.for_thread(thread_id).active().exists():
        Thread.objects.filter(pk=thread_id, status=ThreadStatus.BUSY).update(
            status=ThreadStatus.IDLE, updated_at=timezone.now()
        )
    transaction.on_commit(lambda: thread_dispatch_next(thread_id=thread_id))


def run_delete(*, principal: Principal, thread_id: uuid.UUID, run_id: uuid.UUID) -> None:
    """Delete a finished (or pending) run ``principal`` may see; a running run must be
    cancelled first (409)."""
    with transaction.atomic():
        _lock_threads([thread_id])
        run = _locked(principal).filter(pk=run_id, thread_id=thread_id).first()
        if run is None:
            raise NotFound(f"Run {run_id} not found")
        if run.status == RunStatus.RUNNING:
            raise Conflict(f"Run {run_id} is running; cancel it before deleting it")
        run.delete()
        if run.status == RunStatus.PENDING:
            _settle_after_pending_cancel(thread_id)


def _locked(principal: Principal):
    """``principal``'s runs, to be locked (only the run rows: the thread is locked already)."""
    return Run.objects.visible_to(principal).select_for_update(of=("self",))
