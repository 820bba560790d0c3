"""From LangGraph stream chunks to the reference's SSE events (reference §5.2-5.4).

LangGraph streams ``(namespace, mode, data)``; the wire names an event after its mode
(``messages-tuple`` → ``messages``; legacy ``messages`` → ``messages/metadata``,
``messages/partial``, ``messages/complete``), suffixed ``|ns1|ns2`` inside subgraphs.
``updates`` and ``values`` are always streamed internally: the final values answer /wait and
interrupts are collected from ``updates``. LangGraph ≥ 1.2 already puts ``__interrupt__`` into
the ``values`` chunk, which is how a client that did not ask for ``updates`` sees it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from langchain_core.messages import BaseMessage, BaseMessageChunk

from apps.core.encoding import dumps, to_jsonable
from apps.streams.names import run_result_stream, run_stream, thread_stream

INTERNAL_MODES = ("updates", "values")
# The reference masks the message of exceptions outside this set.
SAFE_ERRORS = {
    "ValueError",
    "TypeError",
    "KeyError",
    "RuntimeError",
    "TimeoutError",
    "IndexError",
    "AttributeError",
    "NotImplementedError",
    "AssertionError",
    "GraphRecursionError",
    "InvalidUpdateError",
    "GraphInterrupt",
    "EmptyInputError",
    "HTTPException",
    "HTTPStatusError",
    "CancelledError",
    "UserCancelled",
}


def graph_modes(requested: list[str]) -> list[str]:
    """The LangGraph stream modes to run with for the requested wire modes."""
    modes = {"messages" if m in ("messages", "messages-tuple") else m for m in requested}
    modes.discard("events")
    modes.update(INTERNAL_MODES)
    return sorted(modes)


def run_end_entries(run_id: str, thread_id: str, status: str, output: Any) -> list[tuple]:
    """The legacy streams' last entries of a run, ``(stream, event, data)``: the /wait body,
    the run stream's ``end`` and the thread stream's ``run_done``."""
    return [
        (run_result_stream(run_id), "end", dumps(output)),
        (run_stream(run_id), "end", dumps({"run_id": run_id, "status": status})),
        (thread_stream(thread_id), "metadata", dumps({"status": "run_done", "run_id": run_id})),
    ]


def error_payload(exc: BaseException) -> dict[str, str]:
    name = type(exc).__name__
    message = str(exc) if name in SAFE_ERRORS else "An internal error occurred"
    return {"error": name, "message": message}


class ChunkTranslator:
    """Turns chunks into (event, data) pairs for ``emit`` and remembers what /wait answers."""

    def __init__(self, requested: list[str], emit: Callable[[str, Any], None]) -> None:
        self.requested = set(requested)
        self.emit = emit
        self.values: Any = None
        self.interrupts: list[Any] = []
        self._partial: dict[str, BaseMessageChunk] = {}
        self._seen_ids: set[str] = set()

    def chunk(self, namespace: tuple[str, ...], mode: str, data: Any) -> None:
        suffix = "".join(f"|{part}" for part in namespace)
        root = not namespace
        if mode == "values":
            if root:
                interrupted = isinstance(data, dict) and "__interrupt__" in data
                self.values = (
                    {k: v for k, v in data.items() if k != "__interrupt__"} if interrupted else data
                )
            if "values" in self.requested:
                self.emit(f"values{suffix}", data)
        elif mode == "updates":
            interrupts = data.get("__interrupt__") if isinstance(data, dict) else None
            if root and interrupts:
                self.interrupts.extend(interrupts)
            if "updates" in self.requested:
                self.emit(f"updates{suffix}", data)
        elif mode == "messages":
            self._message(suffix, *data)
        elif mode in self.requested:
            self.emit(f"{mode}{suffix}", data)

    def _message(self, suffix: str, message: BaseMessage, metadata: dict[str, Any]) -> None:
        if "messages-tuple" in self.requested:
            self.emit(f"messages{suffix}", [message, metadata])
        if "messages" not in self.requested:
            return
        message_id = message.id or ""
        if message_id not in self._seen_ids:
            self._seen_ids.add(message_id)
            self.emit(f"messages/metadata{suffix}", {message_id: {"metadata": metadata}})
        if isinstance(message, BaseMessageChunk):
            so_far = self._partial.get(message_id)
            so_far = message if so_far is None else so_far + message
            self._partial[message_id] = so_far
            self.emit(f"messages/partial{suffix}", [so_far])
        else:
            self._partial.pop(message_id, None)
            self.emit(f"messages/complete{suffix}", [message])

    def output(self) -> Any:
        """The /wait body of a run that ended without error."""
        if self.interrupts:
            return {"__interrupt__": to_jsonable(self.interrupts)}
        return to_jsonable(self.values) if self.values is not None else {}
