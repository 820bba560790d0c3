"""Recovering runs nobody is working on."""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.graphs.services import UNSET
from apps.runs.events import run_end_entries
from apps.runs.models import (
    Run,
    RunStatus,
)
from apps.runs.protocol import error_text, root_lifecycle
from apps.runs.services.executing import _settle_thread
from apps.runs.services.queue import (
    _claimable,
    _lock_threads,
    lease_seconds,
    max_attempts,
    run_dispatch,
    thread_dispatch_next,
)
from apps.streams.eventlog import Numbered, event_log, event_ttl_seconds
from apps.streams.names import thread_events_stream
from apps.streams.protocol import stored_event
from apps.webhooks.services import delivery_create


def runs_sweep(*, now=None) -> dict[str, int]:
    """Recover runs nobody is working on: running runs whose lease expired are re-dispatched
    (or failed once they used up their attempts), pending runs whose message may be lost are
    dispatched again. Duplicate dispatches are harmless: claiming is compare-and-set."""
    now = now or timezone.now()
    expired = Run.objects.filter(status=RunStatus.RUNNING, lease_expires_at__lt=now)
    limit = F("releases") + max_attempts()  # attempts used by lost workers, not releases
    exhausted = list(expired.filter(attempt__gte=limit).values_list("pk", "attempt"))
    for run_id, attempt in exhausted:
        _fail_exhausted(run_id=run_id, attempt=attempt)
    retry = list(expired.filter(attempt__lt=limit).values_list("pk", flat=True))
    grace = now - timedelta(seconds=lease_seconds())
    stale = list(
        Run.objects.filter(
            _claimable(now), status=RunStatus.PENDING, available_at__lt=grace
        ).values_list("pk", flat=True)
    )
    for run_id in [*retry, *stale]:
        run_dispatch(run_id=run_id)
    return {"failed": len(exhausted), "redispatched": len(retry), "pending": len(stale)}


def _fail_exhausted(*, run_id: uuid.UUID, attempt: int) -> None:
    error = {
        "error": "RunAttemptsExhausted",
        "message": f"The run was interrupted {attempt} times (worker lost) and is given up",
    }
    thread_id = Run.objects.filter(pk=run_id).values_list("thread_id", flat=True).first()
    with transaction.atomic():
        _lock_threads([thread_id])
        run = (
            Run.objects.select_for_update()
            .filter(pk=run_id, attempt=attempt, status=RunStatus.RUNNING)
            .first()
        )
        if run is None:
            return
        now = timezone.now()
        Run.objects.filter(pk=run_id).update(
            status=RunStatus.ERROR,
            error=error,
            output={"__error__": error},
            ended_at=now,
            lease_owner=None,
            lease_expires_at=None,
        )
        _settle_thread(
            run.thread_id,
            status=RunStatus.ERROR,
            error=error,
            values=UNSET,
            interrupts={},
            has_next=False,
            now=now,
        )
        delivery_create(run=run, status=RunStatus.ERROR, ended_at=now, error=error)
        transaction.on_commit(lambda: _announce_given_up(run, error))


def _announce_given_up(run: Run, error: dict[str, str]) -> None:
    """The end a worker would have written, then the thread's next run: followers learn the
    run failed (and /wait answers) before anything of the next one."""
    run_id = str(run.run_id)
    output = {"__error__": error}
    failed = None
    if not run.temporary:
        data = root_lifecycle("failed", run_id, error=error_text(error), reason=RunStatus.ERROR)
        stream = thread_events_stream(run.tenant_id, run.thread_id)
        failed = Numbered(stream, [stored_event("lifecycle", [], data)])
    try:
        event_log().append_all(
            run_end_entries(run_id, str(run.thread_id), RunStatus.ERROR, output),
            numbered=failed,
            expire=event_ttl_seconds(),
        )
    finally:
        thread_dispatch_next(thread_id=run.thread_id)
