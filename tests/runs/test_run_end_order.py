"""A run's last events are in the thread's streams before the thread's next run is dispatched,
so a follower never sees the next run start before this one ended."""

from __future__ import annotations

import uuid

import orjson
import pytest

from apps.core.dbthreads import db_threads
from apps.core.fields import validated
from apps.graphs.services import assistants_sync_defaults
from apps.runs import services
from apps.runs.executor import execute_run
from apps.runs.serializers import RunCreateSerializer
from apps.runs.services import executing
from apps.streams.eventlog import Numbered, event_log
from apps.streams.names import thread_events_stream
from apps.tenancy.models import DEFAULT_TENANT_ID
from apps.tenancy.principal import local_principal

pytestmark = pytest.mark.django_db(transaction=True)


def queue_run(thread_id: uuid.UUID):
    payload = {"assistant_id": "agent", "input": {"messages": [], "steps": []}}
    data = validated(RunCreateSerializer, {**payload, "if_not_exists": "create"})
    return services.run_create(principal=local_principal(), thread_id=thread_id, payload=data)


async def test_the_next_run_is_dispatched_after_this_ones_terminal_events(monkeypatch):
    await db_threads().arun(assistants_sync_defaults)
    thread_id = uuid.uuid4()
    first = await db_threads().arun(queue_run, thread_id)
    await db_threads().arun(queue_run, thread_id)
    stream = thread_events_stream(DEFAULT_TENANT_ID, thread_id)

    def dispatch_next(*, thread_id):
        # Where a fast worker would start the next run: mark the moment in the thread's log.
        event_log().append_all([], numbered=Numbered(stream, [("next-run-dispatched", b"{}")]))

    monkeypatch.setattr(executing, "thread_dispatch_next", dispatch_next)

    assert await execute_run(first.run_id) == "success"
    events = await event_log().read(stream, after="0", timeout=0)
    order = [
        orjson.loads(event.data)["data"]["event"] if event.event == "lifecycle" else event.event
        for event in events
        if event.event in ("lifecycle", "next-run-dispatched")
    ]
    assert order == ["started", "completed", "next-run-dispatched"]
    event_log().delete(stream)
