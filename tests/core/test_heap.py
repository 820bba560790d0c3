"""A process's startup heap is frozen once it is ready, so full collections skip it."""

from __future__ import annotations

import gc

import pytest
from celery.signals import worker_process_init, worker_ready

from agentserver.heap import freeze_startup


@pytest.fixture
def unfrozen():
    gc.unfreeze()
    yield
    gc.unfreeze()


class Kept:
    pass


def test_what_is_alive_when_the_process_is_ready_is_left_out_of_collections(unfrozen):
    kept = Kept()
    freeze_startup()
    assert gc.get_freeze_count() > 0
    assert not any(obj is kept for generation in range(3) for obj in gc.get_objects(generation))


@pytest.mark.parametrize("ready", [worker_ready, worker_process_init], ids=lambda s: s.name)
def test_a_worker_process_that_runs_tasks_freezes_its_startup_heap(unfrozen, ready):
    import apps.runs.tasks  # noqa: F401 - connects the receivers

    ready.send(sender=None)
    assert gc.get_freeze_count() > 0


async def test_the_web_process_freezes_its_startup_heap_once_the_server_starts_it(unfrozen):
    from agentserver.asgi import application

    received = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent = []

    async def receive():
        return received.pop(0)

    async def send(message):
        sent.append(message["type"])
        if message["type"] == "lifespan.startup.complete":
            assert gc.get_freeze_count() > 0

    await application({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
