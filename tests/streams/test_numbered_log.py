"""Numbered streams: per-stream sequence numbers as ids, the latest run's replay start, the
oldest number kept (on both event logs), and where a new subscription starts."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from uuid import uuid4

import pytest
import redis

from apps.streams.eventlog import KEY_PREFIX, InMemoryEventLog, Numbered, SeqInfo, seq_id
from apps.streams.following import Start, start


def numbered(stream: str, count: int, *, run_start: int | None = None) -> Numbered:
    return Numbered(stream, [(f"values|n{n}", b'{"n":%d}' % n) for n in range(count)], run_start)


async def test_entries_are_numbered_one_two_three_across_appends(log, stream):
    log.append_all([], numbered=numbered(stream, 2))
    log.append_all([], numbered=numbered(stream, 3))
    events = await log.read(stream, after="0", timeout=0)
    assert [event.id for event in events] == [seq_id(n) for n in range(1, 6)]
    assert events[0].event == "values|n0" and events[0].data == b'{"n":0}'
    assert (await log.seq_info(stream)) == SeqInfo(last=5, run_start=0, first=1)


async def test_reading_after_a_number_resumes_right_after_it(log, stream):
    log.append_all([], numbered=numbered(stream, 10))
    events = await log.read(stream, after=seq_id(7), timeout=0)
    assert [event.id for event in events] == ["8-0", "9-0", "10-0"]


async def test_the_entry_that_starts_a_run_is_remembered_as_the_replay_start(log, stream):
    log.append_all([], numbered=numbered(stream, 3, run_start=0))
    log.append_all([], numbered=numbered(stream, 4, run_start=1))
    assert (await log.seq_info(stream)).run_start == 5


async def test_plain_entries_and_numbered_ones_go_out_together(log, stream):
    other = f"{stream}-plain"
    ids = log.append_all([(other, "end", b"{}")], numbered=numbered(stream, 1))
    assert len(ids) == 1 and (await log.read(other, after="0", timeout=0))[0].id == ids[0]
    assert (await log.read(stream, after="0", timeout=0))[0].id == "1-0"
    log.delete(other)


async def test_a_blocked_reader_wakes_on_a_numbered_append(log, stream):
    reader = asyncio.ensure_future(log.read(stream, after="0", timeout=5))
    await asyncio.sleep(0)
    await asyncio.to_thread(log.append_all, [], numbered=numbered(stream, 1))
    assert [event.id for event in await reader] == ["1-0"]


async def test_an_unknown_stream_stands_at_zero(log, stream):
    assert (await log.seq_info(stream)) == SeqInfo(0, 0, 0)


async def test_trimming_moves_the_oldest_kept_number_forward():
    log = InMemoryEventLog(maxlen=10)
    log.append_all([], numbered=numbered("s", 25))
    info = await log.seq_info("s")
    assert info.last == 25 and 1 < info.first <= 16


@pytest.fixture
def redis_stream(redis_log) -> Iterator[str]:
    name = f"test-{uuid4().hex}"
    yield name
    redis_log.delete(name)


async def test_a_lost_counter_restarts_after_the_newest_entry(redis_log, redis_admin, redis_stream):
    stream = redis_stream
    redis_log.append_all([], numbered=numbered(stream, 3))
    redis_admin.delete(f"agentserver:seq:{stream}")
    redis_log.append_all([], numbered=numbered(stream, 1))
    events = await redis_log.read(stream, after="0", timeout=0)
    assert [event.id for event in events] == ["1-0", "2-0", "3-0", "4-0"]


async def test_a_numbered_stream_is_kept_while_written_and_expires_after_its_run(
    redis_log, redis_admin, redis_stream
):
    stream = redis_stream
    redis_log.append_all([], numbered=numbered(stream, 1), expire=60)
    assert 0 < redis_admin.ttl(f"agentserver:stream:{stream}") <= 60
    redis_log.append_all([], numbered=numbered(stream, 1))
    assert redis_admin.ttl(f"agentserver:stream:{stream}") == -1
    assert redis_admin.ttl(f"agentserver:seq:{stream}") == -1


async def test_numbers_go_on_after_the_events_expired():
    now = [0.0]
    log = InMemoryEventLog(monotonic=lambda: now[0])
    log.append_all([], numbered=numbered("s", 3), expire=60)
    now[0] += 61
    assert await log.seq_info("s") == SeqInfo(last=3, run_start=0, first=0)
    log.append_all([], numbered=numbered("s", 1))
    assert [event.id for event in await log.read("s", after="0", timeout=0)] == ["4-0"]


async def test_on_redis_the_counter_outlives_the_events(redis_log, redis_admin, redis_stream):
    redis_log.append_all([], numbered=numbered(redis_stream, 2), expire=60)
    redis_admin.delete(f"agentserver:stream:{redis_stream}")  # as if it expired
    redis_log.append_all([], numbered=numbered(redis_stream, 1))
    assert [e.id for e in await redis_log.read(redis_stream, after="0", timeout=0)] == ["3-0"]
    assert redis_admin.ttl(f"agentserver:seq:{redis_stream}") == -1  # kept while written


async def test_a_subscription_starts_after_since_or_at_the_latest_run():
    log = InMemoryEventLog()
    log.append_all([], numbered=numbered("s", 3, run_start=0))
    log.append_all([], numbered=numbered("s", 3, run_start=0))

    assert await start(log, "s", since=2) == Start("2-0", gap=False)
    assert await start(log, "s", since=None) == Start("3-0", gap=False)
    assert await start(log, "s", since=99) == Start("3-0", gap=False)  # counter was lost
    assert await start(InMemoryEventLog(), "s", since=None) == Start("0-0", gap=False)


async def test_a_since_older_than_what_is_kept_reports_the_gap():
    log = InMemoryEventLog(maxlen=10)
    log.append_all([], numbered=numbered("s", 30, run_start=0))
    first = (await log.seq_info("s")).first

    assert await start(log, "s", since=1) == Start(seq_id(first - 1), gap=True)


async def test_a_flushed_script_cache_is_reloaded(redis_log, redis_admin, redis_stream):
    plain = f"plain-{redis_stream}"
    redis_log.append_all([], numbered=numbered(redis_stream, 1))
    redis_admin.script_flush()
    redis_log.append_all([(plain, "end", b"{}")], numbered=numbered(redis_stream, 1))

    assert [e.id for e in await redis_log.read(redis_stream, after="0", timeout=0)] == [
        "1-0",
        "2-0",
    ]
    assert len(await redis_log.read(plain, after="0", timeout=0)) == 1
    redis_log.delete(plain)


async def test_a_since_whose_events_all_expired_reports_the_gap():
    now = [0.0]
    log = InMemoryEventLog(monotonic=lambda: now[0])
    log.append_all([], numbered=numbered("s", 5, run_start=0), expire=60)
    now[0] += 61

    assert await start(log, "s", since=2) == Start("5-0", gap=True)


# --- a writer's appender ------------------------------------------------------------------------


async def test_an_appender_numbers_its_appends_like_the_log(log, stream):
    appender = log.appender()
    appender.append_all([], numbered=numbered(stream, 2, run_start=0))
    appender.append_all([], numbered=numbered(stream, 1))
    appender.release()

    events = await log.read(stream, after="0", timeout=0)
    assert [event.id for event in events] == ["1-0", "2-0", "3-0"]
    assert (await log.seq_info(stream)) == SeqInfo(last=3, run_start=1, first=1)


def in_use(redis_log) -> int:
    return len(redis_log._client.connection_pool._in_use_connections)


async def test_on_redis_an_appender_keeps_one_connection_until_released(redis_log, redis_stream):
    before = in_use(redis_log)
    appender = redis_log.appender()
    for _ in range(3):
        appender.append_all([], numbered=numbered(redis_stream, 1))
    assert in_use(redis_log) == before + 1

    appender.release()
    assert in_use(redis_log) == before


async def test_an_appender_gets_past_a_flushed_script_cache_and_a_killed_connection(
    redis_log, redis_admin, redis_stream
):
    appender = redis_log.appender()
    appender.append_all([], numbered=numbered(redis_stream, 1))
    redis_admin.script_flush()
    appender.append_all([], numbered=numbered(redis_stream, 1))
    host, port = appender.connection._sock.getsockname()[:2]
    assert redis_admin.client_kill_filter(addr=f"{host}:{port}") == 1
    appender.append_all([], numbered=numbered(redis_stream, 1))
    appender.append_all([], numbered=numbered(redis_stream, 1))
    appender.release()

    events = await redis_log.read(redis_stream, after="0", timeout=0)
    assert [event.id for event in events] == ["1-0", "2-0", "3-0", "4-0"]


async def test_an_appender_writes_plain_entries_numbered_ones_and_expiries_as_the_log_does(
    log, stream
):
    plain = f"{stream}-plain"
    appender = log.appender()
    ids = appender.append_all([(plain, "messages", b"[1]")], numbered=numbered(stream, 1))
    last = appender.append_all([(plain, "end", b"{}")], numbered=numbered(stream, 1), expire=60)
    appender.release()

    kept = await log.read(plain, after="0", timeout=0)
    assert [event.id for event in kept] == [*ids, *last]
    assert [event.event for event in kept] == ["messages", "end"]
    assert [e.id for e in await log.read(stream, after="0", timeout=0)] == ["1-0", "2-0"]
    log.delete(plain)


async def test_on_redis_an_appender_sends_a_whole_append_down_its_connection(
    redis_log, redis_admin, redis_stream
):
    plain = f"{redis_stream}-plain"
    before = in_use(redis_log)
    appender = redis_log.appender()
    appender.append_all([(plain, "messages", b"[1]")], numbered=numbered(redis_stream, 1))
    appender.append_all([(plain, "end", b"{}")], numbered=numbered(redis_stream, 1), expire=60)
    assert in_use(redis_log) == before + 1
    appender.release()

    assert 0 < redis_admin.ttl(KEY_PREFIX + plain) <= 60
    assert 0 < redis_admin.ttl(KEY_PREFIX + redis_stream) <= 60
    redis_log.delete(plain)


async def test_a_flushed_script_cache_does_not_repeat_the_plain_entries_of_an_append(
    redis_log, redis_admin, redis_stream
):
    plain = f"{redis_stream}-plain"
    appender = redis_log.appender()
    appender.append_all([(plain, "messages", b"[1]")], numbered=numbered(redis_stream, 1))
    redis_admin.script_flush()
    appender.append_all([(plain, "messages", b"[2]")], numbered=numbered(redis_stream, 1))
    appender.release()

    assert [e.data for e in await redis_log.read(plain, after="0", timeout=0)] == [b"[1]", b"[2]"]
    assert [e.id for e in await redis_log.read(redis_stream, after="0", timeout=0)] == [
        "1-0",
        "2-0",
    ]
    redis_log.delete(plain)


async def test_an_error_reply_is_raised_and_the_appenders_connection_stays_usable(
    redis_log, redis_admin, redis_stream
):
    not_a_stream = f"{redis_stream}-string"
    redis_admin.set(KEY_PREFIX + not_a_stream, "x")
    appender = redis_log.appender()
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        appender.append_all(
            [(not_a_stream, "messages", b"[1]")], numbered=numbered(redis_stream, 1)
        )
    appender.append_all([], numbered=numbered(redis_stream, 1))
    appender.release()

    assert [e.id for e in await redis_log.read(redis_stream, after="0", timeout=0)] == [
        "1-0",
        "2-0",
    ]
    redis_admin.delete(KEY_PREFIX + not_a_stream)


class Interrupted(BaseException):
    """Raised into a worker between two replies (a soft time limit, a KeyboardInterrupt)."""


async def test_an_append_cut_short_between_replies_leaves_none_for_the_next(
    redis_log, redis_stream, monkeypatch
):
    plain = f"{redis_stream}-plain"
    appender = redis_log.appender()
    appender.append_all([], numbered=numbered(redis_stream, 1))
    read_response, reads = appender.connection.read_response, []

    def interrupted_at_the_second_reply(*args, **kwargs):
        reads.append(1)
        if len(reads) == 2:
            raise Interrupted
        return read_response(*args, **kwargs)

    monkeypatch.setattr(appender.connection, "read_response", interrupted_at_the_second_reply)
    with pytest.raises(Interrupted):
        appender.append_all([(plain, "messages", b"[1]"), (plain, "messages", b"[2]")])
    ids = appender.append_all([(plain, "end", b"{}")])
    appender.release()

    kept = await redis_log.read(plain, after="0", timeout=0)
    assert [event.event for event in kept] == ["messages", "messages", "end"]
    assert ids == [kept[-1].id]
    redis_log.delete(plain)
