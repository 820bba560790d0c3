"""The thread-centric protocol's commands (docs/thread-protocol.md §2), shared by
``POST /threads/{id}/commands`` and the websocket: each calls the same services as the REST
endpoints, with the same authorization, and answers with a success or error envelope.

``run.start`` and ``input.respond`` report ``meta.applied_through_seq``: the thread's newest
event number read before the run was created, so a stream opened with that ``since`` sees
every event of the new run and nothing of the one before.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from rest_framework.exceptions import ValidationError

from apps.core.dbthreads import db_threads
from apps.core.errors import ApiError, NotFound
from apps.core.exceptions import validation_message
from apps.core.fields import validated
from apps.runs import services
from apps.runs.models import Run
from apps.runs.serializers import RunCreateSerializer
from apps.tenancy.authorization import aauthorize
from apps.tenancy.principal import Principal
from apps.threads.models import Thread, ThreadStatus

from .eventlog import event_log, seq_id
from .following import readable_thread
from .names import thread_events_stream
from .protocol import Command, ProtocolError, error, success

logger = logging.getLogger(__name__)

# What a run started through the protocol records as its stream modes, so the legacy thread
# join stream shows what the protocol clients see.
PROTOCOL_STREAM_MODES = ["values", "updates", "messages-tuple", "custom", "tasks", "checkpoints"]
RUN_START_PARAMS = frozenset(
    {
        "assistant_id",
        "input",
        "config",
        "context",
        "metadata",
        "langsmith_tracer",
        "multitaskStrategy",
        "multitask_strategy",
        "interrupt_before",
        "interrupt_after",
        "durability",
        "checkpoint",
        "checkpoint_id",
        "webhook",
    }
)
RESPOND_PARAMS = frozenset(
    {
        "interrupt_id",
        "interruptId",
        "namespace",
        "response",
        "responses",
        "update",
        "goto",
        "config",
        "metadata",
    }
)
CANCEL_PARAMS = frozenset({"run_id", "action"})

Result = tuple[dict[str, Any], dict[str, Any] | None]


async def execute(principal: Principal, thread_id: uuid.UUID, command: Command) -> dict[str, Any]:
    """Run ``command`` on the thread for ``principal``; the reply envelope, never an
    exception (a client's mistake is an ``error`` envelope naming it)."""
    handler = HANDLERS.get(command.method)
    if handler is None:
        return error(command.id, "unknown_command", f"Unknown command {command.method[:64]!r}")
    try:
        result, meta = await handler(principal, thread_id, command.params)
    except ProtocolError as exc:
        return error(command.id, exc.code, exc.message)
    except ApiError as exc:
        return error(command.id, _code(exc), exc.detail)
    except ValidationError as exc:
        return error(command.id, "invalid_argument", validation_message(exc.detail))
    except Exception:
        logger.exception("command %s on thread %s failed", command.method, thread_id)
        return error(command.id, "unknown_error", "An internal error occurred")
    return success(command.id, result, meta)


def _code(exc: ApiError) -> str:
    return "permission_denied" if exc.status_code in (401, 403) else "invalid_argument"


def _only(params: dict[str, Any], allowed: frozenset[str], method: str) -> None:
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ProtocolError(f"Unknown {method} param(s): {', '.join(unknown)}")


async def _applied_through(principal: Principal, thread_id: uuid.UUID) -> dict[str, Any]:
    info = await event_log().seq_info(thread_events_stream(principal.tenant_id, thread_id))
    return {"applied_through_seq": info.last}


async def run_start(principal: Principal, thread_id: uuid.UUID, params: dict[str, Any]) -> Result:
    """A new run on the thread (created on first use), queued behind or replacing the
    thread's active runs as ``multitaskStrategy`` says (default ``enqueue``). Input sent to an
    interrupted thread answers its interrupt."""
    _only(params, RUN_START_PARAMS, "run.start")
    payload = {k: v for k, v in params.items() if k not in ("multitaskStrategy",)}
    strategy = params.get("multitaskStrategy", params.get("multitask_strategy"))
    if strategy is not None:
        payload["multitask_strategy"] = strategy
    if payload.get("input") is not None and await _interrupted(thread_id):
        payload["command"] = {"resume": payload.pop("input")}
    payload.update(
        if_not_exists="create",
        stream_mode=PROTOCOL_STREAM_MODES,
        stream_resumable=True,
        on_completion="keep",
    )
    data = validated(RunCreateSerializer, payload)
    meta = await _applied_through(principal, thread_id)
    run = await db_threads().arun(
        services.run_create, principal=principal, thread_id=thread_id, payload=data
    )
    return {"run_id": str(run.run_id)}, meta


async def _interrupted(thread_id: uuid.UUID) -> bool:
    # Only shapes the payload: run_create authorizes and scopes the thread itself.
    status = await db_threads().arun(
        lambda: Thread.objects.filter(pk=thread_id).values_list("status", flat=True).first()
    )
    return status == ThreadStatus.INTERRUPTED


async def input_respond(
    principal: Principal, thread_id: uuid.UUID, params: dict[str, Any]
) -> Result:
    """Resume the thread's pending interrupts (one, or several with ``responses``) with a new
    run on the thread's assistant."""
    _only(params, RESPOND_PARAMS, "input.respond")
    answers = _answers(params)
    thread = await readable_thread(principal, thread_id)
    pending = {
        item.get("id")
        for items in (thread.interrupts or {}).values()
        for item in items
        if isinstance(item, dict)
    }
    unknown = [interrupt_id for interrupt_id in answers if interrupt_id not in pending]
    if unknown:
        raise ProtocolError(
            f"No pending interrupt {unknown[0]!r} on this thread", code="no_such_interrupt"
        )
    assistant_id = (thread.metadata or {}).get("assistant_id")
    if not assistant_id:
        raise ProtocolError("The thread has no assistant to resume with")
    command: dict[str, Any] = {"resume": answers}
    for key in ("update", "goto"):
        if params.get(key) is not None:
            command[key] = params[key]
    payload = {
        "assistant_id": str(assistant_id),
        "command": command,
        "stream_mode": PROTOCOL_STREAM_MODES,
        "stream_resumable": True,
        "on_completion": "keep",
    }
    for key in ("config", "metadata"):
        if params.get(key) is not None:
            payload[key] = params[key]
    data = validated(RunCreateSerializer, payload)
    meta = await _applied_through(principal, thread_id)
    await db_threads().arun(
        services.run_create, principal=principal, thread_id=thread_id, payload=data
    )
    return {}, meta


def _answers(params: dict[str, Any]) -> dict[str, Any]:
    """``{interrupt_id: response}`` from one ``interrupt_id``/``response`` or ``responses``."""
    responses = params.get("responses")
    if responses is None:
        responses = [params]
    elif not isinstance(responses, list) or not responses:
        raise ProtocolError("responses must be a non-empty list")
    answers = {}
    for item in responses:
        if not isinstance(item, dict):
            raise ProtocolError("Each response must be an object")
        interrupt_id = item.get("interrupt_id", item.get("interruptId"))
        if not isinstance(interrupt_id, str) or not interrupt_id:
            raise ProtocolError("interrupt_id must be a non-empty string")
        if "response" not in item:
            raise ProtocolError(f"No response for interrupt {interrupt_id!r}")
        answers[interrupt_id] = item["response"]
    return answers


async def run_cancel(principal: Principal, thread_id: uuid.UUID, params: dict[str, Any]) -> Result:
    """Cancel one run of the thread, or every active one: ``action`` ``interrupt`` (keep what
    finished) or ``rollback`` (as if it never ran)."""
    _only(params, CANCEL_PARAMS, "run.cancel")
    action = params.get("action") or "interrupt"
    if action not in ("interrupt", "rollback"):
        raise ProtocolError("action must be interrupt or rollback")
    run_id = params.get("run_id")
    if run_id is not None:
        try:
            run_id = uuid.UUID(str(run_id))
        except ValueError:
            raise ProtocolError(f"Invalid run_id {str(run_id)[:64]!r}") from None
    value = {"thread_id": thread_id, "run_id": run_id, "action": action}
    scoped = await aauthorize(principal, "threads", "update", value, perm="runs.change_run")
    if run_id is None:
        run_ids = await db_threads().arun(_active_runs, principal=scoped, thread_id=thread_id)
    else:
        run_ids = [run_id]
    try:
        if run_ids:
            await db_threads().arun(
                services.runs_cancel_many,
                principal=scoped,
                action=action,
                thread_id=thread_id,
                run_ids=run_ids,
            )
    except NotFound:
        if run_id is not None:
            message = f"Run {run_id} is not pending or running on this thread"
            raise ProtocolError(message, code="no_such_run") from None
        run_ids = []  # they ended meanwhile
    return {"run_ids": [str(run_id) for run_id in run_ids]}, None


def _active_runs(*, principal: Principal, thread_id: uuid.UUID) -> list[uuid.UUID]:
    return list(
        Run.objects.visible_to(principal)
        .active()
        .filter(thread_id=thread_id)
        .values_list("run_id", flat=True)
    )


async def agent_get_tree(
    principal: Principal, thread_id: uuid.UUID, params: dict[str, Any]
) -> Result:
    """The latest run's graph and subgraphs as a tree, each with its lifecycle status (from
    the run's lifecycle events): ``{"tree": {namespace, status, graph_name, children?}}``."""
    _only(params, frozenset({"run_id"}), "agent.getTree")
    await readable_thread(principal, thread_id)
    nodes: dict[tuple[str, ...], dict[str, Any]] = {}
    async for namespace, data in _lifecycle_of_latest_run(principal, thread_id):
        node = nodes.setdefault(tuple(namespace), {"namespace": namespace})
        if data.get("graph_name"):
            node["graph_name"] = data["graph_name"]
        if data.get("run_id") and not namespace:
            node["run_id"] = data["run_id"]
        node["status"] = "running" if data.get("event") == "started" else data.get("event")
    root = nodes.get(())
    wanted = params.get("run_id")
    if root is None or (wanted is not None and root.get("run_id") != str(wanted)):
        raise ProtocolError("No run of this thread has started yet", code="no_such_run")
    for key, node in nodes.items():
        parent = nodes.get(key[:-1]) if key else None
        if parent is not None:
            parent.setdefault("children", []).append(node)
    root.pop("run_id", None)
    return {"tree": root}, None


async def _lifecycle_of_latest_run(principal: Principal, thread_id: uuid.UUID):
    log, stream = event_log(), thread_events_stream(principal.tenant_id, thread_id)
    info = await log.seq_info(stream)
    if not info.run_start:
        return
    after = seq_id(info.run_start - 1)
    while batch := await log.read(stream, after=after, timeout=0):
        for event in batch:
            channel, *namespace = event.event.split("|")
            if channel == "lifecycle":
                yield namespace, orjson.loads(event.data)["data"]
        after = batch[-1].id


HANDLERS: dict[str, Callable[[Principal, uuid.UUID, dict[str, Any]], Awaitable[Result]]] = {
    "run.start": run_start,
    "input.respond": input_respond,
    "run.cancel": run_cancel,
    "agent.getTree": agent_get_tree,
}
