"""Writing an attempt's events in batches, one per turn of the run's event loop.

The graph's event loop hands each chunk's events to a ``Writer`` and goes on; what was handed
over during one turn of the loop goes to the event log together, in one write, as soon as that
turn ends (one Redis round trip for many chunks when the graph is fast, one per chunk when
they come apart, as tokens do). The write happens on the loop's own thread: handing it to
another thread and back cost more CPU than the write itself. Events keep their order; ``drain``
writes what is left, and ``write_last`` writes the run's last batch (it runs where the run's
end is committed).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from apps.streams.eventlog import EventLog, Numbered


class Writer:
    def __init__(self, log: EventLog, streams: Sequence[str], events_stream: str) -> None:
        self.log = log.appender()
        self.streams = streams  # each legacy event goes to every one of these
        self.events_stream = events_stream  # the numbered stream of protocol events
        self._legacy: list[tuple[str, str, bytes]] = []
        self._numbered: list[tuple[str, bytes]] = []
        self._run_start: int | None = None
        self._scheduled = False
        self._failure: Exception | None = None

    def add(
        self,
        legacy: Sequence[tuple[str, bytes]],
        numbered: Sequence[tuple[str, bytes]],
        *,
        run_start: int | None = None,
    ) -> None:
        """Queue legacy ``(event, data)`` and numbered entries (``run_start``: the index, in
        ``numbered``, of the entry that starts a run) for the write at the end of this turn of
        the loop. Raises what an earlier write raised."""
        self._raise_failure()
        if run_start is not None:
            self._run_start = len(self._numbered) + run_start
        self._legacy += [(stream, event, data) for event, data in legacy for stream in self.streams]
        self._numbered += numbered
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._write_queued)

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
        seconds. Call it after ``drain``, with nothing queued."""
        entries = [(stream, event, data) for event, data in legacy for stream in self.streams]
        entries += tail
        batch = Numbered(self.events_stream, numbered, None) if numbered else None
        self.log.append_all(entries, numbered=batch, expire=expire)

    def close(self) -> None:
        """Done writing: give back what the writer held (its connection)."""
        self.log.release()

    async def drain(self) -> None:
        """Write what is queued now; raise what a write raised."""
        self._raise_failure()
        self._write()

    def _write_queued(self) -> None:
        self._scheduled = False
        try:
            self._write()
        except Exception as exc:  # raised to the run by its next add or drain
            self._failure = exc

    def _write(self) -> None:
        legacy, numbered, start = self._legacy, self._numbered, self._run_start
        self._legacy, self._numbered, self._run_start = [], [], None
        batch = Numbered(self.events_stream, numbered, start) if numbered else None
        if legacy or batch is not None:
            self.log.append_all(legacy, numbered=batch)

    def _raise_failure(self) -> None:
        if self._failure is not None:
            error, self._failure = self._failure, None
            raise error
