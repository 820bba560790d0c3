"""What a worker does to a run it executes: claim, heartbeat, finish, release."""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, connection, models, transaction
from django.db.models import Case, Exists, F, OuterRef, Value, When
from django.utils import timezone

from apps.core.encoding import dumps
from apps.graphs.services import UNSET
from apps.runs.models import (
    ACTIVE_STATUSES,
    Run,
    RunStatus,
)
from apps.runs.services.queue import (
    _lock_threads,
    lease_seconds,
    max_attempts,
    run_dispatch,
    thread_dispatch_next,
)
from apps.threads.models import Thread, ThreadStatus
from apps.threads.state import checkpointer
from apps.webhooks.services import delivery_create, wants_webhook

logger = logging.getLogger(__name__)

# The claim in SQL: one statement that takes the run and returns it. The ORM would need an
# UPDATE and a SELECT, and on the hot path of every run the second round trip shows. The
# columns are named, not ``*``: a prepared statement whose row type changes (a migration adding
# a column while this process runs) fails instead of being planned again.
CLAIM_SQL = """
UPDATE {run} SET status = 'running', attempt = attempt + 1, lease_owner = %s,
    lease_expires_at = %s, started_at = %s, updated_at = %s
WHERE run_id = %s AND cancel_action IS NULL AND available_at <= %s AND attempt < releases + %s
  AND (status = 'pending' OR (status = 'running' AND lease_expires_at < %s))
  AND NOT EXISTS (
    SELECT 1 FROM {run} other
    WHERE other.thread_id = {run}.thread_id AND other.run_id <> {run}.run_id
      AND (other.status = 'running'
           OR (other.status = 'pending' AND other.created_at < {run}.created_at)))
RETURNING {columns}
"""


@functools.cache
def _claim_sql() -> str:
    columns = ", ".join(connection.ops.quote_name(f.column) for f in Run._meta.concrete_fields)
    return CLAIM_SQL.format(run=Run._meta.db_table, columns=columns)


def run_claim(*, run_id: uuid.UUID, worker: str) -> Run | None:
    """Take the run for this worker with one conditional UPDATE: a pending run at the head of
    its thread's queue, or a running run whose lease expired. Returns the claimed run (its
    ``attempt`` is the fencing token) or None when someone else has it, it was cancelled, or it
    is not its turn yet."""
    now = timezone.now()
    ops = connection.ops
    at = ops.adapt_datetimefield_value(now)
    params = [
        worker,
        ops.adapt_datetimefield_value(now + timedelta(seconds=lease_seconds())),
        at,
        at,
        Run._meta.pk.get_db_prep_value(run_id, connection),
        at,
        max_attempts(),
        at,
    ]
    try:
        claimed = list(Run.objects.raw(_claim_sql(), params))
    except IntegrityError:
        # Another run of the thread became running in between: the unique index said no.
        return None
    return claimed[0] if claimed else None


def run_heartbeat(*, run_id: uuid.UUID, attempt: int) -> tuple[bool, str | None]:
    """Extend the lease. Returns (still ours, requested cancel action)."""
    now = timezone.now()
    owned = Run.objects.filter(pk=run_id, attempt=attempt, status=RunStatus.RUNNING).update(
        lease_expires_at=now + timedelta(seconds=lease_seconds())
    )
    action = Run.objects.filter(pk=run_id).values_list("cancel_action", flat=True).first()
    return bool(owned), action


def run_cancel_requested(*, run_id: uuid.UUID) -> str | None:
    return Run.objects.filter(pk=run_id).values_list("cancel_action", flat=True).first()


def run_finish(
    *,
    run: Run,
    status: str,
    output: Any,
    error: dict[str, Any] | None,
    values: Any = UNSET,
    interrupts: dict[str, Any] | None = None,
    has_next: bool = False,
    rolled_back: bool = False,
    announce: Callable[[], None] | None = None,
) -> bool:
    """Record the end of this attempt of ``run`` and settle the thread; False if fenced out
    (another attempt owns the run now), in which case nothing is written.

    ``announce`` runs once the end is committed and before the next queued run is dispatched:
    the executor writes the run's last events there, so that followers of the thread see
    them before anything of the next run. A failing ``announce`` is logged, not raised.

    A run rolled back is deleted (the executor already deleted its checkpoints). The thread
    becomes busy (more runs queued), error, interrupted (its state waits at a node) or idle,
    and caches ``values`` and ``interrupts`` (unless ``values`` is UNSET: temporary runs).
    The next queued run of the thread is dispatched after commit; a temporary thread is
    removed with its run (see _finish_temporary). The run's webhook delivery is recorded in
    the same transaction (none for a run rolled back). On PostgreSQL one statement (a run
    with a webhook: the transaction below), elsewhere two in one transaction; all conditional
    on the attempt.
    """
    now = timezone.now()
    thread_id = run.thread_id
    if run.temporary:
        finished = _finish_temporary(
            run, status=status, output=output, error=error, rolled_back=rolled_back, now=now
        )
        if finished:
            _announce_then_dispatch(thread_id, announce, dispatch=False)
        return finished
    if connection.vendor == "postgresql" and not wants_webhook(run):
        thread_status = _finish_in_one_statement(
            run,
            now=now,
            status=status,
            output=output,
            error=error,
            values=values,
            interrupts=interrupts,
            has_next=has_next,
            rolled_back=rolled_back,
        )
        if thread_status is None:
            return False
        _announce_then_dispatch(thread_id, announce, dispatch=thread_status == ThreadStatus.BUSY)
        return True
    with transaction.atomic():
        _lock_threads([thread_id])
        ours = Run.objects.filter(pk=run.pk, attempt=run.attempt, status=RunStatus.RUNNING)
        if rolled_back:
            changed = ours.delete()[0]
        else:
            changed = ours.update(
                status=status,
                output=output,
                error=error,
                ended_at=now,
                updated_at=now,
                lease_owner=None,
                lease_expires_at=None,
            )
        if not changed:
            return False
        _settle_thread(
            thread_id,
            status=status,
            error=error,
            values=values,
            interrupts=interrupts,
            has_next=has_next,
            now=now,
        )
        if not rolled_back:
            delivery_create(
                run=run, status=status, ended_at=now, values=values, output=output, error=error
            )
        transaction.on_commit(lambda: _announce_then_dispatch(thread_id, announce))
    return True


def _announce_then_dispatch(
    thread_id: uuid.UUID, announce: Callable[[], None] | None, *, dispatch: bool = True
) -> None:
    if announce is not None:
        try:
            announce()
        except Exception:
            logger.exception("the last events of a run on thread %s were not written", thread_id)
    if dispatch:
        thread_dispatch_next(thread_id=thread_id)


# PostgreSQL: the run's end and the thread's settling in one statement, one round trip and one
# commit (the ORM path below takes a transaction of two statements and a third query to find
# the next queued run). The thread's new status comes back, so a dispatch happens only when a
# run is queued. The EXISTS sees the snapshot before the CTE's change, hence run_id <> ours.
# The thread row is locked before the run row, the order every other writer follows.
FINISH_SQL = """
WITH locked AS (SELECT thread_id FROM {thread} WHERE thread_id = %(thread_id)s FOR UPDATE),
ours AS ({end_run} WHERE run_id = %(run_id)s AND attempt = %(attempt)s AND status = 'running'
                     AND thread_id IN (SELECT thread_id FROM locked) RETURNING thread_id),
queued AS (SELECT EXISTS (SELECT 1 FROM {run} WHERE thread_id = %(thread_id)s
                          AND run_id <> %(run_id)s AND status IN ('pending', 'running')) AS busy)
UPDATE {thread} SET
    status = CASE WHEN queued.busy THEN 'busy' ELSE %(settled)s END,
    error = CASE WHEN %(failed)s THEN %(error)s::jsonb
                 WHEN queued.busy THEN {thread}.error ELSE NULL END,
    updated_at = %(now)s{state}
FROM ours, queued WHERE {thread}.thread_id = ours.thread_id
RETURNING {thread}.status
"""
END_RUN = """UPDATE {run} SET status = %(status)s, output = %(output)s::jsonb,
    error = %(error)s::jsonb, ended_at = %(now)s, updated_at = %(now)s, lease_owner = NULL,
    lease_expires_at = NULL"""
DELETE_RUN = "DELETE FROM {run}"
STATE = """,
    values = %(values)s::jsonb, interrupts = %(interrupts)s::jsonb, state_updated_at = %(now)s"""


def _finish_in_one_statement(
    run: Run, *, now, status, output, error, values, interrupts, has_next, rolled_back
) -> str | None:
    """The thread's new status, or None when fenced out."""
    tables = {"run": Run._meta.db_table, "thread": Thread._meta.db_table}
    sql = FINISH_SQL.format(
        end_run=(DELETE_RUN if rolled_back else END_RUN).format(**tables),
        state="" if values is UNSET else STATE,
        **tables,
    )
    params = {
        "run_id": run.pk,
        "attempt": run.attempt,
        "thread_id": run.thread_id,
        "status": status,
        "output": dumps(output).decode() if output is not None else None,
        "error": dumps(error).decode() if error is not None else None,
        "failed": status == RunStatus.ERROR,
        "settled": _settled_status(status, has_next),
        "now": now,
        "values": dumps(values).decode() if values is not UNSET else None,
        "interrupts": dumps(interrupts or {}).decode(),
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return row[0] if row else None


def _settled_status(status: str, has_next: bool) -> str:
    """The thread's status after a run, when no other run is queued on it."""
    if status == RunStatus.ERROR:
        return ThreadStatus.ERROR
    if has_next:
        return ThreadStatus.INTERRUPTED
    return ThreadStatus.IDLE


def _settle_thread(thread_id, *, status, error, values, interrupts, has_next: bool, now) -> None:
    """One UPDATE: busy while runs are queued on the thread, else what the run left."""
    settled = _settled_status(status, has_next)
    queued = Exists(Run.objects.filter(thread_id=OuterRef("pk"), status__in=ACTIVE_STATUSES))
    fields: dict[str, Any] = {
        "status": Case(When(queued, then=Value(ThreadStatus.BUSY)), default=Value(settled)),
        "updated_at": now,
        "error": Value(error, output_field=models.JSONField())
        if status == RunStatus.ERROR
        else Case(
            When(queued, then=F("error")), default=Value(None, output_field=models.JSONField())
        ),
    }
    if values is not UNSET:
        fields.update(values=values, interrupts=interrupts or {}, state_updated_at=now)
    Thread.objects.filter(pk=thread_id).update(**fields)


def _finish_temporary(
    run: Run,
    *,
    status: str,
    output: Any,
    error: dict[str, Any] | None,
    rolled_back: bool,
    now: datetime,
) -> bool:
    """A temporary thread goes with its run, in one transaction: there is never a moment when
    the run has ended but its thread is still there. Its webhook delivery (the payload taken
    now, from ``run`` and its outcome) is recorded in the same transaction. False if fenced
    out."""
    with transaction.atomic():
        _lock_threads([run.thread_id])
        ours = Run.objects.filter(pk=run.pk, attempt=run.attempt, status=RunStatus.RUNNING)
        if not ours.exists():
            return False
        Thread.objects.filter(pk=run.thread_id).delete()
        if not rolled_back:
            delivery_create(
                run=run, status=status, ended_at=now, values=UNSET, output=output, error=error
            )
    checkpointer().delete_thread(str(run.thread_id))
    return True


def run_release(*, run_id: uuid.UUID, attempt: int) -> bool:
    """Give a running run back to the queue (worker shutdown): it stays at the head of its
    thread's queue and the next attempt resumes from its last checkpoint. A release does not
    use up one of the run's attempts (those count lost workers)."""
    released = Run.objects.filter(pk=run_id, attempt=attempt, status=RunStatus.RUNNING).update(
        status=RunStatus.PENDING,
        releases=F("releases") + 1,
        lease_owner=None,
        lease_expires_at=None,
        updated_at=timezone.now(),
    )
    if released:
        run_dispatch(run_id=run_id)
    return bool(released)
