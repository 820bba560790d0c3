"""Thread state through LangGraph: the graph of a thread wired to the Django checkpointer and
store, and the reference's JSON shape of a ``StateSnapshot``."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import AsyncIterator
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.pregel import Pregel
from langgraph.types import StateSnapshot

from apps.checkpoints.saver import DjangoSaver
from apps.core.encoding import to_jsonable
from apps.core.errors import BadRequest, Unprocessable
from apps.graphs.registry import registry
from apps.memory.store import get_store
from apps.threads.models import Thread

_saver: DjangoSaver | None = None
_saver_lock = threading.Lock()


def checkpointer() -> DjangoSaver:
    """The process's checkpointer (stateless apart from its serializer, so one is shared)."""
    global _saver
    with _saver_lock:
        if _saver is None:
            _saver = DjangoSaver()
        return _saver


def thread_config(thread: Thread, checkpoint: dict[str, Any] | None = None) -> RunnableConfig:
    configurable = {"thread_id": str(thread.thread_id), "checkpoint_ns": ""}
    if checkpoint:
        configurable.update({k: v for k, v in checkpoint.items() if v is not None})
    return {"configurable": configurable}


@contextlib.asynccontextmanager
async def thread_graph(thread: Thread, config: RunnableConfig) -> AsyncIterator[Pregel]:
    """The thread's graph with checkpointer and store attached; 400 if the thread has none."""
    graph_id = thread.graph_id
    if not graph_id or not registry().has_graph(graph_id):
        raise BadRequest(f"Thread {thread.thread_id} has no graph to read its state with")
    async with registry().graph(
        graph_id, config, checkpointer=checkpointer(), store=get_store(thread.tenant_id)
    ) as graph:
        yield graph


EMPTY_STATE: dict[str, Any] = {
    "values": {},
    "next": [],
    "tasks": [],
    "checkpoint": None,
    "parent_checkpoint": None,
    "metadata": {},
    "created_at": None,
    "interrupts": [],
    "checkpoint_id": None,
    "parent_checkpoint_id": None,
}


def checkpoint_json(config: RunnableConfig | None) -> dict[str, Any] | None:
    if not config:
        return None
    configurable = config.get("configurable", {})
    return {
        "thread_id": configurable.get("thread_id"),
        "checkpoint_ns": configurable.get("checkpoint_ns", ""),
        "checkpoint_id": configurable.get("checkpoint_id"),
        "checkpoint_map": configurable.get("checkpoint_map"),
    }


def snapshot_json(snapshot: StateSnapshot) -> dict[str, Any]:
    """A ``StateSnapshot`` as the reference's ThreadState (subgraph states nested in tasks)."""
    checkpoint = checkpoint_json(snapshot.config)
    parent = checkpoint_json(snapshot.parent_config)
    return {
        "values": to_jsonable(snapshot.values),
        "next": list(snapshot.next),
        "tasks": [_task_json(task) for task in snapshot.tasks],
        "checkpoint": checkpoint,
        "parent_checkpoint": parent,
        "metadata": to_jsonable(snapshot.metadata or {}),
        "created_at": snapshot.created_at,
        "interrupts": to_jsonable(list(snapshot.interrupts)),
        "checkpoint_id": checkpoint["checkpoint_id"] if checkpoint else None,
        "parent_checkpoint_id": parent["checkpoint_id"] if parent else None,
    }


def _task_json(task) -> dict[str, Any]:
    state = task.state
    return {
        "id": task.id,
        "name": task.name,
        "path": to_jsonable(task.path),
        "error": repr(task.error) if task.error is not None else None,
        "interrupts": to_jsonable(list(task.interrupts)),
        "checkpoint": checkpoint_json(state)
        if state and not isinstance(state, StateSnapshot)
        else None,
        "state": snapshot_json(state) if isinstance(state, StateSnapshot) else None,
        "result": to_jsonable(task.result) if task.result is not None else None,
    }


def interrupts_by_task(snapshot: StateSnapshot) -> dict[str, list[Any]]:
    """The thread's ``interrupts`` field: pending interrupts grouped by task id."""
    return {
        task.id: to_jsonable(list(task.interrupts)) for task in snapshot.tasks if task.interrupts
    }


STATE_SELECT_FIELDS = (
    "values",
    "next",
    "tasks",
    "checkpoint",
    "metadata",
    "created_at",
    "parent_checkpoint",
    "interrupts",
)


def check_state_select(select: list[str] | None) -> list[str] | None:
    """Validate a state ``select``: top-level ThreadState fields or ``values.<key>``."""
    if not select:
        return None
    unknown = [
        item
        for item in select
        if item not in STATE_SELECT_FIELDS
        and not (item.startswith("values.") and len(item) > len("values."))
    ]
    if unknown:
        raise Unprocessable(f"Invalid select columns: {unknown}")
    return select


def select_state(state: dict[str, Any], select: list[str] | None) -> dict[str, Any]:
    """The ThreadState restricted to ``select`` (``values.<key>`` keeps those value keys)."""
    if not select:
        return state
    chosen = {field: state[field] for field in select if field in STATE_SELECT_FIELDS}
    value_keys = [item.removeprefix("values.") for item in select if item.startswith("values.")]
    if value_keys and "values" not in chosen:
        values = state["values"] if isinstance(state["values"], dict) else {}
        chosen["values"] = {key: values[key] for key in value_keys if key in values}
    return chosen
