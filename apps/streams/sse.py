"""Server-sent events in the reference server's wire format, and tailing a run's event log."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Collection

from django.http import StreamingHttpResponse

from apps.core.errors import Unprocessable

from .eventlog import Event, EventLog, event_log, id_key

HEARTBEAT = b": heartbeat\r\n\r\n"
# Published whatever the requested stream modes (reference section 5.5, join semantics).
CONTROL_EVENTS = frozenset({"metadata", "error", "end", "feedback"})
# A read that finds nothing returns after this long; waiting simply reads again.
WAIT_READ_TIMEOUT = 20.0


def event_stream_response(frames: AsyncIterator[bytes]) -> StreamingHttpResponse:
    """A streaming ``text/event-stream`` response that caches and proxies must not buffer."""
    response = StreamingHttpResponse(frames, content_type="text/event-stream")
    response["Cache-Control"] = "no-store"
    response["X-Accel-Buffering"] = "no"
    return response


def frame(event: str, data: bytes, *, id: str | None = None) -> bytes:
    """One SSE frame: ``event``, ``data`` and optionally ``id`` lines, CRLF-separated."""
    if not data or data.isspace():
        data = b"null"  # an empty data line makes the JS client's JSON.parse throw
    elif b"\n" in data or b"\r" in data:
        # A raw line break in valid JSON can only be whitespace between tokens, so a space
        # keeps the value and the frame stays one data line (JS joins lines without a separator).
        data = data.replace(b"\r", b" ").replace(b"\n", b" ")
    parts = [b"event: ", event.encode(), b"\r\ndata: ", data]
    if id is not None:
        parts += [b"\r\nid: ", id.encode()]
    parts.append(b"\r\n\r\n")
    return b"".join(parts)


def parse_last_event_id(value: str | None) -> str | None:
    """The id to read after for a ``Last-Event-ID`` header: None (live only), "0" (from the
    beginning, for ``-1`` and ``-``) or the given ``<ms>-<seq>``; 422 for anything else."""
    value = (value or "").strip()
    if not value:
        return None
    if value in {"-1", "-"}:
        return "0"
    try:
        if "-" in value and id_key(value):
            return value
    except ValueError:
        pass
    raise Unprocessable(f"Invalid Last-Event-ID {value[:64]!r}: expected <ms>-<seq>, -1 or -")


def mode_filter(modes: Collection[str] | None) -> Callable[[str], bool] | None:
    """A predicate on event names for the requested stream modes (None: everything passes)."""
    if not modes:
        return None
    wanted = frozenset(modes)
    messages = bool(wanted & {"messages", "messages-tuple"})

    def passes(event: str) -> bool:
        base = event.partition("|")[0]
        return (
            base in CONTROL_EVENTS or base in wanted or (messages and base.startswith("messages"))
        )

    return passes


async def tail(
    stream: str,
    *,
    after: str,
    modes: Collection[str] | None = None,
    with_ids: bool,
    heartbeat: float = 5.0,
    log: EventLog | None = None,
    passes: Callable[[str], bool] | None = None,
    forever: bool = False,
) -> AsyncIterator[bytes]:
    """SSE frames for the events of ``stream`` after ``after``, until and including ``end``
    (or, with ``forever``, until the client leaves). ``passes`` replaces the ``modes`` filter.

    A heartbeat comment goes out whenever ``heartbeat`` seconds pass with nothing sent (also
    before the first event, while the run is queued, and while every event is filtered out).
    ``id:`` lines only when ``with_ids`` (resumable runs).
    """
    log = log or event_log()
    passes = passes or mode_filter(modes)
    loop = asyncio.get_running_loop()
    next_beat = loop.time() + heartbeat
    while True:
        events = await log.read(stream, after=after, timeout=max(0.0, next_beat - loop.time()))
        sent = False
        for event in events:
            after = event.id
            if passes is None or passes(event.event):
                yield frame(event.event, event.data, id=event.id if with_ids else None)
                sent = True
            if event.event == "end" and not forever:
                return
        now = loop.time()
        if sent:
            next_beat = now + heartbeat
        elif now >= next_beat:
            yield HEARTBEAT
            next_beat = loop.time() + heartbeat


async def wait_for_end(stream: str, *, after: str = "0", log: EventLog | None = None) -> Event:
    """The ``end`` event of ``stream``, as soon as it is written (blocking reads, no polling).
    Meant for streams of a few events, such as a run's result stream (its ``end`` alone)."""
    log = log or event_log()
    while True:
        for event in await log.read(stream, after=after, timeout=WAIT_READ_TIMEOUT):
            if event.event == "end":
                return event
            after = event.id
