"""A thread's numbered events, written as the executor writes them, for tests that follow
threads (the websocket consumer, the SSE stream; the ``thread_id`` fixture is in conftest)."""

from __future__ import annotations

from apps.streams.eventlog import Numbered, event_log
from apps.streams.names import thread_events_stream
from apps.streams.protocol import stored_event
from apps.tenancy.models import DEFAULT_TENANT_ID


def write(
    thread_id: str, *events: tuple[str, list[str], dict], run_start: bool = False, tenant=None
) -> None:
    """Events as the executor writes them, in the default tenant's stream unless told."""
    entries = [stored_event(method, namespace, data) for method, namespace, data in events]
    stream = thread_events_stream(tenant or DEFAULT_TENANT_ID, thread_id)
    event_log().append_all([], numbered=Numbered(stream, entries, 0 if run_start else None))


def started(run: str = "r1") -> tuple[str, list[str], dict]:
    return ("lifecycle", [], {"event": "started", "run_id": run})


def completed(run: str = "r1") -> tuple[str, list[str], dict]:
    return ("lifecycle", [], {"event": "completed", "run_id": run})


def token(text: str) -> tuple[str, list[str], dict]:
    delta = {"type": "text-delta", "text": text}
    return ("messages", [], {"event": "content-block-delta", "index": 0, "delta": delta, "id": "m"})
