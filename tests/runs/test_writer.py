"""An attempt's writer: events reach the log in order, pile up into one write while another is
in flight, a failed write fails the run, and the last write sets the streams to expire."""

from __future__ import annotations

import threading

import pytest

from apps.runs.writer import Writer
from apps.streams.eventlog import InMemoryEventLog
from tests.waiting import eventually


class GatedLog(InMemoryEventLog):
    """An in-memory log whose writes wait for a gate, and that counts them."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.gate.set()
        self.writes = 0
        self.entered = threading.Event()

    def append_all(self, entries, *, expire=None, numbered=None):
        self.entered.set()
        self.gate.wait(5)
        self.writes += 1
        return super().append_all(entries, expire=expire, numbered=numbered)


def keys(log: InMemoryEventLog, stream: str) -> list[str]:
    return [event.event for event in log._since(stream, (0, 0))]


async def test_events_pile_up_behind_a_slow_write_and_keep_their_order():
    log = GatedLog()
    writer = Writer(log, ["run", "thread"], "events")
    log.gate.clear()
    writer.add([("metadata", b"{}")], [("lifecycle", b"{}")], run_start=0)
    await eventually(lambda: log.entered.is_set(), what="the first write to start")
    for n in range(5):
        writer.add([(f"values{n}", b"{}")], [(f"values|{n}", b"{}")])
    log.gate.set()
    await writer.drain()

    assert log.writes == 2
    expected = ["metadata"] + [f"values{n}" for n in range(5)]
    assert keys(log, "run") == keys(log, "thread") == expected
    assert keys(log, "events") == ["lifecycle"] + [f"values|{n}" for n in range(5)]
    assert (await log.seq_info("events")).run_start == 1


async def test_a_failed_write_is_raised_to_the_run():
    class Broken(InMemoryEventLog):
        def append_all(self, *args, **kwargs):
            raise ConnectionError("redis is gone")

    writer = Writer(Broken(), ["run"], "events")
    writer.add([("values", b"{}")], [])
    with pytest.raises(ConnectionError):
        await writer.drain()


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
