from __future__ import annotations

import asyncio
import re
import threading
import time
from uuid import uuid4

import pytest
from django.conf import settings

from apps.streams.eventlog import (
    READ_BATCH,
    Event,
    EventLog,
    InMemoryEventLog,
    RedisEventLog,
    event_log,
    id_key,
)
from tests.streams.conftest import blocked_xreads, eventually

REDIS_ID = re.compile(r"[0-9]+-[0-9]+")


def append_many(log: EventLog, stream: str, count: int, event: str = "values") -> list[str]:
    return [log.append(stream, event, b'{"n":%d}' % n) for n in range(count)]


def in_thread(target, *args) -> threading.Thread:
    thread = threading.Thread(target=target, args=args)
    thread.start()
    return thread


async def test_ids_are_redis_shaped_and_strictly_increasing(log, stream):
    before_ms = time.time_ns() // 1_000_000
    ids = append_many(log, stream, 500)
    assert all(REDIS_ID.fullmatch(event_id) for event_id in ids)
    keys = [id_key(event_id) for event_id in ids]
    assert keys == sorted(set(keys))
    assert before_ms - 1_000 <= keys[0][0] <= time.time_ns() // 1_000_000 + 1_000


async def test_async_and_sync_appends_share_one_sequence(log, stream):
    ids = [log.append(stream, "values", b"1"), await log.aappend(stream, "values", b"2")]
    ids.append(log.append(stream, "end", b"3"))
    assert [event.id for event in await log.read(stream, after="0", timeout=0)] == ids
    assert id_key(ids[0]) < id_key(ids[1]) < id_key(ids[2])


async def test_in_memory_ids_keep_increasing_when_the_clock_goes_backwards():
    now = [1_000_000]
    log = InMemoryEventLog(clock=lambda: now[0])
    first = log.append("s", "values", b"1")
    now[0] -= 5_000
    second = log.append("s", "values", b"2")
    now[0] += 10_000
    third = log.append("s", "values", b"3")
    assert [first, second, third] == ["1000000-0", "1000000-1", "1005000-0"]


async def test_read_from_the_beginning_returns_every_event_in_order(log, stream):
    ids = append_many(log, stream, 10)
    for start in ("0", "0-0"):
        events = await log.read(stream, after=start, timeout=0)
        assert [event.id for event in events] == ids
        assert events[3] == Event(ids[3], "values", b'{"n":3}')


async def test_read_after_an_id_returns_exactly_the_later_events(log, stream):
    ids = append_many(log, stream, 10)
    events = await log.read(stream, after=ids[6], timeout=1)
    assert [event.id for event in events] == ids[7:]
    assert await log.read(stream, after=ids[-1], timeout=0) == []


async def test_a_long_stream_is_read_in_bounded_batches_without_gaps(log, stream):
    ids = append_many(log, stream, READ_BATCH + 5)
    first = await log.read(stream, after="0", timeout=0)
    rest = await log.read(stream, after=first[-1].id, timeout=0)
    assert len(first) == READ_BATCH
    assert [event.id for event in first + rest] == ids


async def test_read_times_out_with_no_events(log, stream):
    started = time.monotonic()
    assert await log.read(stream, after="0", timeout=0.05) == []
    assert time.monotonic() - started >= 0.04
    assert await log.read(stream, after="0", timeout=0) == []


async def test_read_wakes_promptly_when_another_thread_appends(log, stream, blocked_readers):
    baseline = blocked_readers(stream)
    reader = asyncio.create_task(log.read(stream, after="0", timeout=30))
    await eventually(lambda: blocked_readers(stream) > baseline, what="the reader to block")
    appended_at = time.monotonic()
    writer = in_thread(log.append, stream, "values", b"42")
    events = await asyncio.wait_for(reader, timeout=5)
    assert time.monotonic() - appended_at < 1.0
    assert [(event.event, event.data) for event in events] == [("values", b"42")]
    writer.join()


async def test_one_append_wakes_every_reader_of_the_stream(log, stream, blocked_readers):
    baseline = blocked_readers(stream)
    readers = [asyncio.create_task(log.read(stream, after="0", timeout=30)) for _ in range(50)]
    await eventually(lambda: blocked_readers(stream) > baseline, what="the readers to block")
    in_thread(log.append, stream, "values", b"1").join()
    results = await asyncio.wait_for(asyncio.gather(*readers), timeout=5)
    assert [len(events) for events in results] == [1] * 50


async def test_redis_readers_at_the_same_position_share_one_xread(redis_log, redis_admin):
    stream = f"test-{uuid4().hex}"
    baseline = blocked_xreads(redis_admin)
    readers = [
        asyncio.create_task(redis_log.read(stream, after="0", timeout=30)) for _ in range(50)
    ]
    behind = asyncio.create_task(redis_log.read(stream, after="1-0", timeout=30))
    await eventually(lambda: blocked_xreads(redis_admin) == baseline + 2, what="two XREADs")
    event_id = redis_log.append(stream, "values", b"1")
    results = await asyncio.wait_for(asyncio.gather(*readers, behind), timeout=5)
    redis_log.delete(stream)
    assert [[event.id for event in events] for events in results] == [[event_id]] * 51


async def test_readers_on_other_event_loops_are_woken_too(log, stream, blocked_readers):
    baseline = blocked_readers(stream)
    results: list[list[Event]] = []

    async def read_on_own_loop() -> None:
        try:
            results.append(await log.read(stream, after="0", timeout=30))
        finally:
            if isinstance(log, RedisEventLog):
                await log.aclose()

    other_loop = in_thread(asyncio.run, read_on_own_loop())
    here = asyncio.create_task(log.read(stream, after="0", timeout=30))
    await eventually(lambda: blocked_readers(stream) >= baseline + 2, what="both readers to block")
    event_id = log.append(stream, "values", b"1")
    assert [event.id for event in await asyncio.wait_for(here, timeout=5)] == [event_id]
    await asyncio.to_thread(other_loop.join, 5)
    assert [[event.id for event in events] for events in results] == [[event_id]]


async def test_a_cancelled_reader_leaves_nothing_parked():
    log = InMemoryEventLog()
    reader = asyncio.create_task(log.read("s", after="0", timeout=30))
    await eventually(lambda: log.waiting("s") == 1, what="the reader to block")
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader
    assert log.waiting("s") == 0
    assert log._waiters == {}


async def test_a_reader_sees_every_event_of_a_concurrent_writer_once_in_order(log, stream):
    total = 2_000
    written: list[str] = []
    writer = in_thread(lambda: written.extend(append_many(log, stream, total)))
    seen: list[Event] = []
    after = "0"
    deadline = time.monotonic() + 30
    while len(seen) < total and time.monotonic() < deadline:
        events = await log.read(stream, after=after, timeout=1)
        if events:
            seen += events
            after = events[-1].id
    writer.join()
    assert [event.id for event in seen] == written
    assert [event.data for event in seen] == [b'{"n":%d}' % n for n in range(total)]


async def test_last_id_is_the_newest_event_or_none(log, stream):
    assert await log.last_id(stream) is None
    ids = append_many(log, stream, 3)
    assert await log.last_id(stream) == ids[-1]


async def test_delete_removes_the_stream(log, stream):
    append_many(log, stream, 3)
    log.delete(stream)
    assert await log.last_id(stream) is None
    assert await log.read(stream, after="0", timeout=0) == []


async def test_expire_keeps_the_stream_until_the_time_is_up(log, stream, redis_admin):
    ids = append_many(log, stream, 3)
    log.expire(stream, 60)
    assert await log.last_id(stream) == ids[-1]
    if isinstance(log, RedisEventLog):
        assert 0 < redis_admin.ttl(f"agentserver:stream:{stream}") <= 60
    log.expire(stream, 0)
    assert await log.last_id(stream) is None
    assert await log.read(stream, after="0", timeout=0) == []


async def test_expired_in_memory_streams_are_dropped_from_memory():
    now = [100.0]
    log = InMemoryEventLog(monotonic=lambda: now[0])
    log.append("ended", "end", b"{}")
    log.append("running", "values", b"{}")
    log.expire("ended", 30)
    now[0] += 29
    log.append("other", "values", b"{}")
    assert "ended" in log._streams
    now[0] += 2
    log.append("other", "values", b"{}")
    assert set(log._streams) == {"running", "other"}


async def test_a_stream_keeps_about_maxlen_newest_events(log, stream):
    capped = (
        InMemoryEventLog(maxlen=100)
        if isinstance(log, InMemoryEventLog)
        else RedisEventLog(log.url, maxlen=100)
    )
    try:
        ids = append_many(capped, stream, 1_000)
        kept = await capped.read(stream, after="0", timeout=0)
    finally:
        if isinstance(capped, RedisEventLog):
            await capped.aclose()
            capped.close()
    # Trimming is approximate (whole chunks), as with Redis's MAXLEN ~: at least the newest
    # maxlen events stay, and never much more.
    assert 100 <= len(kept) <= 200
    assert [event.id for event in kept] == ids[-len(kept) :]


async def test_a_malformed_after_id_is_a_value_error(log, stream):
    with pytest.raises(ValueError):
        await log.read(stream, after="yesterday", timeout=0)


def test_event_log_is_one_instance_chosen_by_redis_url():
    log = event_log()
    assert event_log() is log
    assert isinstance(log, RedisEventLog if settings.REDIS_URL else InMemoryEventLog)


async def test_append_all_writes_entries_in_order_across_streams_and_sets_their_expiry(log, stream):
    other = f"{stream}-other"
    ids = log.append_all(
        [(stream, "values", b"1"), (other, "metadata", b"2"), (stream, "end", b"3")], expire=60
    )
    assert len(ids) == 3
    events = await log.read(stream, after="0", timeout=0.1)
    assert [(e.event, e.data) for e in events] == [("values", b"1"), ("end", b"3")]
    assert [e.id for e in events] == [ids[0], ids[2]]
    assert [e.data for e in await log.read(other, after="0", timeout=0.1)] == [b"2"]
    log.expire(other, 0)
    assert await log.last_id(other) is None
