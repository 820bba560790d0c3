"""The event log's stream names: per run, per run result, and per thread (legacy and protocol)."""

from __future__ import annotations

import uuid


def run_stream(run_id: uuid.UUID | str) -> str:
    """The run's events: what its SSE streams replay and follow."""
    return f"run:{run_id}"


def run_result_stream(run_id: uuid.UUID | str) -> str:
    """One ``end`` entry holding the /wait body, written when the run ends (it outlives the run
    row, which a rollback or a temporary thread deletes)."""
    return f"run:{run_id}:result"


def thread_stream(thread_id: uuid.UUID | str) -> str:
    """Everything on a thread across its runs (each run's events, run ends, state updates):
    what the thread join stream follows."""
    return f"thread:{thread_id}"


def thread_events_stream(tenant_id: uuid.UUID | str, thread_id: uuid.UUID | str) -> str:
    """The thread's protocol events (docs/thread-protocol.md), numbered per thread: what the
    thread-centric streams (``/threads/{id}/stream/events``, the websocket) replay and follow.
    Named by tenant too: a client following an id that another tenant creates later (or
    re-creates after a delete) follows a different stream and sees none of its events."""
    return f"tenant:{tenant_id}:thread:{thread_id}:events"
