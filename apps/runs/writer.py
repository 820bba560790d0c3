"""Writing an attempt's events without holding up its graph.

The graph's event loop hands each chunk's events to a ``Writer`` and goes on; one write at a
time goes to the event log on a worker thread, and whatever was emitted while it was in flight
goes out together in the next one (one Redis round trip for many chunks when the graph is
fast). Events keep their order; ``drain`` waits for everything, and ``write_last`` writes the
run's last batch (synchronously: it runs where the run's end is committed).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from apps.streams.eventlog import EventLog, Numbered

# Shared by every attempt of the process: each run has its own event loop (Celery runs it with
# asyncio.run), whose default executor would start a thread per run.
_threads = ThreadPoolExecutor(max_workers=4, thread_name_prefix="event-writer")


class Writer:
    def __init__(self, log: EventLog, streams: Sequence[str], events_stream: str) -> None:
        self.log = log
        self.streams = streams  # each legacy event goes to every one of these
        self.events_stream = events_stream  # the numbered stream of protocol events
        self._legacy: list[tuple[str, str, bytes]] = []
        self._numbered: list[tuple[str, bytes]] = []
        self._run_start: int | None = None
        self._writing: asyncio.Task | None = None

    def add(
        self,
        legacy: Sequence[tuple[str, bytes]],
        numbered: Sequence[tuple[str, bytes]],
        *,
        run_start: int | None = None,
    ) -> None:
        """Queue legacy ``(event, data)`` and numbered entries (``run_start``: the index, in
        ``numbered``, of the entry that starts a run); a write starts unless one is running."""
        if run_start is not None:
            self._run_start = len(self._numbered) + run_start
        self._legacy += [(stream, event, data) for event, data in legacy for stream in self.streams]
        self._numbered += numbered
        if self._writing is None or self._writing.done():
            self._raise_failure()
            self._writing = asyncio.ensure_future(self._write_pending())

    def write_last(
        self,
        legacy: Sequence[tuple[str, bytes]],
        numbered: Sequence[tuple[str, bytes]],
        *,
        tail: Sequence[tuple[str, str, bytes]] = (),
        expire: int | None = None,
    ) -> None:
        """``legacy`` and ``numbered`` as in ``add``, then ``tail`` (``(stream, event,
        data)``), in one write that sets every stream it touches to expire after ``expire``
        seconds. Blocking; call it after ``drain``, with nothing queued."""
        entries = [(stream, event, data) for event, data in legacy for stream in self.streams]
        entries += tail
        batch = Numbered(self.events_stream, numbered, None) if numbered else None
        self.log.append_all(entries, numbered=batch, expire=expire)

    async def drain(self) -> None:
        """Wait for the writes in flight and queued; raise what a write raised."""
        while self._writing is not None and not self._writing.done():
            await asyncio.shield(self._writing)
        self._raise_failure()
        if self._legacy or self._numbered:
            await self._write(None)

    async def _write_pending(self) -> None:
        while self._legacy or self._numbered:
            await self._write(None)

    async def _write(self, expire: int | None) -> None:
        legacy, numbered, start = self._legacy, self._numbered, self._run_start
        self._legacy, self._numbered, self._run_start = [], [], None
        batch = Numbered(self.events_stream, numbered, start) if numbered else None
        if legacy or batch is not None:
            loop = asyncio.get_running_loop()
            write = functools.partial(self.log.append_all, legacy, numbered=batch, expire=expire)
            await loop.run_in_executor(_threads, write)

    def _raise_failure(self) -> None:
        writing = self._writing
        if writing is not None and writing.done() and not writing.cancelled():
            self._writing = None
            error = writing.exception()
            if error is not None:
                raise error
