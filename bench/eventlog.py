"""Benchmark: the event log under many concurrent SSE-style readers.

N reader coroutines (100, 500, 1000) on one event loop tail either one stream each ("own") or
all the same stream ("shared") while a writer thread appends at a fixed rate, for the
in-memory log and for Redis (``REDIS_URL``, default redis://127.0.0.1:6379/15). Prints
delivered events/s and the p50/p99 delay from append to receipt; Redis rows also show the
ratio of delivered events/s to the in-memory run of the same shape.

    .venv/bin/python bench/eventlog.py [--uvloop]

Not part of the test suite; timings are printed, never asserted.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from apps.streams.eventlog import EventLog, InMemoryEventLog, RedisEventLog

READERS = (100, 500, 1000)
SECONDS = 2.0
# Appends per second: into the one shared stream (each is delivered to every reader), and in
# total over the readers' own streams (round robin, each delivered once).
SHARED_RATE = 50
OWN_RATE = 2_000


def write_at_rate(log: EventLog, streams: list[str], rate: float, seconds: float) -> int:
    """Append ``rate`` events/s round robin over ``streams``; each carries its append time."""
    count = int(rate * seconds)
    started = time.perf_counter()
    for n in range(count):
        due = started + n / rate
        pause = due - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        log.append(streams[n % len(streams)], "values", b"%.9f" % time.perf_counter())
    for stream in streams:
        log.append(stream, "end", b"null")
    return count


async def read_until_end(log: EventLog, stream: str, delays: list[float]) -> int:
    after, received = "0", 0
    while True:
        events = await log.read(stream, after=after, timeout=5)
        now = time.perf_counter()
        for event in events:
            if event.event == "end":
                return received
            delays.append(now - float(event.data))
            received += 1
        if events:
            after = events[-1].id


async def scenario(
    log: EventLog, readers: int, shared: bool, seconds: float = SECONDS
) -> tuple[float, float, float]:
    prefix = f"bench-{uuid.uuid4().hex}"
    streams = [prefix] * readers if shared else [f"{prefix}-{n}" for n in range(readers)]
    delays: list[float] = []
    tasks = [asyncio.create_task(read_until_end(log, stream, delays)) for stream in streams]
    await asyncio.sleep(0.2)  # let every reader reach its first blocking read
    rate = SHARED_RATE if shared else OWN_RATE
    started = time.perf_counter()
    writer = asyncio.to_thread(write_at_rate, log, sorted(set(streams)), rate, seconds)
    _, *received = await asyncio.gather(writer, *tasks)
    elapsed = time.perf_counter() - started
    for stream in set(streams):
        log.delete(stream)
    quantiles = statistics.quantiles(delays, n=100)
    return sum(received) / elapsed, quantiles[49] * 1000, quantiles[98] * 1000


async def main() -> None:
    url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/15"
    logs = {"memory": InMemoryEventLog(maxlen=100_000), "redis": RedisEventLog(url, maxlen=100_000)}
    print(f"{SECONDS:.0f} s per row; shared stream {SHARED_RATE}/s, own streams {OWN_RATE}/s total")
    header = ("log", "layout", "readers", "events/s", "p50 ms", "p99 ms", "ratio")
    print("{:<7}{:<8}{:>8}{:>11}{:>9}{:>9}{:>7}".format(*header))
    reference: dict[tuple[bool, int], float] = {}
    for name, log in logs.items():
        await scenario(log, max(READERS), False, seconds=0.5)  # warm up (Redis: connections)
        for shared in (False, True):
            for readers in READERS:
                rate, p50, p99 = await scenario(log, readers, shared)
                if name == "memory":
                    reference[shared, readers] = rate
                ratio = f"{rate / reference[shared, readers]:.2f}"
                layout = "shared" if shared else "own"
                print(
                    f"{name:<7}{layout:<8}{readers:>8}{rate:>11,.0f}{p50:>9.1f}{p99:>9.1f}{ratio:>7}"
                )
    await logs["redis"].aclose()
    logs["redis"].close()


if __name__ == "__main__":
    if "--uvloop" in sys.argv:
        import uvloop

        uvloop.install()
    asyncio.run(main())
