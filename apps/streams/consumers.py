"""The thread-centric protocol over a websocket (docs/thread-protocol.md §1.3):
``ws://<host>/threads/{id}/stream/events``.

One socket serves one thread: subscriptions (each replays from its ``since`` and then follows
live events), and the same commands as ``POST /threads/{id}/commands``. A pump task reads the
thread's numbered stream after a cursor and sends each live event once when any subscription
wants it; the event log's blocking read is the doorbell, so no channel layer carries events.
Commands run in the receive loop, never in the pump, so a slow command does not hold up
delivery. Under agentserver's own server each event is framed once for all its sockets and a
socket's share of a batch goes out in one write (agentserver/websocket.py).

Authentication happens before anything is sent: with the handshake's headers when they carry
credentials, else with a first frame ``{"id": n, "method": "auth", "params": {"headers": {...}}}``
(or ``{"api_key": "..."}``) within ``AUTH_TIMEOUT`` seconds. Refusals close the socket with
4401 (unauthenticated), 4403 (forbidden) or 4404 (the thread is someone else's). A thread that
does not exist yet is accepted (its first ``run.start`` creates it) and checked again before
its first event goes out.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import orjson
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.core.handlers.asgi import ASGIRequest

from apps.core.dbthreads import db_threads
from apps.core.errors import ApiError, NotFound
from apps.tenancy.authentication import aauthenticate, auth_disabled, auth_scheme
from apps.tenancy.principal import Principal
from apps.threads.models import Thread

from . import commands, protocol
from .eventlog import Event, event_log, id_key, seq_id
from .following import readable_thread, start
from .hub import FellBehind, StreamEnded, follow
from .names import thread_events_stream

logger = logging.getLogger(__name__)

AUTH_TIMEOUT = 10.0
HEARTBEAT_SECONDS = 15.0
MAX_FRAME_BYTES = 256 * 1024
# A long replay goes out in writes of at most this many events, so the transport's
# backpressure is heard between them.
FRAMES_PER_WRITE = 256
# Event names whose filter result a socket keeps before it starts over.
MAX_WANTED = 1024
# Distinct filter sets kept for sockets to share before the table starts over.
MAX_FILTER_SETS = 1024
RATE_PER_SECOND = 10.0
RATE_BURST = 30.0
# A client still over the rate limit this long after it was first refused is closed (4429).
RATE_CLOSE_AFTER = 3.0
CREDENTIAL_HEADERS = (b"x-api-key", b"authorization")
# What a browser sends on its own, whichever page opened the socket.
AMBIENT_HEADERS = (b"cookie", b"authorization")
CLOSE_CODES = {401: 4401, 403: 4403, 404: 4404}


class TokenBucket:
    """``rate`` frames a second on average, ``burst`` at once."""

    def __init__(self, rate: float, burst: float, clock=time.monotonic) -> None:
        self.rate, self.burst, self.clock = rate, burst, clock
        self.tokens, self.stamp = burst, clock()

    def take(self) -> bool:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class ThreadStreamConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        self.principal: Principal | None = None
        self.visible = False  # the thread exists and the principal may read it
        self.subscriptions: dict[str, tuple[protocol.Subscription, int]] = {}  # id: (filter, after)
        self.cursor: str | None = None  # the pump has handled every event up to this id
        self.delivery = asyncio.Lock()  # held while the pump sends a batch or a replay is sent
        self.pump: asyncio.Task | None = None
        self.auth_timer: asyncio.Task | None = None
        self.bucket = TokenBucket(RATE_PER_SECOND, RATE_BURST)
        self.limited_since: float | None = None
        self.next_subscription = 1
        self.last_sent = time.monotonic()
        self.stream = ""
        # Whether each stored event name passes any subscription (reset when they change),
        # and the newest sequence number a subscription starts after.
        self.wanted: dict[str, bool] = {}
        self.newest_start = 0
        self.filters: frozenset = _interned(frozenset())  # what the subscriptions let through
        frames = self.scope.get("extensions", {}).get(protocol.FRAMES_EXTENSION)
        self.send_frames = frames["send"] if frames else None
        self.write_frames = frames["write"] if frames else None
        await self.accept()
        origin = _origin(self.scope["headers"])
        if origin == "refused":
            await self.close(code=4403)
            return
        # Another site's page may use the socket, but not with the user's cookies or cached
        # Authorization: it authenticates explicitly, like its HTTP calls without credentials.
        self.headers = [
            (name, value)
            for name, value in self.scope["headers"]
            if origin == "trusted" or name.lower() not in AMBIENT_HEADERS
        ]
        try:
            self.thread_id = uuid.UUID(str(self.scope["url_route"]["kwargs"]["thread_id"]))
        except ValueError:
            await self.close(code=4404)
            return
        if auth_disabled() or self._has_credentials(self.headers):
            await self._authenticate(self.headers, id=None)
        elif auth_scheme() == "custom":
            # A custom handler may read any header or cookie: try the handshake's, and fall
            # back to the first frame if they do not authenticate.
            await self._authenticate(self.headers, id=None, fallback=True)
        else:
            self.auth_timer = asyncio.ensure_future(self._auth_deadline())

    async def disconnect(self, code: int) -> None:
        for task in (self.pump, self.auth_timer):
            if task is not None:
                task.cancel()

    # --- receiving ------------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.principal is None:
            await self._first_frame(text_data)
            return
        if not await self._within_rate():
            return
        if text_data is None:
            await self._reply(protocol.error(None, "invalid_argument", "Send JSON text frames"))
            return
        if _too_large(text_data):
            message = f"Frames are limited to {MAX_FRAME_BYTES} bytes"
            await self._reply(protocol.error(None, "invalid_argument", message))
            return
        try:
            frame = orjson.loads(text_data)
            command = protocol.command(frame)
        except orjson.JSONDecodeError as exc:
            await self._reply(protocol.error(None, "invalid_argument", f"Invalid JSON: {exc}"))
            return
        except protocol.ProtocolError as exc:
            await self._reply(protocol.error(exc.id, exc.code, exc.message))
            return
        if command.method == "auth":
            await self._reply(protocol.success(command.id, {}))
        elif command.method == "subscription.subscribe":
            await self._subscribe(command)
        elif command.method == "subscription.unsubscribe":
            await self._unsubscribe(command)
        else:
            await self._reply(await commands.execute(self.principal, self.thread_id, command))

    async def _within_rate(self) -> bool:
        if self.bucket.take():
            # Forgiven once the client has slowed down, not at the first frame a refill lets
            # through: a steady flood stays limited and is closed.
            if self.bucket.tokens >= RATE_BURST / 2:
                self.limited_since = None
            return True
        now = time.monotonic()
        if self.limited_since is None:
            self.limited_since = now
        elif now - self.limited_since >= RATE_CLOSE_AFTER:
            await self.close(code=4429)
            return False
        message = f"Too many frames: at most {RATE_PER_SECOND:g} a second; this one was dropped"
        await self._reply(protocol.error(None, "rate_limited", message))
        return False

    # --- authentication -------------------------------------------------------------------

    @staticmethod
    def _has_credentials(headers: list[tuple[bytes, bytes]]) -> bool:
        return any(name.lower() in CREDENTIAL_HEADERS for name, _ in headers)

    async def _first_frame(self, text_data: str | None) -> None:
        """Before authentication only an ``auth`` command is heard; anything else closes the
        socket (4401) without a word."""
        headers = None
        if text_data is not None and not _too_large(text_data):
            with contextlib.suppress(orjson.JSONDecodeError, protocol.ProtocolError):
                command = protocol.command(orjson.loads(text_data))
                if command.method == "auth":
                    headers = _auth_headers(command.params)
        if headers is None:
            await self.close(code=4401)
            return
        extra = [(k.lower().encode("latin-1", "replace"), v.encode()) for k, v in headers.items()]
        await self._authenticate([*self.headers, *extra], id=command.id)

    async def _authenticate(
        self, headers: list[tuple[bytes, bytes]], *, id: int | None, fallback: bool = False
    ) -> None:
        """Authenticate with ``headers`` and check the thread; close with 4401/4403/4404 on
        refusal, or (``fallback``, on 401) wait for an ``auth`` frame instead."""
        scope = {**self.scope, "type": "http", "method": "GET", "headers": headers}
        request = ASGIRequest(scope, io.BytesIO())
        try:
            principal = await aauthenticate(request)
            self.visible = await self._visible(principal)
        except ApiError as exc:
            if fallback and exc.status_code == 401:
                self.auth_timer = asyncio.ensure_future(self._auth_deadline())
            else:
                await self.close(code=CLOSE_CODES.get(exc.status_code, 4403))
            return
        if self.auth_timer is not None:
            self.auth_timer.cancel()
        self.principal = principal
        self.stream = thread_events_stream(principal.tenant_id, self.thread_id)
        if id is not None:
            await self._reply(protocol.success(id, {}))

    async def _visible(self, principal: Principal) -> bool:
        """Whether ``principal`` may read the thread: True; False while the thread does not
        exist yet (a client that mints its id starts the first run over the socket); NotFound
        when it exists and is not theirs."""
        try:
            await readable_thread(principal, self.thread_id)
        except NotFound:
            if await db_threads().arun(Thread.objects.filter(pk=self.thread_id).exists):
                raise
            return False
        return True

    async def _auth_deadline(self) -> None:
        await asyncio.sleep(AUTH_TIMEOUT)
        if self.principal is None:
            await self.close(code=4401)

    # --- subscriptions --------------------------------------------------------------------

    async def _subscribe(self, command: protocol.Command) -> None:
        try:
            subscription = protocol.subscription(command.params)
        except protocol.ProtocolError as exc:
            await self._reply(protocol.error(command.id, exc.code, exc.message))
            return
        # Checked again at each subscription: the thread may exist by now, or have been
        # deleted and made again by someone else under the same id.
        try:
            self.visible = await self._visible(self.principal)
        except ApiError:
            await self.close(code=4404)
            return
        log = event_log()
        after, gap = await start(log, self.stream, subscription.since)
        async with self.delivery:
            if self.cursor is None:
                self.cursor = seq_id((await log.seq_info(self.stream)).last)
            replay = await self._replay(subscription, after, until=self.cursor)
            subscription_id = f"sub-{self.next_subscription}"
            self.next_subscription += 1
            # Live events after the cursor come from the pump; a ``since`` ahead of it
            # skips what the pump has not read yet.
            start_after = max(protocol.seq_of(after), protocol.seq_of(self.cursor))
            self.subscriptions[subscription_id] = (subscription, start_after)
            self._filters_changed()
            self.newest_start = max(self.newest_start, start_after)
            result = {"subscription_id": subscription_id, "replayed_events": len(replay)}
            await self._reply(protocol.success(command.id, result))
            if gap:
                message = "Events after since are no longer kept; resuming"
                await self._reply(protocol.error(None, "resume_gap", message))
            await self._send_events(replay)
        if self.pump is None:
            self.pump = asyncio.ensure_future(self._pump())

    async def _replay(self, subscription: protocol.Subscription, after: str, *, until: str):
        """The kept events in (``after``, ``until``] that ``subscription`` wants."""
        log, events, last = event_log(), [], id_key(until)
        while id_key(after) < last:
            batch = await log.read(self.stream, after=after, timeout=0)
            if not batch:
                break
            for event in batch:
                if id_key(event.id) > last:
                    return events
                if subscription.matches(event.event):
                    events.append(event)
            after = batch[-1].id
        return events

    async def _unsubscribe(self, command: protocol.Command) -> None:
        subscription_id = command.params.get("subscription_id")
        if not isinstance(subscription_id, str):
            message = "subscription_id must be the string subscription.subscribe returned"
            await self._reply(protocol.error(command.id, "invalid_argument", message))
            return
        if self.subscriptions.pop(subscription_id, None) is None:
            message = f"No subscription {str(subscription_id)[:64]!r} on this socket"
            await self._reply(protocol.error(command.id, "no_such_subscription", message))
            return
        self._filters_changed()
        await self._reply(protocol.success(command.id, {}))

    # --- sending --------------------------------------------------------------------------

    async def _pump(self) -> None:
        """Send live events, each once, when any subscription wants it; heartbeats between."""
        direct = self._deliver_now if self.write_frames is not None else None
        try:
            batches = follow(
                self.stream, after=self.cursor, heartbeat=HEARTBEAT_SECONDS, direct=direct
            )
            async with contextlib.aclosing(batches):
                await self._send_batches(batches)
        except asyncio.CancelledError:
            raise
        except FellBehind:
            # The client stopped reading: it may come back with ``since``.
            await self.close(code=1013)
        except StreamEnded:
            await self.close(code=4404)  # the thread was deleted
        except Exception:
            logger.exception("websocket pump of thread %s failed", self.thread_id)
            await self.close(code=1011)

    async def _send_batches(self, batches: AsyncIterator[list[Event]]) -> None:
        """The pump's work on each batch the feed did not deliver directly."""
        async for events in batches:
            if events and not self.visible:
                # The thread appeared after the socket opened: is it the caller's?
                try:
                    self.visible = await self._visible(self.principal)
                except ApiError:
                    await self.close(code=4404)
                    return
            if events:
                async with self.delivery:
                    live = self._live(events)
                    self.cursor = events[-1].id
                    await self._send_events(live)
            if time.monotonic() - self.last_sent >= HEARTBEAT_SECONDS:
                await self._send(orjson.dumps({"type": "heartbeat", "ts": _now_ms()}))

    def _deliver_now(self, events: list[Event]) -> bool:
        """What the pump does with a batch, done at once by the feed when nothing needs
        waiting for (the hub's ``direct``): False, with nothing sent, when something does (a
        visibility check, a subscription or replay under way, a full socket buffer, a batch
        too long for one write)."""
        if not self.visible or self.delivery.locked():
            return False
        live, frames = self._encoded(events)
        if not live and time.monotonic() - self.last_sent >= HEARTBEAT_SECONDS:
            return False  # the pump sends the heartbeat that is due
        if len(live) > FRAMES_PER_WRITE:
            return False
        if live:
            try:
                if not self.write_frames(frames):
                    return False
            except OSError:  # the client left; disconnect() cleans up
                pass
            self.last_sent = time.monotonic()
        self.cursor = events[-1].id
        return True

    def _encoded(self, events: list[Event]) -> tuple[list[Event], bytes]:
        """``_live`` of a live batch and its frames (b"" past ``FRAMES_PER_WRITE``), worked
        out once per batch for every socket with the same filters (most of a thread's), unless
        a subscription of this socket starts inside the batch."""
        global _last_encoded
        batch, filters, first, live, frames = _last_encoded
        if batch is events and filters is self.filters and self.newest_start < first:
            return live, frames
        live = self._live(events)
        frames = _frames(live) if len(live) <= FRAMES_PER_WRITE else b""
        first = protocol.seq_of(events[0].id)
        if self.newest_start < first:
            _last_encoded = (events, self.filters, first, live, frames)
        return live, frames

    def _filters_changed(self) -> None:
        self.wanted = {}
        subscriptions = self.subscriptions.values()
        self.filters = _interned(
            frozenset((s.channels, s.namespaces, s.depth) for s, _ in subscriptions)
        )

    def _live(self, events: list[Event]) -> list[Event]:
        """The events of a batch that some subscription wants."""
        subscriptions = self.subscriptions.values()
        if self.newest_start > protocol.seq_of(self.cursor):
            # A subscription starts inside this batch: what it replayed is not sent again.
            return [
                event
                for event in events
                if any(
                    protocol.seq_of(event.id) > after and subscription.matches(event.event)
                    for subscription, after in subscriptions
                )
            ]
        live = []
        for event in events:
            wanted = self.wanted.get(event.event)
            if wanted is None:
                if len(self.wanted) >= MAX_WANTED:
                    self.wanted.clear()  # names carry task ids: a long-lived socket sees many
                key = event.event
                wanted = self.wanted[key] = any(s.matches(key) for s, _ in subscriptions)
            if wanted:
                live.append(event)
        return live

    async def _send_events(self, events: list[Event]) -> None:
        """Send ``events`` in order: through the server's frames extension when it has one
        (each event framed once for every socket, a delivery in few writes), else one
        ``websocket.send`` each."""
        if self.send_frames is None:
            for event in events:
                await self._send_text(protocol.envelope_text(event))
            return
        for first in range(0, len(events), FRAMES_PER_WRITE):
            frames = _frames(events[first : first + FRAMES_PER_WRITE])
            self.last_sent = time.monotonic()
            try:
                await self.send_frames(frames)
            except OSError:  # the client left; disconnect() cleans up
                return

    async def _reply(self, reply: dict[str, Any]) -> None:
        await self._send(orjson.dumps(reply))

    async def _send(self, frame: bytes) -> None:
        await self._send_text(frame.decode())

    async def _send_text(self, text: str) -> None:
        self.last_sent = time.monotonic()
        with contextlib.suppress(Exception):  # the client left; disconnect() cleans up
            # Straight to the server's ASGI send: this runs once per event and socket.
            await self.base_send({"type": "websocket.send", "text": text})


# The latest live batch a socket encoded: (batch, filters, its first sequence number, the
# events the filters let through, their frames). The sockets that follow a thread share its
# feed's batch objects and mostly subscribe alike, so the rest of them take it from here.
_last_encoded: tuple[Any, ...] = (None, None, 0, [], b"")
# Filter sets by value, so that sockets subscribed alike hold the same object.
_FILTER_SETS: dict[frozenset, frozenset] = {}


def _interned(filters: frozenset) -> frozenset:
    if len(_FILTER_SETS) >= MAX_FILTER_SETS:
        _FILTER_SETS.clear()  # sockets holding the old objects only share less
    return _FILTER_SETS.setdefault(filters, filters)


def _frames(events: list[Event]) -> bytes:
    return b"".join([protocol.envelope_frame(event) for event in events])


def _too_large(text: str) -> bool:
    # Characters count up to 4 bytes in UTF-8: encode only what could be over the limit.
    return len(text) > MAX_FRAME_BYTES // 4 and len(text.encode()) > MAX_FRAME_BYTES


def _origin(headers: list[tuple[bytes, bytes]]) -> str:
    """How far to trust the handshake's Origin, as the API's CORS setting does for HTTP:
    ``trusted`` (no Origin: not a browser; the server's own pages; an origin listed in
    ``CORS_ALLOW_ORIGINS`` with credentials allowed), ``anonymous`` (another site that CORS
    lets call the API, without the user's ambient credentials) or ``refused``."""
    found = {name.lower(): value.decode("latin-1") for name, value in headers}
    origin = found.get(b"origin", "")
    if not origin:
        return "trusted"
    hosts = {found.get(b"host", ""), found.get(b"x-forwarded-host", "")} - {""}
    if urlsplit(origin).netloc.lower() in {host.lower() for host in hosts}:
        return "trusted"
    if origin in settings.CORS_ALLOWED_ORIGINS:
        return "trusted" if getattr(settings, "CORS_ALLOW_CREDENTIALS", False) else "anonymous"
    return "anonymous" if settings.CORS_ALLOW_ALL_ORIGINS else "refused"


def _auth_headers(params: dict[str, Any]) -> dict[str, str] | None:
    """The headers an ``auth`` frame carries (``api_key`` is ``x-api-key``); None if malformed."""
    headers = params.get("headers") or {}
    api_key = params.get("api_key")
    if not isinstance(headers, dict) or (api_key is not None and not isinstance(api_key, str)):
        return None
    if api_key is not None:
        headers = {**headers, "x-api-key": api_key}
    strings = all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items())
    return headers if headers and strings else None


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
