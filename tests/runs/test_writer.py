"""An attempt's writer: what is handed over in one turn of the event loop goes out in one
write, in order; a failed write fails the run; the last write sets the streams to expire."""

from __future__ import annotations

import asyncio

import pytest

from apps.runs.writer import Writer
from apps.streams.eventlog import InMemoryEventLog


class CountingLog(InMemoryEventLog):
    """An in-memory log that counts its writes."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def append_all(self, entries, *, expire=None, numbered=None):
        self.writes += 1
        return super().append_all(entries, expire=expire, numbered=numbered)


class BrokenLog(InMemoryEventLog):
    def append_all(self, *args, **kwargs):
        raise ConnectionError("redis is gone")


def keys(log: InMemoryEventLog, stream: str) -> list[str]:
    return [event.event for event in log._since(stream, (0, 0))]


async def test_what_one_turn_of_the_loop_hands_over_goes_out_in_one_write_in_order():
    log = CountingLog()
    writer = Writer(log, ["run", "thread"], "events")
    writer.add([("metadata", b"{}")], [("lifecycle", b"{}")], run_start=0)
    for n in range(5):
        writer.add([(f"values{n}", b"{}")], [(f"values|{n}", b"{}")])
    assert log.writes == 0  # nothing is written while the turn goes on
    await asyncio.sleep(0)

    assert log.writes == 1
    expected = ["metadata"] + [f"values{n}" for n in range(5)]
    assert keys(log, "run") == keys(log, "thread") == expected
    assert keys(log, "events") == ["lifecycle"] + [f"values|{n}" for n in range(5)]
    assert (await log.seq_info("events")).run_start == 1


async def test_events_of_later_turns_are_later_writes():
    log = CountingLog()
    writer = Writer(log, ["run"], "events")
    for n in range(3):
        writer.add([(f"token{n}", b"{}")], [])
        await asyncio.sleep(0)
    await writer.drain()

    assert log.writes == 3
    assert keys(log, "run") == ["token0", "token1", "token2"]


async def test_drain_writes_what_is_queued_at_once():
    log = CountingLog()
    writer = Writer(log, ["run"], "events")
    writer.add([("values", b"{}")], [])
    await writer.drain()

    assert keys(log, "run") == ["values"]
    await asyncio.sleep(0)  # the turn's scheduled write finds nothing left
    assert log.writes == 1


async def test_a_failed_write_is_raised_to_the_run():
    writer = Writer(BrokenLog(), ["run"], "events")
    writer.add([("values", b"{}")], [])
    with pytest.raises(ConnectionError):
        await writer.drain()


async def test_a_write_that_failed_at_the_end_of_a_turn_fails_the_next_add():
    writer = Writer(BrokenLog(), ["run"], "events")
    writer.add([("values", b"{}")], [])
    await asyncio.sleep(0)
    with pytest.raises(ConnectionError):
        writer.add([("values", b"{}")], [])


async def test_the_last_write_comes_after_the_rest_and_expires_every_stream():
    now = [0.0]
    log = InMemoryEventLog(monotonic=lambda: now[0])
    writer = Writer(log, ["run"], "events")
    writer.add([("values", b"{}")], [("values|", b"{}")])

    tail = [("run", "end", b"{}"), ("result", "end", b"{}")]
    await writer.drain()
    writer.write_last([], [("lifecycle", b"{}")], tail=tail, expire=60)
    now[0] += 61

    assert keys(log, "run") == keys(log, "events") == keys(log, "result") == []
