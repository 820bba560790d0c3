from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from uuid import uuid4

import pytest
import redis

from apps.graphs.services import assistants_sync_defaults
from apps.streams.eventlog import EventLog, InMemoryEventLog, RedisEventLog, event_log
from apps.streams.names import thread_events_stream
from apps.tenancy.models import DEFAULT_TENANT_ID
from apps.threads.models import Thread

REDIS_URL = "redis://127.0.0.1:6379/15"


@pytest.fixture(scope="session")
def redis_admin() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL)
    yield client
    client.close()


@pytest.fixture(scope="session")
async def redis_log() -> RedisEventLog:
    log = RedisEventLog(REDIS_URL)
    yield log
    await log.aclose()
    log.close()


@pytest.fixture(params=["memory", "redis"])
def log(request) -> EventLog:
    """Every behaviour runs against both implementations."""
    if request.param == "memory":
        return InMemoryEventLog()
    return request.getfixturevalue("redis_log")


@pytest.fixture
def stream(log: EventLog) -> Iterator[str]:
    name = f"test-{uuid4().hex}"
    yield name
    log.delete(name)


@pytest.fixture
def blocked_readers(log: EventLog, redis_admin: redis.Redis) -> Callable[[str], int]:
    """How many readers are parked in a blocking read right now (on ``stream`` in memory; on
    any XREAD of this test database in Redis, where tests run one at a time)."""

    def count(stream: str) -> int:
        if isinstance(log, InMemoryEventLog):
            return log.waiting(stream)
        return blocked_xreads(redis_admin)

    return count


def blocked_xreads(redis_admin: redis.Redis) -> int:
    """Connections blocked in XREAD on the test database."""
    return sum(
        1
        for client in redis_admin.client_list()
        if client["cmd"] == "xread" and "b" in client["flags"] and client["db"] == "15"
    )


async def eventually(condition: Callable[[], object], *, timeout: float = 5.0, what: str) -> None:
    """Wait on the event loop until ``condition()`` is truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.005)


@pytest.fixture
def thread_id() -> Iterator[str]:
    """A thread of the default tenant; its numbered stream is deleted afterwards."""
    assistants_sync_defaults()
    value = str(uuid4())
    Thread.objects.create(thread_id=value, metadata={}, tenant_id=DEFAULT_TENANT_ID)
    yield value
    event_log().delete(thread_events_stream(DEFAULT_TENANT_ID, value))
