"""The per-process fan-out: one read per stream however many follow it, and each follower
sees every event after its start once, in order, whenever it joined."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from apps.streams import hub as hub_module
from apps.streams.eventlog import InMemoryEventLog, Numbered, seq_id
from apps.streams.hub import ENDED, FellBehind, Hub, StreamEnded
from tests.waiting import eventually


def write(log: InMemoryEventLog, count: int) -> None:
    log.append_all([], numbered=Numbered("s", [("values", b"{}")] * count))


async def collect(hub: Hub, after: str, until: int, seen: list[int]) -> None:
    async with contextlib.aclosing(hub.follow("s", after=after, heartbeat=5)) as batches:
        async for batch in batches:
            seen.extend(int(event.id.partition("-")[0]) for event in batch)
            if seen and seen[-1] >= until:
                return


async def test_a_hundred_followers_share_one_blocking_read():
    log = InMemoryEventLog()
    hub = Hub(log)
    seen = [[] for _ in range(100)]
    followers = [asyncio.ensure_future(collect(hub, "0", 5, s)) for s in seen]
    await eventually(lambda: log.waiting("s") == 1, what="one parked read")

    write(log, 5)
    await asyncio.wait_for(asyncio.gather(*followers), 5)

    assert all(s == [1, 2, 3, 4, 5] for s in seen)
    assert "s" not in hub.feeds, "the feed stops with its last follower"


async def test_a_follower_behind_the_feed_catches_up_without_gaps_or_repeats():
    log = InMemoryEventLog()
    hub = Hub(log)
    early, late = [], []
    first = asyncio.ensure_future(collect(hub, "0", 10, early))
    await eventually(lambda: log.waiting("s") == 1, what="the feed to read")
    write(log, 6)
    await eventually(lambda: len(early) == 6, what="the early follower")

    second = asyncio.ensure_future(collect(hub, seq_id(2), 10, late))
    write(log, 4)
    await asyncio.wait_for(asyncio.gather(first, second), 5)

    assert early == list(range(1, 11))
    assert late == list(range(3, 11))


async def test_a_quiet_stream_gives_empty_batches_for_heartbeats(monkeypatch):
    monkeypatch.setattr(hub_module, "TICK_SECONDS", 0.01)
    hub = Hub(InMemoryEventLog())
    async with contextlib.aclosing(hub.follow("s", after="0", heartbeat=0.05)) as batches:
        assert await asyncio.wait_for(anext(batches), 5) == []


async def test_a_first_follower_of_a_long_stream_replays_it_at_its_own_pace(monkeypatch):
    monkeypatch.setattr(hub_module, "MAX_BEHIND", 10)
    log = InMemoryEventLog()
    write(log, 50)
    seen = []
    follower = asyncio.ensure_future(collect(Hub(log), "0", 55, seen))
    await eventually(lambda: len(seen) == 50, what="the replay")
    write(log, 5)
    await asyncio.wait_for(follower, 5)

    assert seen == list(range(1, 56))


async def test_a_follower_that_stops_taking_events_is_dropped(monkeypatch):
    monkeypatch.setattr(hub_module, "MAX_BEHIND", 3)
    log = InMemoryEventLog()
    hub = Hub(log)
    batches = hub.follow("s", after="0", heartbeat=5)
    reading = asyncio.ensure_future(anext(batches))
    await eventually(lambda: log.waiting("s") == 1, what="the feed to read")
    write(log, 1)
    assert len(await reading) == 1  # then this follower stops reading
    for _ in range(4):
        write(log, 1)
        await eventually(lambda: log.waiting("s") == 1, what="the feed to read again")

    with pytest.raises(FellBehind):
        await anext(batches)
    await batches.aclose()


async def test_the_end_of_a_stream_ends_its_followers():
    log = InMemoryEventLog()
    hub = Hub(log)
    batches = hub.follow("s", after="0", heartbeat=5)
    reading = asyncio.ensure_future(anext(batches))
    await eventually(lambda: log.waiting("s") == 1, what="the feed to read")
    log.append_all([], numbered=Numbered("s", [("values", b"{}"), (ENDED, b"{}")]))

    assert [event.event for event in await reading] == ["values"]
    with pytest.raises(StreamEnded):
        await anext(batches)
    await batches.aclose()


# --- taking batches at once ---------------------------------------------------------------------


def numbers(batch) -> list[int]:
    return [int(event.id.partition("-")[0]) for event in batch]


async def follow_with(hub: Hub, direct, seen: list[list[int]]) -> None:
    batches = hub.follow("s", after="0", heartbeat=5, direct=direct)
    async with contextlib.aclosing(batches) as it:
        async for batch in it:
            seen.append(numbers(batch))


async def one_by_one(log: InMemoryEventLog, count: int, *handled: list) -> None:
    """Write ``count`` events, each once the feed reads again and the one before it is in
    one of the ``handled`` lists of batches."""
    for n in range(1, count + 1):
        await eventually(lambda: log.waiting("s") == 1, what="the feed to read")
        write(log, 1)
        await eventually(
            lambda n=n: any(n in batch for batches in handled for batch in batches),
            what=f"event {n} to be handled",
        )


async def test_a_waiting_follower_takes_live_batches_at_once_without_being_woken():
    log = InMemoryEventLog()
    taken, seen = [], []

    def direct(batch) -> bool:
        taken.append(numbers(batch))
        return True

    follower = asyncio.ensure_future(follow_with(Hub(log), direct, seen))

    await one_by_one(log, 3, seen, taken)

    assert seen == []
    assert taken == [[1], [2], [3]]
    follower.cancel()


async def test_a_batch_the_follower_declines_or_fails_on_is_yielded_in_order():
    log = InMemoryEventLog()
    taken, seen = [], []

    def direct(batch) -> bool:
        if numbers(batch) == [3]:
            return False
        if numbers(batch) == [4]:
            raise RuntimeError("broken follower")
        taken.append(numbers(batch))
        return True

    follower = asyncio.ensure_future(follow_with(Hub(log), direct, seen))
    await one_by_one(log, 5, seen, taken)

    assert seen == [[3], [4]]
    assert taken == [[1], [2], [5]]
    follower.cancel()


async def test_a_follower_ahead_of_the_feed_takes_nothing_it_has_at_once():
    log = InMemoryEventLog()
    hub = Hub(log)
    write(log, 2)
    other = asyncio.ensure_future(collect(hub, seq_id(2), 99, []))  # the feed starts at 2
    await eventually(lambda: log.waiting("s") == 1, what="the feed to read")
    taken, seen = [], []

    def direct(batch) -> bool:
        taken.append(numbers(batch))
        return True

    batches = hub.follow("s", after=seq_id(3), heartbeat=5, direct=direct)
    follower = asyncio.ensure_future(anext(batches))
    await eventually(lambda: len(hub.feeds["s"].inboxes) == 2, what="the follower to join")
    write(log, 1)
    await eventually(lambda: log.waiting("s") == 1, what="the feed to read again")
    write(log, 1)
    seen.append(numbers(await asyncio.wait_for(follower, 5)))
    follower = asyncio.ensure_future(anext(batches))
    write(log, 1)
    await eventually(lambda: taken, what="a batch taken at once")

    assert seen == [[4]], "event 3 is skipped, and the first new batch is yielded"
    assert taken == [[5]]
    for task in (follower, other):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await batches.aclose()
