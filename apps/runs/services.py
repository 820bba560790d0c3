"""Verbs on runs: create (with the multitask strategy), claim, heartbeat, finish, release,
cancel, delete, and dispatch to the workers.

Invariants, each kept by the database rather than by Python checks:
- at most one ``running`` run per thread (partial unique index);
- a run is claimed by one conditional UPDATE that bumps ``attempt``; every later write of that
  worker carries the attempt it claimed (the fencing token) and touches nothing otherwise;
- runs on a thread are claimed in ``created_at`` order: a run is claimable only when no earlier
  run of its thread is pending and none is running.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, models, transaction
from django.db.models import Case, Exists, F, OuterRef, Q, Value, When
from django.utils import timezone

from apps.core.encoding import dumps
from apps.core.errors import BadRequest, Conflict, NotFound, Unprocessable
from apps.core.reserved import clean_metadata
from apps.graphs.models import Assistant
from apps.graphs.registry import registry
from apps.graphs.selectors import assistant_resolve
from apps.graphs.services import UNSET, config_and_context
from apps.runs.models import (
    ACTIVE_STATUSES,
    CancelAction,
    MultitaskStrategy,
    Run,
    RunStatus,
)
from apps.threads.models import Thread, ThreadStatus
from apps.threads.state import checkpointer

logger = logging.getLogger(__name__)

BUSY_DETAIL = (
    "Thread is already running a task. Wait for it to finish or choose a different multitask "
    "strategy."
)


def lease_seconds() -> int:
    return getattr(settings, "AGENTSERVER_RUN_LEASE_SECONDS", 30)


def max_attempts() -> int:
    return getattr(settings, "AGENTSERVER_RUN_MAX_ATTEMPTS", 3)


# --- create -----------------------------------------------------------------------------------


def _resolve_assistant(assistant_id: str) -> Assistant:
    try:
        return assistant_resolve(assistant_id=assistant_id)
    except NotFound:
        try:
            uuid.UUID(assistant_id)
        except ValueError:
            graphs = ", ".join(registry().graph_ids) or "none"
            raise Unprocessable(
                f"Invalid assistant_id {assistant_id!r}: not a UUID and not a graph name "
                f"(registered graphs: {graphs})"
            ) from None
        raise NotFound("Thread or assistant not found.") from None


def _run_kwargs(
    payload: dict[str, Any], *, assistant: Assistant, temporary: bool
) -> dict[str, Any]:
    """The run's kwargs as stored: its config and context already layered over the
    assistant's (as the reference records them), so the worker needs no other row."""
    run_config, run_context = config_and_context(payload.get("config"), payload.get("context"))
    context = {**assistant.context, **run_context}
    config = {
        **{k: v for k, v in assistant.config.items() if k != "configurable"},
        **{k: v for k, v in run_config.items() if k != "configurable"},
        "configurable": {
            **(assistant.config.get("configurable") or {}),
            **assistant.context,
            **(run_config.get("configurable") or {}),
        },
    }
    metadata = {**(assistant.config.get("metadata") or {}), **(run_config.get("metadata") or {})}
    if metadata:
        config["metadata"] = metadata
    checkpoint = payload.get("checkpoint") or (
        {"checkpoint_id": payload["checkpoint_id"]} if payload.get("checkpoint_id") else None
    )
    return {
        "input": payload.get("input"),
        "command": payload.get("command"),
        "config": config,
        "context": context,
        "stream_mode": payload.get("stream_mode") or ["values"],
        "interrupt_before": payload.get("interrupt_before"),
        "interrupt_after": payload.get("interrupt_after"),
        "webhook": payload.get("webhook"),
        "feedback_keys": payload.get("feedback_keys"),
        "temporary": temporary,
        "subgraphs": payload.get("stream_subgraphs", False),
        "resumable": payload.get("stream_resumable", False),
        "checkpoint": checkpoint,
        "durability": payload.get("durability") or "sync",
        "on_disconnect": payload.get("on_disconnect", "continue"),
        "langsmith_tracer": payload.get("langsmith_tracer"),
        "strict_resume": payload.get("strict_resume", False),
    }


def run_create(
    *, thread_id: uuid.UUID | None, payload: dict[str, Any], stateless: bool = False
) -> Run:
    """Create a run on a thread (or on a new temporary thread when ``stateless``) and enqueue
    it after commit.

    Applies ``multitask_strategy`` against the thread's pending and running runs: ``reject``
    raises Conflict and creates nothing; ``interrupt`` and ``rollback`` cancel them (a pending
    one at once, a running one at its next step); ``enqueue`` queues behind them.
    """
    if stateless and (payload.get("command") or {}).get("resume") is not None:
        raise BadRequest("You must provide a thread_id when resuming.")
    assistant = _resolve_assistant(payload["assistant_id"])
    temporary = stateless and payload.get("on_completion", "delete") == "delete"
    kwargs = _run_kwargs(payload, assistant=assistant, temporary=temporary)
    strategy = payload.get("multitask_strategy") or MultitaskStrategy.ENQUEUE
    metadata = clean_metadata(payload.get("metadata"))
    now = timezone.now()
    with transaction.atomic():
        if stateless:
            thread = _thread_for_run(uuid.uuid4(), assistant, metadata, create=True)
        else:
            thread = _thread_for_run(
                thread_id, assistant, metadata, create=payload.get("if_not_exists") == "create"
            )
        # The thread row is locked: the runs that matter here cannot come or go meanwhile.
        active = list(Run.objects.for_thread(thread.pk).active().only("pk", "status"))
        if active and strategy == MultitaskStrategy.REJECT:
            raise Conflict(BUSY_DETAIL)
        command = kwargs["command"] or {}
        nothing_to_resume = not active and thread.status != ThreadStatus.INTERRUPTED
        if command.get("resume") is not None and nothing_to_resume:
            raise BadRequest(f"Thread {thread.pk} has no pending interrupt to resume")
        if active and strategy in (MultitaskStrategy.INTERRUPT, MultitaskStrategy.ROLLBACK):
            _cancel_runs(active, action=CancelAction(strategy))
        run = Run.objects.create(
            thread=thread,
            assistant_id=assistant.assistant_id,
            graph_id=assistant.graph_id,
            metadata={**metadata, "assistant_id": str(assistant.assistant_id)},
            kwargs=kwargs,
            multitask_strategy=strategy,
            temporary=temporary,
            available_at=now + timedelta(seconds=payload.get("after_seconds") or 0),
        )
        Thread.objects.filter(pk=thread.pk).update(
            status=ThreadStatus.BUSY, metadata=thread.metadata, updated_at=now
        )
        transaction.on_commit(
            lambda: run_dispatch(run_id=run.run_id, available_at=run.available_at)
        )
    return run


def _thread_for_run(
    thread_id: uuid.UUID, assistant: Assistant, metadata: dict[str, Any], *, create: bool
) -> Thread:
    """The run's thread, locked for the transaction; made when ``create`` and missing. Its
    ``metadata`` (saved by the caller) learns the graph and assistant: state reads need them."""
    thread = Thread.objects.select_for_update().filter(pk=thread_id).first()
    if thread is None:
        if not create:
            raise NotFound("Thread or assistant not found.")
        # Inserted in this transaction, so already locked by it.
        thread = Thread.objects.create(thread_id=thread_id, metadata=metadata)
    thread.metadata = {
        **thread.metadata,
        "graph_id": assistant.graph_id,
        "assistant_id": str(assistant.assistant_id),
    }
    return thread


# --- dispatch ---------------------------------------------------------------------------------


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


# --- claim, heartbeat, finish -------------------------------------------------------------------


def _claimable(now) -> Q:
    ahead = Run.objects.filter(thread_id=OuterRef("thread_id")).exclude(pk=OuterRef("pk"))
    earlier_pending = ahead.filter(status=RunStatus.PENDING, created_at__lt=OuterRef("created_at"))
    other_running = ahead.filter(status=RunStatus.RUNNING)
    expired = Q(status=RunStatus.RUNNING, lease_expires_at__lt=now)
    return (
        (Q(status=RunStatus.PENDING) | expired)
        & Q(cancel_action__isnull=True, available_at__lte=now, attempt__lt=max_attempts())
        & ~Exists(earlier_pending)
        & ~Exists(other_running)
    )


# The claim in SQL: one statement that takes the run and returns it. The ORM would need an
# UPDATE and a SELECT, and on the hot path of every run the second round trip shows.
CLAIM_SQL = """
UPDATE {run} SET status = 'running', attempt = attempt + 1, lease_owner = %s,
    lease_expires_at = %s, started_at = %s, updated_at = %s
WHERE run_id = %s AND cancel_action IS NULL AND available_at <= %s AND attempt < %s
  AND (status = 'pending' OR (status = 'running' AND lease_expires_at < %s))
  AND NOT EXISTS (
    SELECT 1 FROM {run} other
    WHERE other.thread_id = {run}.thread_id AND other.run_id <> {run}.run_id
      AND (other.status = 'running'
           OR (other.status = 'pending' AND other.created_at < {run}.created_at)))
RETURNING *
"""


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
        claimed = list(Run.objects.raw(CLAIM_SQL.format(run=Run._meta.db_table), params))
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
) -> bool:
    """Record the end of this attempt of ``run`` and settle the thread; False if fenced out
    (another attempt owns the run now), in which case nothing is written.

    A run rolled back is deleted (the executor already deleted its checkpoints). The thread
    becomes busy (more runs queued), error, interrupted (its state waits at a node) or idle,
    and caches ``values`` and ``interrupts`` (unless ``values`` is UNSET: temporary runs).
    The next queued run of the thread is dispatched after commit; a temporary thread is
    removed with its run. Two statements in one transaction, both conditional.
    """
    now = timezone.now()
    thread_id = run.thread_id
    if connection.vendor == "postgresql":
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
        if thread_status == ThreadStatus.BUSY:
            thread_dispatch_next(thread_id=thread_id)
        if run.temporary:
            _delete_temporary_thread(thread_id)
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
        transaction.on_commit(lambda: thread_dispatch_next(thread_id=thread_id))
    if run.temporary:
        _delete_temporary_thread(thread_id)
    return True


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


def _delete_temporary_thread(thread_id: uuid.UUID) -> None:
    if not Run.objects.for_thread(thread_id).active().exists():
        checkpointer().delete_thread(str(thread_id))
        Thread.objects.filter(pk=thread_id).delete()


def run_release(*, run_id: uuid.UUID, attempt: int) -> bool:
    """Give a running run back to the queue (worker shutdown): it stays at the head of its
    thread's queue and the next attempt resumes from its last checkpoint."""
    released = Run.objects.filter(pk=run_id, attempt=attempt, status=RunStatus.RUNNING).update(
        status=RunStatus.PENDING, lease_owner=None, lease_expires_at=None, updated_at=timezone.now()
    )
    if released:
        run_dispatch(run_id=run_id)
    return bool(released)


# --- cancel, delete ---------------------------------------------------------------------------


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


def _cancel_runs(runs: list[Run], *, action: CancelAction) -> None:
    """Within the caller's transaction: pending runs end now (interrupted, or deleted on
    rollback); running runs get the flag their worker checks between steps."""
    pending = [r.pk for r in runs if r.status == RunStatus.PENDING]
    running = [r.pk for r in runs if r.status == RunStatus.RUNNING]
    now = timezone.now()
    if pending:
        if action == CancelAction.ROLLBACK:
            Run.objects.filter(pk__in=pending, status=RunStatus.PENDING).delete()
        else:
            Run.objects.filter(pk__in=pending, status=RunStatus.PENDING).update(
                status=RunStatus.INTERRUPTED, cancel_action=action, ended_at=now, updated_at=now
            )
    if running:
        Run.objects.filter(pk__in=running).update(cancel_action=action, updated_at=now)


def run_cancel(*, thread_id: uuid.UUID, run_id: uuid.UUID, action: str) -> Run | None:
    """Cancel one run. Returns the run, or None when a pending run was rolled back (deleted).
    A finished run is left as it is."""
    with transaction.atomic():
        _lock_threads([thread_id])
        run = Run.objects.select_for_update().filter(pk=run_id, thread_id=thread_id).first()
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
    action: str,
    status: str | None = None,
    thread_id: uuid.UUID | None = None,
    run_ids: list[uuid.UUID] | None = None,
) -> int:
    """Cancel the runs with a status (``all`` = pending and running), or the listed runs of a
    thread. Returns how many were cancelled; NotFound if none matched."""
    runs = Run.objects.active()
    if status is not None:
        if status != "all":
            runs = runs.filter(status=status)
    else:
        runs = runs.filter(thread_id=thread_id, pk__in=run_ids)
    with transaction.atomic():
        _lock_threads(set(runs.values_list("thread_id", flat=True)))
        selected = list(runs.select_for_update())
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


def run_delete(*, thread_id: uuid.UUID, run_id: uuid.UUID) -> None:
    """Delete a finished (or pending) run; a running run must be cancelled first (409)."""
    with transaction.atomic():
        _lock_threads([thread_id])
        run = Run.objects.select_for_update().filter(pk=run_id, thread_id=thread_id).first()
        if run is None:
            raise NotFound(f"Run {run_id} not found")
        if run.status == RunStatus.RUNNING:
            raise Conflict(f"Run {run_id} is running; cancel it before deleting it")
        run.delete()
        if run.status == RunStatus.PENDING:
            _settle_after_pending_cancel(thread_id)


# --- recovery ---------------------------------------------------------------------------------


def runs_sweep(*, now=None) -> dict[str, int]:
    """Recover runs nobody is working on: running runs whose lease expired are re-dispatched
    (or failed once they used up their attempts), pending runs whose message may be lost are
    dispatched again. Duplicate dispatches are harmless: claiming is compare-and-set."""
    now = now or timezone.now()
    expired = Run.objects.filter(status=RunStatus.RUNNING, lease_expires_at__lt=now)
    exhausted = list(expired.filter(attempt__gte=max_attempts()).values_list("pk", "attempt"))
    for run_id, attempt in exhausted:
        _fail_exhausted(run_id=run_id, attempt=attempt)
    retry = list(expired.filter(attempt__lt=max_attempts()).values_list("pk", flat=True))
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
        Run.objects.filter(pk=run_id).update(
            status=RunStatus.ERROR,
            error=error,
            output={"__error__": error},
            ended_at=timezone.now(),
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
            now=timezone.now(),
        )
        thread_id = run.thread_id
        transaction.on_commit(lambda: thread_dispatch_next(thread_id=thread_id))
