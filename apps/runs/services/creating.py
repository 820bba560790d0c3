"""Creating runs, with the thread's multitask strategy applied."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.core.errors import BadRequest, Conflict, NotFound, Unprocessable
from apps.core.reserved import clean_metadata
from apps.graphs.models import Assistant
from apps.graphs.registry import registry
from apps.graphs.selectors import assistant_resolve
from apps.graphs.services import config_and_context
from apps.runs.models import (
    CancelAction,
    MultitaskStrategy,
    Run,
)
from apps.runs.services.cancelling import _cancel_runs
from apps.runs.services.queue import run_dispatch
from apps.tenancy.authorization import authorize
from apps.tenancy.principal import Principal
from apps.threads.models import Thread, ThreadStatus
from apps.webhooks.services import webhook_url_check

BUSY_DETAIL = (
    "Thread is already running a task. Wait for it to finish or choose a different multitask "
    "strategy."
)


def resolve_assistant(principal: Principal, assistant_id: str) -> Assistant:
    """The run's assistant, if ``principal`` may use it. A tenant's own assistant must also
    pass the assistants ``read`` handler and its filters; a graph's default assistant does
    not (as on the reference server)."""
    try:
        assistant = assistant_resolve(
            principal=principal.with_filters(None), assistant_id=assistant_id
        )
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
    if assistant.tenant_id is not None:
        value = {"assistant_id": assistant.assistant_id}
        scoped = authorize(principal, "assistants", "read", value)
        if scoped.filters and not (
            Assistant.objects.visible_to(scoped).filter(pk=assistant.pk).exists()
        ):
            raise NotFound("Thread or assistant not found.")
    return assistant


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
    *,
    principal: Principal,
    thread_id: uuid.UUID | None,
    payload: dict[str, Any],
    stateless: bool = False,
) -> Run:
    """Create a run for ``principal`` on a thread it may run on (or on a new temporary thread
    of its tenant when ``stateless``) and enqueue it after commit. The run acts as
    ``principal`` when it executes.

    Applies ``multitask_strategy`` against the thread's pending and running runs: ``reject``
    raises Conflict and creates nothing; ``interrupt`` and ``rollback`` cancel them (a pending
    one at once, a running one at its next step); ``enqueue`` queues behind them.
    A ``webhook`` URL the project's policy refuses is a 422 naming why, and nothing is written.
    """
    if stateless and (payload.get("command") or {}).get("resume") is not None:
        raise BadRequest("You must provide a thread_id when resuming.")
    payload = dict(payload)
    principal = _authorize_run(principal, thread_id, payload)
    if payload.get("webhook"):  # after authorization: only callers who may run learn why
        webhook_url_check(payload["webhook"])
    assistant = resolve_assistant(principal, payload["assistant_id"])
    temporary = stateless and payload.get("on_completion", "delete") == "delete"
    kwargs = _run_kwargs(payload, assistant=assistant, temporary=temporary)
    strategy = payload.get("multitask_strategy") or MultitaskStrategy.ENQUEUE
    metadata = clean_metadata(payload.get("metadata"))
    now = timezone.now()
    with transaction.atomic():
        if stateless:
            thread = _thread_for_run(principal, uuid.uuid4(), assistant, metadata, create=True)
        else:
            thread = _thread_for_run(
                principal,
                thread_id,
                assistant,
                metadata,
                create=payload.get("if_not_exists") == "create",
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
            tenant_id=thread.tenant_id,
            owner=principal.identity,
            principal=principal.to_json(),
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


def _authorize_run(
    principal: Principal, thread_id: uuid.UUID | None, payload: dict[str, Any]
) -> Principal:
    """Run the ``threads`` ``create_run`` check on the reference's RunsCreate value; the auth
    handler may change the run's metadata."""
    value = {
        "thread_id": thread_id,
        "assistant_id": payload["assistant_id"],
        "run_id": None,
        "status": "pending",
        "metadata": payload.get("metadata") or {},
        "prevent_insert_if_inflight": payload.get("multitask_strategy") == "reject",
        "multitask_strategy": payload.get("multitask_strategy"),
        "if_not_exists": payload.get("if_not_exists"),
        "after_seconds": payload.get("after_seconds"),
        "kwargs": {key: payload.get(key) for key in RUN_VALUE_KWARGS},
    }
    principal = authorize(principal, "threads", "create_run", value)
    payload["metadata"] = value["metadata"]
    return principal


RUN_VALUE_KWARGS = (
    "input",
    "command",
    "config",
    "context",
    "stream_mode",
    "interrupt_before",
    "interrupt_after",
    "webhook",
    "feedback_keys",
    "checkpoint_id",
    "checkpoint",
)


def _thread_for_run(
    principal: Principal,
    thread_id: uuid.UUID,
    assistant: Assistant,
    metadata: dict[str, Any],
    *,
    create: bool,
) -> Thread:
    """The run's thread, locked for the transaction, if ``principal`` may see it; made (in its
    tenant) when ``create`` and missing. Its ``metadata`` (saved by the caller) learns the
    graph and assistant: state reads need them."""
    thread = Thread.objects.select_for_update().visible_to(principal).filter(pk=thread_id).first()
    if thread is None:
        if not create:
            raise NotFound("Thread or assistant not found.")
        if Thread.objects.filter(pk=thread_id).exists():
            # Another tenant's thread (or one the auth filters hide): its id is taken.
            raise Conflict(f"Thread {thread_id} already exists")
        # Inserted in this transaction, so already locked by it.
        thread = Thread.objects.create(
            thread_id=thread_id,
            tenant_id=principal.tenant_id,
            owner=principal.identity,
            metadata=metadata,
        )
    thread.metadata = {
        **thread.metadata,
        "graph_id": assistant.graph_id,
        "assistant_id": str(assistant.assistant_id),
    }
    return thread
