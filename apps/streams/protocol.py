"""The thread-centric streaming protocol's wire forms (docs/thread-protocol.md §1, §3):
subscription filters, event envelopes for SSE and websockets, command frames and error
envelopes. No I/O here.

An event is stored in the thread's numbered stream as ``event = "<channel>|<ns1>|<ns2>"`` and
``data = <params JSON>``; readers filter on the first and frame by concatenation, so the
params are encoded once, when the executor writes them.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson
from websockets.frames import Frame, Opcode

from .eventlog import Event

T = TypeVar("T")

CHANNELS = frozenset(
    {
        "values",
        "updates",
        "messages",
        "tools",
        "lifecycle",
        "input",
        "checkpoints",
        "tasks",
        "custom",
    }
)
# The largest ``since`` / ``depth`` taken (JavaScript's safe integers; sequence numbers and
# namespaces never get near it).
MAX_COUNT = 2**53 - 1
# The method an event is sent as, for the channels whose name is not the method.
_METHODS = {"input": "input.requested"}
# The ASGI extension through which agentserver's own websocket server takes frames encoded once
# for every socket that sends them (agentserver/websocket.py): ``{"send": async (frames), "write":
# (frames) -> bool}``; ``write`` never waits and says False when the socket cannot take them now.
# Both raise OSError once the socket is closing or closed.
FRAMES_EXTENSION = "agentserver.frames"
# The ASGI extension through which agentserver's server lets an HTTP response write the next
# part of its chunked body itself (agentserver/http.py): ``{"write": (body) -> bool}``, which
# never waits and says False, with nothing written, when the response cannot take it now.
BODY_EXTENSION = "agentserver.body"


class ProtocolError(Exception):
    """A frame or body the protocol refuses; ``id`` is the command's, when it had a usable one."""

    def __init__(self, message: str, *, code: str = "invalid_argument", id: int | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.id = id


# --- events -----------------------------------------------------------------------------------


def channel_of(method: str, data: dict[str, Any]) -> str:
    """The subscription channel of an event: ``custom:<name>`` for a named custom event."""
    if method == "input.requested":
        return "input"
    if method == "custom":
        name = data.get("name")
        # "|" separates the stored key's parts; such a name only matches plain "custom".
        return f"custom:{name}" if isinstance(name, str) and name and "|" not in name else "custom"
    return method


def stored_event(
    method: str, namespace: list[str], data: dict[str, Any], node: str | None = None
) -> tuple[str, bytes]:
    """``(event, data)`` to append to the thread's numbered stream."""
    params: dict[str, Any] = {"namespace": namespace, "timestamp": time.time_ns() // 1_000_000}
    if node is not None:
        params["node"] = node
    params["data"] = data
    key = channel_of(method, data) + "".join(f"|{segment}" for segment in namespace)
    return key, orjson.dumps(params, option=orjson.OPT_NON_STR_KEYS)


def method_of(event: Event) -> str:
    channel = event.event.partition("|")[0]
    return _METHODS.get(channel) or channel.partition(":")[0]


# An event's encodings are made once for all the sockets that send it, and kept for the next
# socket; a larger event is encoded for each socket, so the caches hold little however big a
# thread's state gets.
SHARED_ENCODING_BYTES = 16 * 1024


def _shared(maxsize: int):
    def decorate(encode: Callable[[Event], T]) -> Callable[[Event], T]:
        cached = functools.lru_cache(maxsize=maxsize)(encode)

        @functools.wraps(encode)
        def encoding(event: Event) -> T:
            return cached(event) if len(event.data) <= SHARED_ENCODING_BYTES else encode(event)

        return encoding

    return decorate


@_shared(maxsize=4096)
def envelope_text(event: Event) -> str:
    """``envelope`` as text, made once per event however many sockets send it."""
    return envelope(event).decode()


@_shared(maxsize=1024)
def envelope_frame(event: Event) -> bytes:
    """``envelope`` as a whole websocket text frame from a server (unmasked, uncompressed),
    made once per event however many sockets send it."""
    return Frame(Opcode.TEXT, envelope(event)).serialize(mask=False)


def envelope(event: Event) -> bytes:
    """The event as the protocol's JSON envelope (one line): ``event_id`` is the stored id,
    ``seq`` its number."""
    return b"".join(
        (
            b'{"type":"event","event_id":"',
            event.id.encode(),
            b'","seq":',
            event.id.partition("-")[0].encode(),
            b',"method":"',
            method_of(event).encode(),
            b'","params":',
            event.data,
            b"}",
        )
    )


@_shared(maxsize=1024)
def sse_frame(event: Event) -> bytes:
    """The event as an SSE frame: ``event: <method>``, ``data: <envelope>``, ``id: <seq>``;
    made once per event however many streams send it."""
    return b"".join(
        (
            b"event: ",
            method_of(event).encode(),
            b"\r\ndata: ",
            envelope(event),
            b"\r\nid: ",
            event.id.partition("-")[0].encode(),
            b"\r\n\r\n",
        )
    )


def seq_of(event_id: str) -> int:
    """The sequence number of a numbered stream's id ``"<n>-0"``."""
    return int(event_id.partition("-")[0])


# --- subscriptions ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Subscription:
    """A filter over a thread's events (``channels``, ``namespaces``, ``depth``) and where a
    new one starts (``since``: after that sequence number)."""

    channels: frozenset[str]
    namespaces: tuple[tuple[str, ...], ...] = ()
    depth: int | None = None
    since: int | None = None
    _custom: bool = field(init=False, repr=False, compare=False, default=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_custom", "custom" in self.channels)

    def matches(self, key: str) -> bool:
        """Whether the stored event named ``key`` (``<channel>|<ns1>|...``) passes."""
        return _matches(self, key)

    def _decide(self, key: str) -> bool:
        channel, *namespace = key.split("|")
        if channel not in self.channels and not (self._custom and channel.startswith("custom:")):
            return False
        if not self.namespaces:
            # No namespaces: every namespace, with depth counted from the root (as the JS
            # client does; the Python client sends no depth without namespaces).
            return self.depth is None or len(namespace) <= self.depth
        return any(
            _is_prefix(namespace, prefix)
            and (self.depth is None or len(namespace) - len(prefix) <= self.depth)
            for prefix in self.namespaces
        )


@functools.lru_cache(maxsize=8192)
def _matches(subscription: Subscription, key: str) -> bool:
    # Many connections share few filters and event names: decide each pair once.
    return subscription._decide(key)


def _is_prefix(namespace: list[str], prefix: tuple[str, ...]) -> bool:
    """Segments equal, or a prefix segment without ``:`` names the graph of the event's
    ``<name>:<task id>`` segment."""
    if len(prefix) > len(namespace):
        return False
    for wanted, segment in zip(prefix, namespace, strict=False):
        if segment != wanted and (":" in wanted or segment.partition(":")[0] != wanted):
            return False
    return True


def subscription(params: Any) -> Subscription:
    """A subscription from a ``stream/events`` body or ``subscription.subscribe`` params;
    ProtocolError saying what is wrong otherwise."""
    if not isinstance(params, dict):
        raise ProtocolError("The subscription must be a JSON object")
    unknown = sorted(set(params) - {"channels", "namespaces", "depth", "since"})
    if unknown:
        raise ProtocolError(f"Unknown subscription field(s): {', '.join(unknown)}")
    channels = params.get("channels")
    if not isinstance(channels, list) or not channels:
        raise ProtocolError("channels must be a non-empty list of channel names")
    for channel in channels:
        if not isinstance(channel, str) or not (
            channel in CHANNELS or (channel.startswith("custom:") and len(channel) > 7)
        ):
            raise ProtocolError(
                f"Unknown channel {channel!r}: use {', '.join(sorted(CHANNELS))} or custom:<name>"
            )
    namespaces = params.get("namespaces")
    if namespaces is None:
        namespaces = []
    if not isinstance(namespaces, list) or not all(
        isinstance(ns, list) and all(isinstance(segment, str) for segment in ns)
        for ns in namespaces
    ):
        raise ProtocolError("namespaces must be a list of lists of strings")
    return Subscription(
        channels=frozenset(channels),
        namespaces=tuple(tuple(ns) for ns in namespaces),
        depth=_count(params, "depth"),
        since=_count(params, "since"),
    )


def _count(params: dict[str, Any], name: str) -> int | None:
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNT:
        raise ProtocolError(f"{name} must be an integer from 0 to {MAX_COUNT}")
    return value


# --- commands ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    id: int
    method: str
    params: dict[str, Any]


def command(frame: Any) -> Command:
    """A command frame ``{"id": <int>, "method": <str>, "params": {...}}``."""
    if not isinstance(frame, dict):
        raise ProtocolError("A command must be a JSON object")
    id = frame.get("id")
    if isinstance(id, bool) or not isinstance(id, int) or id < 0:
        raise ProtocolError("A command needs an integer id (0 or more)")
    method = frame.get("method")
    if not isinstance(method, str) or not method:
        raise ProtocolError("A command needs a method name", id=id)
    params = frame.get("params", {})
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise ProtocolError("params must be a JSON object", id=id)
    unknown = sorted(set(frame) - {"id", "method", "params", "type"})
    if unknown:
        raise ProtocolError(f"Unknown command field(s): {', '.join(unknown)}", id=id)
    return Command(id, method, params)


def success(id: int, result: dict[str, Any], meta: dict[str, Any] | None = None) -> dict:
    reply: dict[str, Any] = {"type": "success", "id": id, "result": result}
    if meta:
        reply["meta"] = meta
    return reply


def error(id: int | None, code: str, message: str) -> dict:
    return {"type": "error", "id": id, "error": code, "message": message}
