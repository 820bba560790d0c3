"""The thread-centric protocol over HTTP (docs/thread-protocol.md §1.1, §1.2): commands, and
an SSE stream of the thread's events that follows every run until the client leaves."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import orjson
from django.http import HttpRequest, HttpResponse, JsonResponse

from apps.core.asyncviews import async_api
from apps.core.errors import BadRequest
from apps.core.params import path_uuid
from apps.threads.views import thread_join_stream

from . import commands, protocol
from .eventlog import Event, event_log
from .following import readable_thread, start
from .hub import StreamEnded, follow
from .names import thread_events_stream
from .sse import HEARTBEAT, event_stream_response

CONNECTED = b": connected\r\n\r\n"
HEARTBEAT_SECONDS = 5.0


def _json(request: HttpRequest) -> object:
    try:
        return orjson.loads(request.body)
    except orjson.JSONDecodeError as exc:
        raise protocol.ProtocolError(f"Invalid JSON body: {exc}") from None


@async_api("POST")
async def thread_commands(request: HttpRequest, thread_id: str) -> HttpResponse:
    """``POST /threads/{id}/commands``: one command; 200 with its success or error envelope,
    400 with an error envelope when the body is not a command at all."""
    thread_uuid = path_uuid(thread_id, "thread")
    try:
        command = protocol.command(_json(request))
    except protocol.ProtocolError as exc:
        return JsonResponse(protocol.error(exc.id, exc.code, exc.message), status=400)
    return JsonResponse(await commands.execute(request.principal, thread_uuid, command))


@async_api("POST")
async def thread_stream_events(request: HttpRequest, thread_id: str) -> HttpResponse:
    """``POST /threads/{id}/stream/events``: the thread's events that pass the body's filter,
    from ``since`` (or the latest run's start), then live across runs, as SSE."""
    thread_uuid = path_uuid(thread_id, "thread")
    try:
        subscription = protocol.subscription(_json(request))
    except protocol.ProtocolError as exc:
        raise BadRequest(exc.message) from None
    await readable_thread(request.principal, thread_uuid)
    stream = thread_events_stream(request.principal.tenant_id, thread_uuid)
    extensions = getattr(request, "scope", {}).get("extensions") or {}
    write = (extensions.get(protocol.BODY_EXTENSION) or {}).get("write")
    return event_stream_response(_frames(stream, subscription, write))


async def _frames(
    stream: str, subscription: protocol.Subscription, write: Callable[[bytes], bool] | None
) -> AsyncIterator[bytes]:
    """The SSE body: ``: connected``, then the frames of each batch that passes
    ``subscription``, joined (one write per batch: what a busy run costs is the writes), and
    heartbeats between. With the server's ``write`` (agentserver/http.py) a live batch goes
    out in the feed's turn while this generator waits for it (so after all it yielded), and
    the response's task is not woken."""
    # Headers and a first line at once: the Python client gives up on a stream whose
    # response has not started within 5 s, and a queued run may write nothing for longer.
    yield CONNECTED
    after, gap = await start(event_log(), stream, subscription.since)
    if gap:
        yield _error_frame("resume_gap", "Events after since are no longer kept; resuming")
    loop = asyncio.get_running_loop()
    quiet_since = loop.time()
    matches = subscription.matches

    def encoded(batch: list[Event]) -> bytes:
        """The frames of the batch's events that pass, joined (b"" when none does)."""
        return b"".join([protocol.sse_frame(event) for event in batch if matches(event.event)])

    def deliver_now(batch: list[Event]) -> bool:
        nonlocal quiet_since
        frames = encoded(batch)
        if not frames:
            return loop.time() - quiet_since < HEARTBEAT_SECONDS  # a due heartbeat is yielded
        if not write(frames):
            return False
        quiet_since = loop.time()
        return True

    direct = deliver_now if write is not None else None
    batches = follow(stream, after=after, heartbeat=HEARTBEAT_SECONDS, direct=direct)
    # StreamEnded: the thread was deleted, and the stream ends.
    with contextlib.suppress(StreamEnded):
        async with contextlib.aclosing(batches):
            async for batch in batches:
                frames = encoded(batch)
                if frames:
                    yield frames
                    quiet_since = loop.time()
                elif loop.time() - quiet_since >= HEARTBEAT_SECONDS:
                    yield HEARTBEAT
                    quiet_since = loop.time()


def _error_frame(code: str, message: str) -> bytes:
    data = orjson.dumps(protocol.error(None, code, message))
    return b"event: error\r\ndata: " + data + b"\r\n\r\n"


@async_api("GET", "POST")
async def thread_stream(request: HttpRequest, thread_id: str) -> HttpResponse:
    """``/threads/{id}/stream``: ``GET`` is the thread join stream (reference §5.6), ``POST``
    the protocol's event stream (its README's path)."""
    if request.method == "GET":
        return await thread_join_stream(request, thread_id)
    return await thread_stream_events(request, thread_id)
