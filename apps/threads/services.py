"""Verbs on threads: create, update, delete, copy, prune, update state, expire."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from asgiref.sync import async_to_sync
from django.db import IntegrityError, transaction
from django.utils import timezone
from langgraph.errors import InvalidUpdateError
from langgraph.types import StateSnapshot, StateUpdate

from apps.core.encoding import dumps, to_jsonable
from apps.core.errors import BadRequest, Conflict, NotFound
from apps.core.reserved import clean_metadata
from apps.graphs.registry import registry
from apps.streams.eventlog import Numbered, event_log, event_ttl_seconds
from apps.streams.hub import ENDED
from apps.streams.names import thread_events_stream, thread_stream
from apps.streams.protocol import stored_event
from apps.tenancy.principal import Principal
from apps.threads.models import Thread, ThreadStatus, TtlStrategy
from apps.threads.state import (
    checkpointer,
    interrupts_by_task,
    snapshot_json,
    thread_config,
    thread_graph,
)


def _ttl_fields(ttl: dict[str, Any] | None) -> dict[str, Any]:
    """Model fields for a ``{ttl: minutes, strategy}`` request, or the project's default TTL."""
    if ttl is None:
        default = registry().project.checkpoint_ttl or {}
        if not default.get("default_ttl"):
            return {}
        ttl = {"ttl": default["default_ttl"], "strategy": default.get("strategy", "delete")}
    minutes = float(ttl["ttl"])
    return {
        "ttl_minutes": minutes,
        "ttl_strategy": ttl.get("strategy") or TtlStrategy.DELETE,
        "expires_at": timezone.now() + timedelta(minutes=minutes),
    }


def thread_create(
    *,
    principal: Principal,
    thread_id: uuid.UUID | None = None,
    metadata: dict[str, Any] | None = None,
    if_exists: str = "raise",
    ttl: dict[str, Any] | None = None,
    supersteps: list[dict[str, Any]] | None = None,
) -> Thread:
    """Create a thread of ``principal``'s tenant; ``do_nothing`` returns an existing one the
    principal may see, ``raise`` (or an id taken by a thread it may not see) is a 409.

    ``supersteps`` replays state updates into the new thread (it needs ``metadata.graph_id``);
    if they fail the thread is removed again and the error is a 400.
    """
    metadata = clean_metadata(metadata)
    if supersteps and not registry().has_graph(metadata.get("graph_id") or ""):
        raise BadRequest("supersteps need metadata.graph_id naming a graph of this server")
    thread_id = thread_id or uuid.uuid4()
    try:
        with transaction.atomic():
            thread = Thread.objects.create(
                thread_id=thread_id,
                tenant_id=principal.tenant_id,
                owner=principal.identity,
                metadata=metadata,
                **_ttl_fields(ttl),
            )
    except IntegrityError:
        if not Thread.objects.filter(thread_id=thread_id).exists():
            raise
        existing = Thread.objects.visible_to(principal).filter(thread_id=thread_id).first()
        if existing is not None and if_exists == "do_nothing":
            return existing
        raise Conflict(f"Thread {thread_id} already exists") from None
    if supersteps:
        try:
            _apply_supersteps(thread, supersteps)
        except Exception as exc:
            thread_delete(thread_id=thread.thread_id)
            raise BadRequest(f"supersteps could not be applied: {exc}") from None
        thread.refresh_from_db()
    return thread


def _apply_supersteps(thread: Thread, supersteps: list[dict[str, Any]]) -> None:
    steps = [
        [
            StateUpdate(values=u.get("values"), as_node=u.get("as_node"), task_id=u.get("task_id"))
            for u in step.get("updates", [])
        ]
        for step in supersteps
    ]

    async def apply() -> None:
        config = thread_config(thread)
        async with thread_graph(thread, config) as graph:
            await graph.abulk_update_state(config, steps)
            await _refresh_thread_state(thread, graph)

    async_to_sync(apply)()


def thread_update(
    *, thread_id: uuid.UUID, metadata: dict[str, Any] | None = None, ttl: dict | None = None
) -> Thread:
    """Merge ``metadata`` into the thread's (top level) and replace its TTL when given."""
    with transaction.atomic():
        thread = Thread.objects.select_for_update().filter(thread_id=thread_id).first()
        if thread is None:
            raise NotFound(f"Thread {thread_id} not found")
        if metadata:
            thread.metadata = {**thread.metadata, **clean_metadata(metadata)}
        if ttl is not None:
            for field, value in _ttl_fields(ttl).items():
                setattr(thread, field, value)
        thread.save()
    return thread


def thread_delete(*, thread_id: uuid.UUID) -> None:
    """Delete a thread and every checkpoint it has.

    Checkpoints go first: if that fails the thread still exists and the delete can be retried.
    """
    tenant_id = (
        Thread.objects.filter(thread_id=thread_id).values_list("tenant_id", flat=True).first()
    )
    if tenant_id is None:
        raise NotFound(f"Thread {thread_id} not found")
    checkpointer().delete_thread(str(thread_id))
    _threads_deleted(Thread.objects.filter(thread_id=thread_id))


def _threads_deleted(threads) -> None:
    """Delete ``threads`` (a queryset) and end their streams. The protocol stream is ended,
    not deleted: its followers stop (a thread made later with the same id is someone else's
    to follow), and its counter goes on (event ids are never reused on a thread)."""
    gone = list(threads.values_list("tenant_id", "thread_id"))
    threads.delete()
    log = event_log()
    for tenant_id, thread_id in gone:
        log.delete(thread_stream(thread_id))
        ended = Numbered(thread_events_stream(tenant_id, thread_id), [(ENDED, b"{}")])
        log.append_all([], numbered=ended, expire=event_ttl_seconds())


def threads_delete_for_assistant(*, principal: Principal, assistant_id: uuid.UUID) -> int:
    """Delete the threads ``principal`` may see whose ``metadata.assistant_id`` is this
    assistant."""
    threads = Thread.objects.visible_to(principal).filter(metadata__assistant_id=str(assistant_id))
    ids = [str(thread_id) for thread_id in threads.values_list("thread_id", flat=True)]
    if ids:
        checkpointer().prune(ids, strategy="delete")
        _threads_deleted(Thread.objects.filter(thread_id__in=ids))
    return len(ids)


def thread_copy(
    *, principal: Principal, source: Thread, metadata: dict[str, Any] | None = None
) -> Thread:
    """A new thread of ``principal`` with the cached state and every checkpoint (same ids) of
    ``source``, and its metadata (or ``metadata``, as the auth handler rewrote it)."""
    copy = Thread.objects.create(
        thread_id=uuid.uuid4(),
        tenant_id=source.tenant_id,
        owner=principal.identity,
        metadata=source.metadata if metadata is None else metadata,
        config=source.config,
        values=source.values,
        interrupts=source.interrupts,
        status=ThreadStatus.INTERRUPTED
        if source.status == ThreadStatus.INTERRUPTED
        else ThreadStatus.IDLE,
        ttl_minutes=source.ttl_minutes,
        ttl_strategy=source.ttl_strategy,
        expires_at=source.expires_at,
    )
    checkpointer().copy_thread(str(source.thread_id), str(copy.thread_id))
    return copy


def threads_prune(
    *, principal: Principal, thread_ids: list[uuid.UUID], strategy: str = "delete"
) -> int:
    """``delete`` removes whole threads; ``keep_latest`` keeps each thread with only its
    latest checkpoint. Returns how many threads were pruned (ids ``principal`` may not see
    are skipped like unknown ones)."""
    visible = Thread.objects.visible_to(principal).filter(thread_id__in=thread_ids)
    existing = [str(t) for t in visible.values_list("thread_id", flat=True)]
    if not existing:
        return 0
    if strategy == TtlStrategy.DELETE:
        checkpointer().prune(existing, strategy="delete")
        _threads_deleted(Thread.objects.filter(thread_id__in=existing))
    else:
        checkpointer().prune(existing, strategy="keep_latest")
    return len(existing)


def thread_update_state(
    *,
    thread_id: uuid.UUID,
    values: Any,
    as_node: str | None = None,
    checkpoint: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Apply ``values`` as if ``as_node`` had run (forking from ``checkpoint`` when given).

    Returns the new checkpoint. 409 while runs are queued or running on the thread; 400 if the
    thread has no graph yet.
    """
    thread = Thread.objects.filter(thread_id=thread_id).first()
    if thread is None:
        raise NotFound(f"Thread {thread_id} not found")
    if thread.status == ThreadStatus.BUSY:
        raise Conflict(f"Thread {thread_id} has runs in flight; wait for them to finish")

    async def update() -> dict[str, Any]:
        config = thread_config(thread, checkpoint)
        async with thread_graph(thread, config) as graph:
            try:
                new_config = await graph.aupdate_state(config, values, as_node=as_node)
            except (InvalidUpdateError, ValueError, KeyError, TypeError) as exc:
                raise BadRequest(f"Invalid state update: {exc}") from None
            snapshot = await _refresh_thread_state(thread, graph)
        event = {"state": snapshot_json(snapshot), "thread_id": str(thread.thread_id)}
        # Followers of the thread join stream and of its protocol events see the new state.
        new_values = stored_event("values", [], event["state"]["values"] or {})
        event_log().append_all(
            [(thread_stream(thread.thread_id), "state_update", dumps(event))],
            numbered=Numbered(
                thread_events_stream(thread.tenant_id, thread.thread_id), [new_values]
            ),
            expire=event_ttl_seconds(),
        )
        return new_config["configurable"]

    configurable = async_to_sync(update)()
    return {
        "checkpoint": configurable,
        "configurable": configurable,
        "checkpoint_id": configurable.get("checkpoint_id"),
    }


async def _refresh_thread_state(thread: Thread, graph) -> StateSnapshot:
    """Copy the latest checkpoint's values and pending interrupts onto the thread row."""
    snapshot = await graph.aget_state(thread_config(thread))
    await Thread.objects.filter(thread_id=thread.thread_id).aupdate(
        values=to_jsonable(snapshot.values),
        interrupts=interrupts_by_task(snapshot),
        state_updated_at=timezone.now(),
        updated_at=timezone.now(),
    )
    return snapshot


def threads_sweep_expired(*, now=None) -> int:
    """Apply each expired thread's TTL strategy: delete it, or prune it to its latest
    checkpoint and start its TTL again. Returns how many threads were swept."""
    now = now or timezone.now()
    swept = 0
    for thread in Thread.objects.expired(now).exclude(status=ThreadStatus.BUSY):
        if thread.ttl_strategy == TtlStrategy.KEEP_LATEST:
            checkpointer().prune([str(thread.thread_id)], strategy="keep_latest")
            Thread.objects.filter(pk=thread.pk).update(
                expires_at=now + timedelta(minutes=thread.ttl_minutes)
            )
        else:
            checkpointer().delete_thread(str(thread.thread_id))
            _threads_deleted(Thread.objects.filter(pk=thread.pk))
        swept += 1
    return swept
