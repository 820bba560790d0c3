"""Fan-out of numbered streams inside one process: however many connections follow a thread,
the process reads its stream once.

A ``Feed`` per stream and event loop holds one blocking read after its cursor and hands every
batch to each follower's inbox (a deque and a future: no task, no Redis call, no timer per
follower and batch; one ticker per loop wakes the followers that have been quiet too long, for
their heartbeats). A follower that starts behind the feed reads the missing part from the
log itself, then takes the feed's batches from where its replay stopped, so it sees every
event once and in order. A follower that can handle a batch without waiting (a websocket whose
server takes pre-encoded frames) does so in the feed's turn when it is idle, and its task is not
woken at all. A feed whose last follower leaves stops reading.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Callable

from .eventlog import Event, EventLog, event_log, id_key

logger = logging.getLogger(__name__)

# A feed's blocking read returns at least this often (then simply reads again).
READ_TIMEOUT = 20.0
# How often the ticker looks for followers due a heartbeat.
TICK_SECONDS = 1.0
# A follower this many events behind is dropped (it reconnects with ``since``), so a client
# that stops reading cannot make the process hold its thread's events without end.
MAX_BEHIND = 10_000


# What a follower may give ``follow`` to take a batch in the feed's turn, synchronously: True
# when it handled the batch as it would have after ``follow`` yielded it; False to have it
# yielded as usual.
Direct = Callable[[list[Event]], bool]


class FellBehind(Exception):
    """The follower stopped taking events; its connection should close."""


class StreamEnded(Exception):
    """The stream's thread was deleted: nothing more will come for its followers."""


# Written to a thread's numbered stream when the thread is deleted: it matches no
# subscription, and it ends the feed (a thread made later with the same id, perhaps by someone
# else, is not followed by the connections of the old one).
ENDED = "thread.deleted"


class Inbox:
    """Batches for one follower, woken by the feed; or taken at once by its ``direct``."""

    __slots__ = ("batches", "behind", "direct", "failed", "heartbeat", "last", "waiter")

    def __init__(self, heartbeat: float, now: float) -> None:
        self.batches: collections.deque[list[Event]] = collections.deque()
        self.behind = 0  # events in ``batches``
        self.waiter: asyncio.Future | None = None
        self.failed: BaseException | None = None
        self.heartbeat = heartbeat  # an empty batch after this long without one
        self.last = now  # loop time of the last batch put
        self.direct: Direct | None = None

    def put(self, batch: list[Event], now: float) -> None:
        self.last = now
        # The follower waits for its next batch, so it has handled every earlier one: if it
        # can take this one in the feed's turn, it need not be woken.
        waiting = self.waiter is not None and not self.waiter.done()
        if batch and waiting and self.direct is not None and self._taken(batch):
            return
        self.behind += len(batch)
        if self.behind > MAX_BEHIND:
            self.batches.clear()
            self.fail(FellBehind(f"more than {MAX_BEHIND} events behind"))
            return
        self.batches.append(batch)
        self._wake()

    def _taken(self, batch: list[Event]) -> bool:
        try:
            return self.direct(batch)
        except Exception:  # the follower's fault: it gets the batch the usual way
            logger.exception("a follower failed to take a batch directly")
            return False

    def fail(self, error: BaseException) -> None:
        self.failed = error
        self._wake()

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    async def get(self) -> list[Event]:
        """The next batch ([] is a heartbeat)."""
        if not self.batches and self.failed is None:
            self.waiter = asyncio.get_running_loop().create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None
        if self.batches:  # what came before a failure still goes out
            batch = self.batches.popleft()
            self.behind -= len(batch)
            return batch
        if self.failed is not None:
            raise self.failed
        return []


class Feed:
    """One stream's reader on one event loop, and the inboxes it fills."""

    def __init__(self, hub: Hub, stream: str, after: str) -> None:
        self.hub, self.stream, self.cursor = hub, stream, after
        self.inboxes: set[Inbox] = set()
        self.task = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        try:
            while True:
                log = self.hub.log
                events = await log.read(self.stream, after=self.cursor, timeout=READ_TIMEOUT)
                if events:
                    self.cursor = events[-1].id
                    now = asyncio.get_running_loop().time()
                    ended = next((i for i, e in enumerate(events) if e.event == ENDED), None)
                    for inbox in self.inboxes:
                        inbox.put(events if ended is None else events[:ended], now)
                    if ended is not None:
                        self._end(StreamEnded(f"{self.stream} ended"))
                        return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.exception("reading %s failed", self.stream)
            self._end(exc)

    def _end(self, error: BaseException) -> None:
        for inbox in self.inboxes:
            inbox.fail(error)
        if self.hub.feeds.get(self.stream) is self:
            del self.hub.feeds[self.stream]


class Hub:
    """The feeds of one event loop."""

    def __init__(self, log: EventLog) -> None:
        self.log = log
        self.feeds: dict[str, Feed] = {}
        self.ticker: asyncio.Task | None = None

    async def _tick(self) -> None:
        """Once a second: an empty batch for every follower quiet for its heartbeat."""
        loop = asyncio.get_running_loop()
        while self.feeds:
            await asyncio.sleep(TICK_SECONDS)
            now = loop.time()
            for feed in list(self.feeds.values()):
                for inbox in feed.inboxes:
                    if now - inbox.last >= inbox.heartbeat:
                        inbox.put([], now)
        self.ticker = None

    async def follow(
        self, stream: str, *, after: str, heartbeat: float, direct: Direct | None = None
    ) -> AsyncIterator[list[Event]]:
        """Batches of the events of ``stream`` after ``after``, in order: the kept ones, then
        each new one as it is written; an empty batch whenever ``heartbeat`` seconds pass
        without one. Runs until the caller stops iterating. Once the caller is following live
        events and waits for the next batch, a new one goes to ``direct`` first, and is yielded
        only if ``direct`` declines it."""
        feed = self.feeds.get(stream)
        if feed is None:
            # The feed starts at the stream's end, so it never reads history faster than a
            # follower takes it: followers replay what they need themselves.
            newest = await self.log.last_id(stream) or "0"
            feed = self.feeds.get(stream)  # another follower may have made it meanwhile
            if feed is None:
                feed = self.feeds[stream] = Feed(self, stream, newest)
        loop = asyncio.get_running_loop()
        if self.ticker is None:
            self.ticker = loop.create_task(self._tick())
        inbox = Inbox(heartbeat, loop.time())
        feed.inboxes.add(inbox)
        # What the feed had read before we joined, we read ourselves; the rest comes from it.
        joined_at = feed.cursor
        try:
            while id_key(after) < id_key(joined_at):
                batch = await self.log.read(stream, after=after, timeout=0)
                batch = [event for event in batch if id_key(event.id) <= id_key(joined_at)]
                if not batch:
                    break
                after = batch[-1].id
                yield batch
            # The feed's batches come after ``joined_at``: a follower that starts further on
            # skips what it already has from the first ones.
            overlap = id_key(after) > id_key(joined_at)
            if not overlap:
                inbox.direct = direct
            while True:
                batch = await inbox.get()
                if batch and overlap:
                    batch = [event for event in batch if id_key(event.id) > id_key(after)]
                    if not batch:
                        continue
                    overlap = False
                    inbox.direct = direct  # from now on every batch is wholly new
                yield batch
        finally:
            feed.inboxes.discard(inbox)
            if not feed.inboxes and self.feeds.get(stream) is feed:
                del self.feeds[stream]
                feed.task.cancel()


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub] = weakref.WeakKeyDictionary()


def hub() -> Hub:
    """The running event loop's hub over the process's event log."""
    loop = asyncio.get_running_loop()
    found = _hubs.get(loop)
    if found is None:
        found = _hubs[loop] = Hub(event_log())
    return found


def follow(
    stream: str, *, after: str, heartbeat: float, direct: Direct | None = None
) -> AsyncGenerator[list[Event], None]:
    """``Hub.follow`` on the running loop's hub. Close it when done (``contextlib.aclosing``):
    the follower leaves the feed at once, not when the generator is collected."""
    return hub().follow(stream, after=after, heartbeat=heartbeat, direct=direct)
