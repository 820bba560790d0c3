"""The per-run event log: an append-only stream of SSE events that readers tail by id.

Production uses one Redis Stream per run; embedded mode an in-process equivalent with the same
interface and the same id format (``<epoch_ms>-<seq>``, strictly increasing per stream), so an
id seen on the wire is a valid ``Last-Event-ID`` for either. Reading after an id never skips or
repeats an event while writers append concurrently.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import heapq
import re
import threading
import time
import weakref
from bisect import bisect_right
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, Protocol

import redis
import redis.asyncio
from django.conf import settings
from redis.exceptions import NoScriptError

KEY_PREFIX = "agentserver:stream:"
# Beside each numbered stream, a hash with its counter ("seq") and replay start ("start").
SEQ_PREFIX = "agentserver:seq:"
DEFAULT_MAXLEN = 100_000
# Events returned by one read at most; callers read again after the last id they got, so a
# replay of a long stream arrives in bounded batches.
READ_BATCH = 1_000
MAX_SEQ = 2**64 - 1  # ids are two unsigned 64-bit numbers in Redis
_ID = re.compile(r"([0-9]{1,20})(?:-([0-9]{1,20}))?")


class Event(NamedTuple):
    id: str  # "<epoch_ms>-<seq>", Redis stream id syntax; strictly increasing per stream
    event: str  # SSE event name: "metadata", "values", "updates|child:abc", "error", "end"
    data: bytes  # one line of JSON, encoded by the caller with apps.core.encoding.dumps


class Numbered(NamedTuple):
    """Entries for a numbered stream: each gets the stream's next sequence number ``n`` as its
    id ``"<n>-0"``, so readers on any connection see the same numbers. ``run_start`` is the
    index of the entry that starts a run (recorded as the stream's replay start), or None."""

    stream: str
    entries: Sequence[tuple[str, bytes]]  # (event, data)
    run_start: int | None = None


class SeqInfo(NamedTuple):
    last: int  # the newest sequence number given out (0: none yet)
    run_start: int  # the number of the latest run's first entry (0: no run yet)
    first: int  # the oldest number still kept (0: the stream is empty or gone)


def seq_id(seq: int) -> str:
    return f"{seq}-0"


class AppendsAll(Protocol):
    def append_all(
        self,
        entries: Sequence[tuple[str, str, bytes]],
        *,
        expire: int | None = None,
        numbered: Numbered | None = None,
    ) -> list[str]:
        """Append ``(stream, event, data)`` entries in order, then the ``numbered`` ones, then
        (with ``expire``) set every touched stream to expire after that many seconds; one
        round trip on Redis. A numbered stream without ``expire`` is kept until told."""
        ...


class Appender(AppendsAll, Protocol):
    def release(self) -> None:
        """Done appending: give back what the appender held."""


class EventLog(AppendsAll, Protocol):
    def append(self, stream: str, event: str, data: bytes) -> str:
        """Add an event (sync, thread-safe); return its id."""

    async def aappend(self, stream: str, event: str, data: bytes) -> str: ...

    def appender(self) -> Appender:
        """``append_all`` for one writer (one call at a time), until its ``release()``."""
        ...

    async def seq_info(self, stream: str) -> SeqInfo:
        """Where a numbered stream stands."""
        ...

    async def read(self, stream: str, *, after: str, timeout: float) -> list[Event]:
        """Events with id > ``after`` in order ("0" or "0-0": from the beginning), at most
        ``READ_BATCH``. Blocks up to ``timeout`` seconds while there are none; [] on timeout."""

    async def last_id(self, stream: str) -> str | None:
        """Id of the newest event; None when the stream is empty or absent."""

    def expire(self, stream: str, seconds: int) -> None:
        """The run ended: the stream disappears after ``seconds``."""

    def delete(self, stream: str) -> None: ...


class _Appender:
    """An appender that holds nothing: the log's own ``append_all``."""

    def __init__(self, log: EventLog) -> None:
        self.append_all = log.append_all

    def release(self) -> None:
        pass


def id_key(event_id: str) -> tuple[int, int]:
    """``"<ms>-<seq>"`` (or a bare ``"<ms>"``, seq 0) as a tuple that orders like the ids."""
    match = _ID.fullmatch(event_id)
    key = (int(match[1]), int(match[2] or 0)) if match else (-1, -1)
    if not (0 <= key[0] <= MAX_SEQ and 0 <= key[1] <= MAX_SEQ):
        raise ValueError(f"invalid event id {event_id!r}")
    return key


def configured_maxlen() -> int:
    return getattr(settings, "AGENTSERVER_EVENTLOG_MAXLEN", DEFAULT_MAXLEN)


# A numbered stream's counter outlives its events this many times over, so numbers (and event
# ids) are not given out twice on a thread whose events expired while a client waited on it.
COUNTER_TTL_FACTOR = 720


def event_ttl_seconds() -> int:
    """How long a stream is kept after the last run that wrote to it ended."""
    return int(getattr(settings, "AGENTSERVER_EVENTLOG_TTL_SECONDS", 3600))


class _Stream:
    __slots__ = ("events", "expires_at", "keys", "last", "numbered", "run_start")

    def __init__(self) -> None:
        self.keys: list[tuple[int, int]] = []  # id_key of each event, for bisect
        self.events: list[Event] = []
        self.last = (0, 0)  # survives trimming, so ids keep increasing
        self.expires_at: float | None = None
        self.numbered = False
        self.run_start = 0  # numbered streams: the sequence number of the latest run's start


def _wake(futures: set[asyncio.Future]) -> None:
    for future in futures:
        if not future.done():
            future.set_result(None)


class InMemoryEventLog:
    """The event log of one process (embedded mode): writers are threads, readers coroutines.

    A blocked reader parks an asyncio future on its own loop; ``append`` pops the parked
    futures of the stream and resolves them with one ``call_soon_threadsafe`` per loop, so a
    thousand readers on one loop cost one wake-up call. Checking for events and parking happen
    under the same lock as appending, so no append slips in between (no lost wake-up). Streams
    keep at most ``maxlen`` events (trimmed in chunks of a tenth, like Redis's ``MAXLEN ~``);
    expired streams are dropped when the log is next written or read.
    """

    def __init__(
        self,
        *,
        maxlen: int | None = None,
        clock: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.maxlen = maxlen or configured_maxlen()
        self._trim_slack = max(1, self.maxlen // 10)
        self._clock = clock  # epoch milliseconds, for ids
        self._monotonic = monotonic  # seconds, for expiry
        self._lock = threading.Lock()
        self._streams: dict[str, _Stream] = {}
        self._expiries: list[tuple[float, str]] = []  # heap; stale entries are skipped
        # The last number of each numbered stream whose events expired (its counter lives on).
        self._retired: dict[str, int] = {}
        self._waiters: dict[str, dict[asyncio.AbstractEventLoop, set[asyncio.Future]]] = {}

    def append(self, stream: str, event: str, data: bytes) -> str:
        return self.append_all([(stream, event, data)])[0]

    async def aappend(self, stream: str, event: str, data: bytes) -> str:
        return self.append(stream, event, data)

    def append_all(
        self,
        entries: Sequence[tuple[str, str, bytes]],
        *,
        expire: int | None = None,
        numbered: Numbered | None = None,
    ) -> list[str]:
        ids, touched = [], {}
        with self._lock:
            for stream, event, data in entries:
                entry = touched[stream] = self._entry(stream)
                # Like Redis: never behind the previous id, even if the wall clock steps back.
                ms = max(self._clock(), entry.last[0])
                key = (ms, entry.last[1] + 1) if ms == entry.last[0] else (ms, 0)
                ids.append(self._add(entry, key, event, data))
            if numbered is not None:
                entry = touched[numbered.stream] = self._entry(numbered.stream)
                if not entry.numbered:  # new, or its events expired: numbers go on
                    entry.numbered = True
                    entry.last = (self._retired.pop(numbered.stream, 0), 0)
                entry.expires_at = None  # kept while runs write to it, like PERSIST on Redis
                for index, (event, data) in enumerate(numbered.entries):
                    key = (entry.last[0] + 1, 0)
                    self._add(entry, key, event, data)
                    if index == numbered.run_start:
                        entry.run_start = key[0]
            if expire is not None:
                deadline = self._monotonic() + expire
                for stream, entry in touched.items():
                    entry.expires_at = deadline
                    heapq.heappush(self._expiries, (deadline, stream))
            waiting = [self._waiters.pop(stream, None) for stream in touched]
        for by_loop in waiting:
            for loop, futures in (by_loop or {}).items():
                with contextlib.suppress(RuntimeError):  # a closed loop: its readers are gone
                    loop.call_soon_threadsafe(_wake, futures)
        return ids

    async def seq_info(self, stream: str) -> SeqInfo:
        with self._lock:
            entry = self._live(stream)
            if entry is None:
                return SeqInfo(self._retired.get(stream, 0), 0, 0)
            first = entry.keys[0][0] if entry.keys else 0
            return SeqInfo(entry.last[0], entry.run_start, first)

    def appender(self) -> Appender:
        return _Appender(self)

    def _entry(self, stream: str) -> _Stream:
        entry = self._live(stream)
        if entry is None:
            entry = self._streams[stream] = _Stream()
        return entry

    def _add(self, entry: _Stream, key: tuple[int, int], event: str, data: bytes) -> str:
        appended = Event(f"{key[0]}-{key[1]}", event, data)
        entry.keys.append(key)
        entry.events.append(appended)
        entry.last = key
        excess = len(entry.keys) - self.maxlen
        if excess >= self._trim_slack:
            del entry.keys[:excess], entry.events[:excess]
        return appended.id

    async def read(self, stream: str, *, after: str, timeout: float) -> list[Event]:
        after_key = id_key(after)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            with self._lock:
                events = self._since(stream, after_key)
                remaining = deadline - loop.time()
                if events or remaining <= 0:
                    return events
                future = loop.create_future()
                self._waiters.setdefault(stream, {}).setdefault(loop, set()).add(future)
            try:
                await asyncio.wait_for(future, remaining)
            except TimeoutError:
                pass  # the next pass returns whatever arrived meanwhile, or []
            finally:
                self._unpark(stream, loop, future)

    async def last_id(self, stream: str) -> str | None:
        with self._lock:
            entry = self._live(stream)
            return entry.events[-1].id if entry and entry.events else None

    def expire(self, stream: str, seconds: int) -> None:
        with self._lock:
            entry = self._live(stream)
            if entry is not None:
                entry.expires_at = self._monotonic() + seconds
                heapq.heappush(self._expiries, (entry.expires_at, stream))

    def delete(self, stream: str) -> None:
        with self._lock:
            self._streams.pop(stream, None)
            self._retired.pop(stream, None)

    def waiting(self, stream: str) -> int:
        """How many readers are blocked on ``stream`` right now (tests, metrics)."""
        with self._lock:
            return sum(len(futures) for futures in self._waiters.get(stream, {}).values())

    def _since(self, stream: str, after_key: tuple[int, int]) -> list[Event]:
        entry = self._live(stream)
        if entry is None:
            return []
        start = bisect_right(entry.keys, after_key)
        return entry.events[start : start + READ_BATCH]

    def _live(self, stream: str) -> _Stream | None:
        """The stream unless it expired; also drops every other stream that expired (lock held)."""
        now = self._monotonic()
        while self._expiries and self._expiries[0][0] <= now:
            _, name = heapq.heappop(self._expiries)
            entry = self._streams.get(name)
            if entry is not None and entry.expires_at is not None and entry.expires_at <= now:
                del self._streams[name]
                if entry.numbered:
                    self._retired[name] = entry.last[0]
        return self._streams.get(stream)

    def _unpark(self, stream: str, loop: asyncio.AbstractEventLoop, future: asyncio.Future) -> None:
        with self._lock:
            by_loop = self._waiters.get(stream)
            if by_loop is None:  # an append already took them
                return
            futures = by_loop.get(loop)
            if futures is not None:
                futures.discard(future)
                if not futures:
                    del by_loop[loop]
            if not by_loop:
                del self._waiters[stream]


# KEYS: the stream, its hash. ARGV: maxlen, the run-start index (1-based, 0: none), the TTL
# in seconds (0: keep; the hash is kept COUNTER_TTL_FACTOR times longer), then event/data
# pairs. Entries get ids "<n>-0" from the hash's counter; a counter lost while the stream
# survived restarts after the stream's newest id. Returns the first number given out.
_APPEND_NUMBERED = """
local seq = tonumber(redis.call('HGET', KEYS[2], 'seq') or '0')
if seq == 0 then
  local newest = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
  if newest[1] then seq = tonumber(string.match(newest[1][1], '^(%d+)')) end
end
local first = seq + 1
local start = tonumber(ARGV[2])
for i = 4, #ARGV, 2 do
  seq = seq + 1
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], seq .. '-0', 'e', ARGV[i], 'd', ARGV[i + 1])
  if (i - 2) / 2 == start then redis.call('HSET', KEYS[2], 'start', seq) end
end
redis.call('HSET', KEYS[2], 'seq', seq)
local ttl = tonumber(ARGV[3])
if ttl > 0 then
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('EXPIRE', KEYS[2], ttl * COUNTER_TTL_FACTOR)
else
  redis.call('PERSIST', KEYS[1])
  redis.call('PERSIST', KEYS[2])
end
return first
""".replace("COUNTER_TTL_FACTOR", str(COUNTER_TTL_FACTOR))


class _OnLoop:
    """What a RedisEventLog keeps per event loop: its client and the XREADs in flight."""

    __slots__ = ("client", "reads")

    def __init__(self, client: redis.asyncio.Redis) -> None:
        self.client = client
        self.reads: dict[tuple[str, str], asyncio.Task[list[Event]]] = {}

    def forget(self, key: tuple[str, str], task: asyncio.Task) -> None:
        if self.reads.get(key) is task:
            del self.reads[key]
        if not task.cancelled():
            task.exception()  # seen by whoever awaited it; don't log it again as unretrieved


class RedisEventLog:
    """The event log on Redis Streams: ``XADD`` capped with ``MAXLEN ~``, ``XREAD BLOCK``.

    Entries are ``{"e": event, "d": data}`` under ``agentserver:stream:<stream>``; Redis makes
    the ids. ``append`` uses a thread-safe sync client; async methods use one redis.asyncio
    client per event loop (an asyncio connection belongs to the loop that opened it, and
    embedded workers and the ASGI server run different loops). Readers on one loop waiting at
    the same position of the same stream share one blocking XREAD, so a run followed by many
    clients costs one Redis round trip per batch, not one per client.
    """

    # redis-py's defaults (socket timeout 5 s, 100 connections per pool) would cut long
    # XREAD BLOCKs and cap concurrent readers; the URL can still override these.
    CLIENT_OPTIONS = {"socket_timeout": 30.0, "socket_connect_timeout": 5.0}
    ASYNC_MAX_CONNECTIONS = 10_000

    def __init__(self, url: str, *, maxlen: int | None = None) -> None:
        self.url = url
        self.maxlen = maxlen or configured_maxlen()
        self._client = redis.Redis.from_url(url, **self.CLIENT_OPTIONS)
        self._append_numbered = self._client.register_script(_APPEND_NUMBERED)
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _OnLoop] = (
            weakref.WeakKeyDictionary()
        )
        self._lock = threading.Lock()
        # A BLOCK must end before the socket timeout, or the client reports a timeout error.
        socket_timeout = self._client.connection_pool.connection_kwargs.get("socket_timeout")
        self._max_block_ms = int(socket_timeout * 800) if socket_timeout else None

    def append(self, stream: str, event: str, data: bytes) -> str:
        fields = {"e": event, "d": data}
        event_id = self._client.xadd(
            KEY_PREFIX + stream, fields, maxlen=self.maxlen, approximate=True
        )
        return event_id.decode()

    def append_all(
        self,
        entries: Sequence[tuple[str, str, bytes]],
        *,
        expire: int | None = None,
        numbered: Numbered | None = None,
    ) -> list[str]:
        commands, script = self._append_commands(entries, expire, numbered)
        pipe = self._client.pipeline(transaction=False)
        for command in commands:
            pipe.execute_command(*command)
        return self._appended(entries, pipe.execute(raise_on_error=False), script)

    def _append_commands(
        self,
        entries: Sequence[tuple[str, str, bytes]],
        expire: int | None,
        numbered: Numbered | None,
    ) -> tuple[list[tuple[Any, ...]], tuple[list[str], list[Any]] | None]:
        """The commands of one ``append_all``, and the KEYS and ARGV of its numbered script
        (None without numbered entries)."""
        commands: list[tuple[Any, ...]] = [
            ("XADD", KEY_PREFIX + stream, "MAXLEN", "~", self.maxlen, "*", "e", event, "d", data)
            for stream, event, data in entries
        ]
        script = None
        if numbered is not None and numbered.entries:
            keys, args = script = self._numbered_script(numbered, expire)
            # EVALSHA by hand: a registered script in a pipeline costs a SCRIPT EXISTS
            # round trip on every execute.
            commands.append(("EVALSHA", self._append_numbered.sha, len(keys), *keys, *args))
        if expire is not None:
            for stream in dict.fromkeys(stream for stream, _, _ in entries):
                commands.append(("EXPIRE", KEY_PREFIX + stream, expire))
        return commands, script

    def _appended(
        self,
        entries: Sequence[tuple[str, str, bytes]],
        results: list[Any],
        script: tuple[list[str], list[Any]] | None,
    ) -> list[str]:
        """``append_all``'s ids from the replies to its commands (errors in their place)."""
        if script is not None and isinstance(results[len(entries)], NoScriptError):
            # Redis lost its script cache (a restart): load the script and append again.
            results[len(entries)] = self._append_numbered(keys=script[0], args=script[1])
        for result in results:
            if isinstance(result, Exception):
                raise result
        return [event_id.decode() for event_id in results[: len(entries)]]

    def _numbered_script(
        self, numbered: Numbered, expire: int | None
    ) -> tuple[list[str], list[Any]]:
        """KEYS and ARGV of the script that appends ``numbered``."""
        start = 0 if numbered.run_start is None else numbered.run_start + 1
        args: list[Any] = [self.maxlen, start, expire or 0]
        for event, data in numbered.entries:
            args += [event, data]
        return [KEY_PREFIX + numbered.stream, SEQ_PREFIX + numbered.stream], args

    def appender(self) -> Appender:
        return _HeldAppender(self)

    async def seq_info(self, stream: str) -> SeqInfo:
        pipe = self._on_loop().client.pipeline(transaction=False)
        pipe.hmget(SEQ_PREFIX + stream, "seq", "start")
        pipe.xrange(KEY_PREFIX + stream, count=1)
        (last, start), oldest = await pipe.execute()
        first = id_key(oldest[0][0].decode())[0] if oldest else 0
        return SeqInfo(int(last or 0), int(start or 0), first)

    async def aappend(self, stream: str, event: str, data: bytes) -> str:
        fields = {"e": event, "d": data}
        event_id = await self._on_loop().client.xadd(
            KEY_PREFIX + stream, fields, maxlen=self.maxlen, approximate=True
        )
        return event_id.decode()

    async def read(self, stream: str, *, after: str, timeout: float) -> list[Event]:
        id_key(after)  # a malformed id is a ValueError here, as in memory, not a ResponseError
        on_loop = self._on_loop()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        remaining = timeout
        while remaining > 0:
            key = (stream, after)
            shared = on_loop.reads.get(key)
            if shared is None:
                shared = loop.create_task(self._xread(on_loop.client, stream, after, remaining))
                shared.add_done_callback(functools.partial(on_loop.forget, key))
                on_loop.reads[key] = shared
            try:
                # shield: one reader leaving (timeout, disconnect) must not cancel the others'.
                events = await asyncio.wait_for(asyncio.shield(shared), remaining)
            except TimeoutError:
                return []
            if events:
                return list(events)  # the list is shared with the other readers
            remaining = deadline - loop.time()  # the shared BLOCK was shorter than ours
        return await self._xread(on_loop.client, stream, after, 0)

    async def _xread(
        self, client: redis.asyncio.Redis, stream: str, after: str, seconds: float
    ) -> list[Event]:
        block = int(seconds * 1000)
        if self._max_block_ms is not None:
            block = min(block, self._max_block_ms)
        reply = await client.xread(
            {KEY_PREFIX + stream: after}, count=READ_BATCH, block=block if block > 0 else None
        )
        if not reply:
            return []
        # RESP2 answers [[key, entries]], RESP3 {key: [entries]}.
        entries = reply[0][1] if isinstance(reply, list) else next(iter(reply.values()))[0]
        return [Event(i.decode(), f[b"e"].decode(), f[b"d"]) for i, f in entries]

    async def last_id(self, stream: str) -> str | None:
        newest = await self._on_loop().client.xrevrange(KEY_PREFIX + stream, count=1)
        return newest[0][0].decode() if newest else None

    def expire(self, stream: str, seconds: int) -> None:
        self._client.expire(KEY_PREFIX + stream, seconds)

    def delete(self, stream: str) -> None:
        self._client.delete(KEY_PREFIX + stream, SEQ_PREFIX + stream)

    def close(self) -> None:
        """Close the sync pool (the async clients close with :meth:`aclose` on their loop)."""
        self._client.close()

    async def aclose(self) -> None:
        """Stop the reads in flight on the running loop and close its client."""
        with self._lock:
            on_loop = self._loops.pop(asyncio.get_running_loop(), None)
        if on_loop is None:
            return
        for task in list(on_loop.reads.values()):
            task.cancel()
        await asyncio.gather(*on_loop.reads.values(), return_exceptions=True)
        await on_loop.client.aclose()

    def _on_loop(self) -> _OnLoop:
        loop = asyncio.get_running_loop()
        with self._lock:
            on_loop = self._loops.get(loop)
            if on_loop is None:
                client = redis.asyncio.Redis.from_url(
                    self.url, max_connections=self.ASYNC_MAX_CONNECTIONS, **self.CLIENT_OPTIONS
                )
                on_loop = self._loops[loop] = _OnLoop(client)
            return on_loop


class _HeldAppender:
    """Appends for one writer down a connection of its own, kept until ``release()``.

    A run streaming tokens appends once per token: through the pool, each append's checkout,
    health check and pipeline cost the worker 0.1-0.3 ms of CPU more than down a held
    connection (docs/thread-protocol.md). The commands are those of the pooled path, sent
    together and answered in order; a script cache Redis lost is handled as there, and an
    append the held connection fails (a lost connection) is made again through the pool, on a
    new connection, as the pooled path's own retry would.
    """

    def __init__(self, log: RedisEventLog) -> None:
        self.log = log
        self.connection: Any = None

    def append_all(
        self,
        entries: Sequence[tuple[str, str, bytes]],
        *,
        expire: int | None = None,
        numbered: Numbered | None = None,
    ) -> list[str]:
        commands, script = self.log._append_commands(entries, expire, numbered)
        if not commands:
            return []
        try:
            if self.connection is None:
                self.connection = self.log._client.connection_pool.get_connection()
            results = self._send(self.connection, commands)
        except (redis.ConnectionError, redis.TimeoutError):
            self._drop()
            return self.log.append_all(entries, expire=expire, numbered=numbered)
        except BaseException:
            self._drop()  # replies may be left unread: a later append would take them as its own
            raise
        return self.log._appended(entries, results, script)

    @staticmethod
    def _send(connection: Any, commands: list[tuple[Any, ...]]) -> list[Any]:
        """Every command's reply, or the error Redis answered it with."""
        connection.send_packed_command(connection.pack_commands(commands))
        results: list[Any] = []
        for _ in commands:
            try:
                results.append(connection.read_response())
            except redis.ResponseError as error:  # read whole: the connection stays in step
                results.append(error)
        return results

    def release(self) -> None:
        if self.connection is not None:
            self.log._client.connection_pool.release(self.connection)
            self.connection = None

    def _drop(self) -> None:
        if self.connection is not None:
            self.connection.disconnect()
            self.release()


_log: EventLog | None = None
_log_lock = threading.Lock()


def event_log() -> EventLog:
    """The process-wide event log: Redis when ``REDIS_URL`` is set, else in memory."""
    global _log
    with _log_lock:
        if _log is None:
            url = settings.REDIS_URL
            _log = RedisEventLog(url) if url else InMemoryEventLog()
        return _log
