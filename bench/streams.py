#!/usr/bin/env python
"""Many clients following token-streaming runs through one web process of the production shape.

    /work/main/.venv/bin/python bench/streams.py [--transport ws|sse|both]
        [--subscribers 100,500,1000] [--threads 10] [--tokens 200] [--pause-ms 20]
        [--client lean|library] [--profile]

Starts agentserver like bench/api.py (a fresh PostgreSQL database ``bench_api_*``, Redis with a
private Celery queue, ``agentserver migrate``, one ``agentserver worker --pool threads``) and,
for every transport and subscriber count N, a fresh ``agentserver serve`` (so its memory starts
from the same point). This process is the load generator: asyncio on uvloop, N subscribers
spread evenly over ``--threads`` threads, each subscribed to
``{"channels": ["messages", "lifecycle"], "namespaces": [[]], "depth": 0}`` of its thread
(docs/thread-protocol.md §1.2, §1.3) over a websocket or SSE. The clients are, by default,
lean ones written here (``--client lean``: the request, then websocket frames or SSE events
parsed straight off each read), because the load generator shares the cores it measures and
the libraries' clients cost more CPU per event than the server does; ``--client library``
uses ``websockets``' asyncio client with its defaults, as ``langgraph_sdk`` connects, and
``httpx`` for SSE.
Once every subscriber is subscribed, one ``run.start`` per thread starts the ``talk`` graph
(bench/streams_project: a fake chat model streaming ``--tokens`` tokens, ``--pause-ms`` apart),
and the phase ends when every subscriber has seen its thread's root ``lifecycle``
``completed``.

Reported per phase: events delivered (and per subscriber, against what the run wrote),
delivered events/s, delivery delay (receive wall clock - ``params.timestamp``, the worker's
wall clock when it produced the event; same machine, millisecond resolution) p50/p99/max,
with the lean clients also up to the kernel's receive timestamp of the bytes (so
without this process's own lateness), the web process's RSS before and with all connections
open (so KiB per connection) and its peak, and CPU seconds of the web process, the worker
and this load generator (also per event delivered and per token written, so phases of
different sizes compare). Everything
shares the machine's cores (PostgreSQL and Redis too); the load generator's own event-loop
lag is printed so a slow client is not mistaken for a slow server. ``--profile`` samples the
web process with py-spy during the largest phase and prints where its time went.

Target (issue): 1,000 subscribers on 2 cores with p99 delivery delay <= 100 ms; printed as a
ratio, never asserted. Bounded runtime (a few minutes); logs stay in the temporary folder.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import contextlib
import hashlib
import os
import resource
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson
import uvloop
from api import (
    AGENTSERVER,
    REDIS_URL,
    ROOT,
    Processes,
    bench_database,
    forget_queue,
    free_port,
    percentile,
    progress,
    signal_group,
    tail,
    wait_ok,
)
from websockets.asyncio.client import connect as ws_connect
from websockets.frames import Frame, Opcode

CONFIG = ROOT / "bench" / "streams_project" / "langgraph.json"
FILTER = {"channels": ["messages", "lifecycle"], "namespaces": [[]], "depth": 0}
INPUT = {"messages": [{"role": "user", "content": "hi"}]}
TARGET_SUBSCRIBERS, TARGET_P99_MS = 1000, 100.0
TERMINAL = frozenset({"completed", "failed", "interrupted"})
OPEN_AT_ONCE = 50  # handshakes in flight while connecting, so the listen backlog never overflows
CONNECT_CAP, RUN_CAP = 90.0, 120.0  # seconds per phase
TICK = os.sysconf("SC_CLK_TCK")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


# ------------------------------------------------------------------------------------------
# Subscribers


class Follower:
    """One subscriber of one thread: what it received, and the delay of each event."""

    def __init__(self, thread_id: str, delays: list[float], arrivals: list[float]) -> None:
        self.thread_id = thread_id
        self.delays = delays  # shared by the phase's followers, seconds
        self.arrivals = arrivals  # the same, up to the event's arrival in the socket
        self.ready = asyncio.Event()  # subscribed (or failed)
        self.done = asyncio.Event()  # the root run ended (or the follower failed)
        self.events = 0
        self.outcome: str | None = None
        self.error: str | None = None
        self.written: tuple[int, int] | None = None  # first and last params.timestamp

    def take(self, envelope: str | bytes, received: int, arrived: int | None = None) -> None:
        frame = orjson.loads(envelope)
        if frame.get("type") != "event":
            return  # heartbeats
        params = frame["params"]
        stamp = params["timestamp"]
        self.delays.append((received - stamp) / 1000)
        if arrived is not None:
            self.arrivals.append((arrived - stamp) / 1000)
        self.events += 1
        self.written = (self.written[0] if self.written else stamp, stamp)
        root = frame["method"] == "lifecycle" and not params["namespace"]
        if root and params["data"].get("event") in TERMINAL:
            self.outcome = params["data"]["event"]
            self.done.set()

    def fail(self, exc: BaseException) -> None:
        self.error = f"{type(exc).__name__}: {exc}"[:300]
        self.ready.set()
        self.done.set()


async def follow_ws(
    url: str, follower: Follower, release: asyncio.Event, compression: str | None
) -> None:
    ws_url = url.replace("http://", "ws://", 1) + f"/threads/{follower.thread_id}/stream/events"
    subscribe = {"id": 1, "method": "subscription.subscribe", "params": FILTER}
    # ping_interval=None: an overloaded server must not be measured as disconnected clients.
    options = {"max_size": None, "ping_interval": None, "open_timeout": 60}
    async with ws_connect(ws_url, compression=compression, **options) as ws:
        await ws.send(orjson.dumps(subscribe).decode())
        async for raw in ws:
            received = now_ms()
            if not follower.ready.is_set():
                reply = orjson.loads(raw)
                if reply.get("type") == "error":
                    raise RuntimeError(f"subscribe refused: {raw[:200]!r}")
                if reply.get("type") == "success" and reply.get("id") == 1:
                    follower.ready.set()
                continue
            follower.take(raw, received)
            if follower.done.is_set():
                break
        await release.wait()


# Linux: a receive timestamp (CLOCK_REALTIME, struct timespec) with every recvmsg.
SO_TIMESTAMPNS = 35
TIMESPEC = struct.Struct("qq")


class LeanConnection:
    """The load generator's own client socket, with nothing it does not use, so that on a
    machine it shares with the server it takes as little CPU as it can: it sends an HTTP
    request, checks the response head (``accept``), then hands the body's bytes to
    ``body_received``. It reads the socket itself, with the kernel's receive timestamp
    (``arrived``: when the bytes reached this socket, however late this busy process gets to
    them). Subclasses speak the transport: each complete message goes to
    ``on_text(payload, received_ms, arrived_ms)``."""

    def __init__(self, sock: socket.socket, request: bytes, on_text, on_lost) -> None:
        self.sock = sock
        self.on_text, self.on_lost = on_text, on_lost
        self.loop = asyncio.get_running_loop()
        self.opened = self.loop.create_future()
        self.open = False
        self.buffer = bytearray()
        self.closed = False
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.loop.add_reader(sock.fileno(), self._readable)
        sock.sendall(request)

    def _readable(self) -> None:
        try:
            data, ancillary, _, _ = self.sock.recvmsg(262144, 64)
        except BlockingIOError:
            return
        except OSError as exc:
            self._lost(exc)
            return
        if not data:
            self._lost(None)
            return
        arrived = None
        for level, kind, value in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                seconds, nanoseconds = TIMESPEC.unpack_from(value)
                arrived = seconds * 1000 + nanoseconds // 1_000_000
        if not self.open:
            self.buffer += data
            if not self._head():
                return
            data = bytes(self.buffer)
            self.buffer.clear()
        self.body_received(data, now_ms(), arrived)

    def _head(self) -> bool:
        """Take the response head off the buffer: True once the body has begun."""
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return False
        head = bytes(self.buffer[:end])
        del self.buffer[: end + 4]
        status, *lines = head.split(b"\r\n")
        fields = dict(line.partition(b":")[::2] for line in lines)
        fields = {name.strip().lower(): value.strip().lower() for name, value in fields.items()}
        if not self.accept(status, fields):
            self.opened.set_exception(ConnectionError(f"refused: {head[:200]!r}"))
            self.close()
            return False
        self.open = True
        self.opened.set_result(None)
        return True

    def accept(self, status: bytes, fields: dict[bytes, bytes]) -> bool:
        raise NotImplementedError

    def body_received(self, data: bytes, received: int, arrived: int | None) -> None:
        raise NotImplementedError

    def _lost(self, exc: BaseException | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError("closed before the response"))
        self.close()
        self.on_lost(exc)

    def write(self, data: bytes) -> None:
        if not self.closed:
            self.sock.sendall(data)  # a few small writes: the send buffer always has room

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.loop.remove_reader(self.sock.fileno())
        self.sock.close()


class LeanWebsocket(LeanConnection):
    """RFC 6455's handshake, then every complete text frame of each read goes to
    ``on_text``; pings are answered and a close ends it. No compression, no fragments (the
    server sends neither)."""

    def __init__(self, sock: socket.socket, host: str, path: str, on_text, on_lost) -> None:
        key = base64.b64encode(os.urandom(16))
        digest = hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest()
        self.expected = base64.b64encode(digest).lower()
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        ).encode()
        super().__init__(
            sock, request + b"Sec-WebSocket-Key: " + key + b"\r\n\r\n", on_text, on_lost
        )

    def accept(self, status: bytes, fields: dict[bytes, bytes]) -> bool:
        return (
            status[:12] == b"HTTP/1.1 101" and fields.get(b"sec-websocket-accept") == self.expected
        )

    def send_text(self, text: bytes) -> None:
        self.write(Frame(Opcode.TEXT, text).serialize(mask=True))

    def close(self) -> None:
        if not self.closed:
            with contextlib.suppress(OSError):
                self.write(Frame(Opcode.CLOSE, b"\x03\xe8").serialize(mask=True))
        super().close()

    def body_received(self, data: bytes, received: int, arrived: int | None) -> None:
        if self.buffer:
            self.buffer += data
            data = bytes(self.buffer)
            self.buffer.clear()
        at, size = 0, len(data)
        while size - at >= 2:
            first, length, start = data[at], data[at + 1] & 0x7F, at + 2
            if length >= 126:
                start += 2 if length == 126 else 8
                if start > size:
                    break
                length = int.from_bytes(data[at + 2 : start], "big")
            if start + length > size:
                break
            payload, at = data[start : start + length], start + length
            opcode = first & 0x0F
            if opcode == Opcode.TEXT.value and first & 0x80:
                self.on_text(payload, received, arrived)
            elif opcode == Opcode.PING.value:
                self.write(Frame(Opcode.PONG, payload).serialize(mask=True))
            elif opcode == Opcode.CLOSE.value:
                self.close()
                return
            elif opcode != Opcode.PONG.value:
                self.on_lost(RuntimeError(f"unexpected frame (opcode {opcode}, fin {first >> 7})"))
                self.close()
                return
        if at < size:
            self.buffer += data[at:]  # a frame's beginning: the rest comes with the next read


class LeanEventStream(LeanConnection):
    """``POST`` of a JSON body, then the ``text/event-stream`` response (chunked or not): the
    ``data`` of every complete event goes to ``on_text``, and the ``: connected`` comment to
    ``on_connected``. Events are separated by a blank line, lines end with CRLF (as
    agentserver writes them)."""

    def __init__(self, sock, host: str, path: str, body: bytes, on_text, on_connected, on_lost):
        request = (
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        self.on_connected = on_connected
        self.chunked = False
        self.chunks = bytearray()  # undecoded chunked transfer coding
        super().__init__(sock, request + body, on_text, on_lost)

    def accept(self, status: bytes, fields: dict[bytes, bytes]) -> bool:
        self.chunked = fields.get(b"transfer-encoding") == b"chunked"
        return status[:12] == b"HTTP/1.1 200"

    def body_received(self, data: bytes, received: int, arrived: int | None) -> None:
        if self.chunked:
            data = self._dechunk(data)
        buffer = self.buffer
        buffer += data
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        at = 0
        while end >= 0:
            block = bytes(buffer[at:end])
            at = end + 4
            end = buffer.find(b"\r\n\r\n", at)
            for line in block.split(b"\r\n"):
                if line.startswith(b"data: "):
                    self.on_text(line[6:], received, arrived)
                elif line.startswith(b": connected"):
                    self.on_connected()
        del buffer[:at]

    def _dechunk(self, data: bytes) -> bytes:
        """The payload of the complete chunks received so far; the rest waits for more."""
        chunks = self.chunks
        chunks += data
        out, at = [], 0
        while True:
            line_end = chunks.find(b"\r\n", at)
            if line_end < 0:
                break
            size = int(bytes(chunks[at:line_end]).split(b";")[0], 16)
            start = line_end + 2
            if size == 0 or start + size + 2 > len(chunks):
                if size == 0:
                    at = len(chunks)  # the last chunk: the response is over
                break
            out.append(bytes(chunks[start : start + size]))
            at = start + size + 2
        del chunks[:at]
        return b"".join(out)


async def lean_socket(url: str) -> tuple[socket.socket, str]:
    host = url.removeprefix("http://")
    address, _, port = host.rpartition(":")
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        await loop.sock_connect(sock, (address, int(port)))
    except OSError:
        sock.close()
        raise
    return sock, host


def lean_handlers(follower: Follower):
    """``on_text`` and ``on_lost`` of a lean client that follows for ``follower``."""

    def on_text(payload: bytes, received: int, arrived: int | None) -> None:
        try:
            if follower.ready.is_set():
                follower.take(payload, received, arrived)
                return
            reply = orjson.loads(payload)
            if reply.get("type") == "error":
                raise RuntimeError(f"subscribe refused: {payload[:200]!r}")
            if reply.get("type") == "success" and reply.get("id") == 1:
                follower.ready.set()
        except Exception as exc:
            follower.fail(exc)

    def on_lost(exc: BaseException | None) -> None:
        if not follower.done.is_set():
            follower.fail(exc or ConnectionError("the server closed the socket"))

    return on_text, on_lost


async def follow_lean_ws(url: str, follower: Follower, release: asyncio.Event) -> None:
    sock, host = await lean_socket(url)
    on_text, on_lost = lean_handlers(follower)
    path = f"/threads/{follower.thread_id}/stream/events"
    client = LeanWebsocket(sock, host, path, on_text, on_lost)
    try:
        await asyncio.wait_for(client.opened, 60)
        subscribe = {"id": 1, "method": "subscription.subscribe", "params": FILTER}
        client.send_text(orjson.dumps(subscribe))
        await follower.done.wait()
        await release.wait()
    finally:
        client.close()


async def follow_lean_sse(url: str, follower: Follower, release: asyncio.Event) -> None:
    sock, host = await lean_socket(url)
    on_text, on_lost = lean_handlers(follower)
    path = f"/threads/{follower.thread_id}/stream/events"
    client = LeanEventStream(
        sock, host, path, orjson.dumps(FILTER), on_text, follower.ready.set, on_lost
    )
    try:
        await asyncio.wait_for(client.opened, 60)
        await follower.done.wait()
        await release.wait()
    finally:
        client.close()


async def follow_sse(client: httpx.AsyncClient, follower: Follower, release: asyncio.Event) -> None:
    path = f"/threads/{follower.thread_id}/stream/events"
    async with client.stream("POST", path, json=FILTER) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            received = now_ms()
            if line.startswith(": connected"):
                follower.ready.set()  # events written from now on are replayed or followed
            elif line.startswith("data: "):
                follower.take(line[6:], received)
                if follower.done.is_set():
                    break
        await release.wait()


# ------------------------------------------------------------------------------------------
# Measuring the server's processes (Linux /proc)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def group_cpu(pgid: int) -> tuple[float, float]:
    """CPU seconds (user, system) of every live process in process group ``pgid``."""
    user = system = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid:  # fields[0] is field 3 of proc(5), "state"
            user, system = user + int(fields[11]), system + int(fields[12])
    return user / TICK, system / TICK


def machine_cpu() -> float:
    """CPU seconds every core spent busy since boot (/proc/stat: all but idle and iowait)."""
    ticks = [int(t) for t in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / TICK


def cpu_now(shape: Shape) -> dict[str, float]:
    """CPU seconds so far: web (and its system part), worker, this process, the machine."""
    web_user, web_sys = group_cpu(shape.web_pid)
    worker = sum(group_cpu(shape.worker_pgid))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    load = usage.ru_utime + usage.ru_stime
    return {"web": web_user + web_sys, "web_sys": web_sys, "worker": worker, "load": load,
            "machine": machine_cpu()}  # fmt: skip


async def loop_lag(samples: list[float], stop: asyncio.Event) -> None:
    """How late this process's event loop wakes from 10 ms sleeps (seconds)."""
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        planned = loop.time() + 0.01
        await asyncio.sleep(0.01)
        samples.append(max(0.0, loop.time() - planned))


async def rss_peak(pid: int, peak: list[int], stop: asyncio.Event) -> None:
    while not stop.is_set():
        with contextlib.suppress(OSError):
            peak[0] = max(peak[0], rss_kib(pid))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.1)


# ------------------------------------------------------------------------------------------
# One phase: N subscribers, one run per thread


@dataclass
class Phase:
    transport: str
    subscribers: int
    threads: int
    connect_s: float = 0.0
    rss_before: int = 0  # KiB
    rss_open: int = 0
    rss_peak: int = 0
    web_threads: int = 0  # OS threads of the web process with every connection open
    duration: float = 0.0  # first run.start sent to the last subscriber's terminal event
    events: int = 0
    per_subscriber: collections.Counter = field(default_factory=collections.Counter)
    written_s: float = 0.0  # mean span of a run's params.timestamps (how long it took to write)
    delays: list[float] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)  # delays up to the socket (lean clients)
    lags: list[float] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass
class Shape:
    url: str
    web_pid: int
    worker_pgid: int
    args: argparse.Namespace
    tmp: Path


async def run_phase(
    shape: Shape, transport: str, n: int, threads: int, tokens: int, profile: bool = False
) -> Phase:
    phase = Phase(transport, n, threads)
    limits = httpx.Limits(max_connections=n + 16, max_keepalive_connections=n + 16)
    timeout = httpx.Timeout(30, read=60)
    async with (
        httpx.AsyncClient(base_url=shape.url, timeout=timeout) as control,
        httpx.AsyncClient(base_url=shape.url, timeout=timeout, limits=limits) as streams,
    ):
        thread_ids = []
        for _ in range(threads):
            response = await control.post("/threads", json={})
            response.raise_for_status()
            thread_ids.append(response.json()["thread_id"])
        followers = [
            Follower(thread_ids[i % threads], phase.delays, phase.arrivals) for i in range(n)
        ]
        release = asyncio.Event()

        async def follow(follower: Follower) -> None:
            try:
                if shape.args.client == "lean":
                    lean = follow_lean_ws if transport == "ws" else follow_lean_sse
                    await lean(shape.url, follower, release)
                elif transport == "ws":
                    compression = None if shape.args.no_ws_compression else "deflate"
                    await follow_ws(shape.url, follower, release, compression)
                else:
                    await follow_sse(streams, follower, release)
            except Exception as exc:
                follower.fail(exc)

        phase.rss_before = rss_kib(shape.web_pid)
        tasks: list[asyncio.Task] = []
        started = time.perf_counter()
        try:
            for first in range(0, n, OPEN_AT_ONCE):
                batch = followers[first : first + OPEN_AT_ONCE]
                tasks += [asyncio.create_task(follow(f)) for f in batch]
                left = CONNECT_CAP - (time.perf_counter() - started)
                await asyncio.wait_for(asyncio.gather(*(f.ready.wait() for f in batch)), left)
            phase.connect_s = time.perf_counter() - started
            phase.rss_open = rss_kib(shape.web_pid)
            phase.web_threads = len(os.listdir(f"/proc/{shape.web_pid}/task"))
            await measure_runs(shape, phase, control, followers, thread_ids, tokens, profile)
        except TimeoutError:
            phase.notes.append("cut short: not every subscriber was ready or done in time")
        except (RuntimeError, httpx.HTTPError) as exc:
            phase.notes.append(f"cut short: {type(exc).__name__}: {exc}"[:400])
        finally:
            release.set()
            _, pending = await asyncio.wait(tasks, timeout=30) if tasks else (set(), set())
            for task in pending:
                task.cancel()
        failed = [f.error for f in followers if f.error]
        if failed:
            phase.notes.append(f"{len(failed)} subscribers failed, first: {failed[0]}")
        outcomes = collections.Counter(f.outcome for f in followers if not f.error)
        if set(outcomes) - {"completed"}:
            phase.notes.append(f"run outcomes seen by subscribers: {dict(outcomes)}")
        phase.events = sum(f.events for f in followers)
        phase.per_subscriber = collections.Counter(f.events for f in followers)
        spans = {f.thread_id: f.written for f in followers if f.written and f.outcome}
        if spans:
            phase.written_s = sum(b - a for a, b in spans.values()) / len(spans) / 1000
    return phase


async def start_run(control: httpx.AsyncClient, thread_id: str, config: dict) -> None:
    """``run.start`` of the ``talk`` graph on the thread (POST /threads/{id}/commands)."""
    params = {"assistant_id": "talk", "input": INPUT, "config": config}
    command = {"id": 1, "method": "run.start", "params": params}
    reply = (await control.post(f"/threads/{thread_id}/commands", json=command)).json()
    if reply.get("type") != "success":
        raise RuntimeError(f"run.start: {orjson.dumps(reply)[:300]!r}")


async def measure_runs(
    shape: Shape,
    phase: Phase,
    control: httpx.AsyncClient,
    followers: list[Follower],
    thread_ids: list[str],
    tokens: int,
    profile: bool,
) -> None:
    """Start one run per thread and wait for every follower to see it end; CPU, RSS, lag."""
    stop = asyncio.Event()
    peak = [phase.rss_open]
    watchers = [
        asyncio.create_task(rss_peak(shape.web_pid, peak, stop)),
        asyncio.create_task(loop_lag(phase.lags, stop)),
    ]
    spy = start_profile(shape, phase) if profile else None
    cpu_before = cpu_now(shape)
    started = time.perf_counter()
    config = {"configurable": {"tokens": tokens, "pause_ms": shape.args.pause_ms}}
    try:
        await asyncio.gather(*(start_run(control, t, config) for t in thread_ids))
        left = RUN_CAP - (time.perf_counter() - started)
        await asyncio.wait_for(asyncio.gather(*(f.done.wait() for f in followers)), left)
    finally:
        phase.duration = time.perf_counter() - started
        cpu = {key: value - cpu_before[key] for key, value in cpu_now(shape).items()}
        cpu["rest"] = cpu.pop("machine") - cpu["web"] - cpu["worker"] - cpu["load"]
        phase.cpu = cpu
        stop.set()
        await asyncio.gather(*watchers)
        phase.rss_peak = peak[0]
        if spy is not None:
            stop_profile(spy, phase)


# ------------------------------------------------------------------------------------------
# Profiling the web process (py-spy, optional)


def start_profile(shape: Shape, phase: Phase) -> tuple[subprocess.Popen, Path] | None:
    binary = shape.args.py_spy
    if not Path(binary).is_file():
        phase.notes.append(f"--profile: no py-spy at {binary!r} (pass --py-spy PATH)")
        return None
    out = shape.tmp / f"py-spy-{phase.transport}-{phase.subscribers}.txt"
    argv = [binary, "record", "--pid", str(shape.web_pid), "--format", "raw", "--rate", "100"]
    # --gil: only the thread holding the GIL (the event loop, in practice); sampling every one
    # of an SSE server's threads (one per open request) falls seconds behind.
    argv += ["--gil", "--nonblocking", "--output", str(out)]
    log = open(shape.tmp / "py-spy.log", "ab")  # noqa: SIM115 (closed with the process)
    child = subprocess.Popen(argv, stdout=log, stderr=log, start_new_session=True)
    log.close()
    return child, out


def stop_profile(spy: tuple[subprocess.Popen, Path], phase: Phase) -> None:
    child, out = spy
    signal_group(child, signal.SIGINT)  # py-spy writes its output on SIGINT
    try:
        child.wait(30)
    except subprocess.TimeoutExpired:
        signal_group(child, signal.SIGKILL)
        child.wait(5)
    phase.notes.append(f"py-spy samples (collapsed stacks): {out}")


# Frames every sample of the event loop runs under: left out of the inclusive ranking.
OUTER_FRAMES = ("<module>", "cli.py", "uvicorn/main.py", "uvicorn/server.py", "_compat.py",
                "asyncio/runners.py", "threading.py")  # fmt: skip


def print_profile(path: Path, top: int = 15) -> None:
    """Self and inclusive sample shares of the busiest frames in a py-spy raw file."""
    self_counts: collections.Counter = collections.Counter()
    inclusive: collections.Counter = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        frames = stack.split(";")
        total += int(count)
        self_counts[frames[-1]] += int(count)
        for frame in set(frames):
            if not any(outer in frame for outer in OUTER_FRAMES):
                inclusive[frame] += int(count)
    if not total:
        return
    print(f"\nweb process profile ({path.name}: {total} samples of the GIL holder, 100/s)")
    for title, counts in (("self", self_counts), ("inclusive", inclusive)):
        print(f"  top {top} by {title} time:")
        for frame, count in counts.most_common(top):
            print(f"    {100 * count / total:5.1f}%  {frame[:140]}")


# ------------------------------------------------------------------------------------------
# The production shape


def start_web(shape_env: dict[str, str], tmp: Path, name: str) -> tuple[Processes, str]:
    processes = Processes(tmp)
    port = free_port()
    argv = [str(AGENTSERVER), "serve", "--config", str(CONFIG), "--host", "127.0.0.1"]
    argv += ["--port", str(port), "--server-log-level", "warning"]
    processes.start(name, argv, shape_env, ROOT)
    url = f"http://127.0.0.1:{port}"
    wait_ok(url, processes)
    return processes, url


def phases(args: argparse.Namespace, tmp: Path) -> list[Phase]:
    results: list[Phase] = []
    queue = f"bench-streams-{uuid.uuid4().hex[:8]}"
    worker = Processes(tmp)
    try:
        with bench_database() as database_url:
            env = {
                **os.environ,
                "DATABASE_URL": database_url,
                "REDIS_URL": REDIS_URL,
                "AGENTSERVER_QUEUE": queue,
                "AGENTSERVER_DATA_DIR": str(tmp / "agentserver-data"),
                "AGENTSERVER_AUTH": "none",
            }
            progress(f"migrating {database_url.rsplit('/', 1)[1]}")
            with open(tmp / "migrate.log", "wb") as log:
                subprocess.run(
                    [str(AGENTSERVER), "migrate", "--config", str(CONFIG)],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    timeout=120,
                    check=True,
                )
            celery = ["--pool", "threads", "--concurrency", str(args.threads)]
            celery += ["--without-heartbeat", "--without-mingle", "--without-gossip"]
            worker_argv = [str(AGENTSERVER), "worker", "--config", str(CONFIG), "--", *celery]
            worker.start("worker", [*worker_argv, "--loglevel", "WARNING"], env, ROOT)
            largest = max(args.subscribers)
            for transport in args.transports:
                for n in args.subscribers:
                    name = f"web-{transport}-{n}"
                    web, url = start_web(env, tmp, name)
                    try:
                        worker.check()
                        web_pid, worker_pid = web.children[0][1].pid, worker.children[0][1].pid
                        shape = Shape(url, web_pid, worker_pid, args, tmp)
                        # Warm-up: imports, connections and the graph, in this web process;
                        # as many runs at once as the phase starts, so that every database
                        # thread of the web process and every worker thread has connected.
                        threads = args.threads
                        warm = uvloop.run(run_phase(shape, transport, threads, threads, 20))
                        progress(f"{transport} N={n}: web process up at {url}, warmed up")
                        for note in warm.notes:
                            progress(f"    warm-up: {note}")
                        profile = args.profile and n == largest
                        result = uvloop.run(
                            run_phase(shape, transport, n, args.threads, args.tokens, profile)
                        )
                        results.append(result)
                        report_progress(result)
                    finally:
                        web.stop()
    finally:
        worker.stop()
        forget_queue(queue)
    return results


# ------------------------------------------------------------------------------------------
# Report


def report_progress(phase: Phase) -> None:
    p99 = percentile(phase.delays, 99) if phase.delays else float("nan")
    progress(
        f"  {phase.transport} N={phase.subscribers}: connected in {phase.connect_s:.1f}s, "
        f"{phase.events} events in {phase.duration:.1f}s, p99 {p99:.0f} ms"
    )
    for note in phase.notes:
        progress(f"    {note}")


def print_rows(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for n, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])]
        cells += [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        print("  ".join(cells))
        if n == 0:
            print("  ".join("-" * w for w in widths))


def delivery_row(r: Phase) -> tuple[str, ...]:
    if r.delays:
        p50, p99, top = (percentile(r.delays, p) for p in (50, 99, 100))
        delays = (f"{p50:.0f} ms", f"{p99:.0f} ms", f"{top:.0f} ms", f"{p99 / TARGET_P99_MS:.2f}x")
    else:
        delays = ("n/a",) * 4
    return (
        r.transport,
        str(r.subscribers),
        str(r.threads),
        f"{r.connect_s:.1f} s",
        str(r.events),
        ",".join(str(k) for k in sorted(r.per_subscriber)),
        f"{r.duration:.2f} s",
        f"{r.events / r.duration:.0f}" if r.duration else "n/a",
        f"{r.written_s:.2f} s",
        *delays,
        *(f"{percentile(r.arrivals, p):.0f} ms" if r.arrivals else "n/a" for p in (50, 99)),
        f"{percentile(r.lags, 99):.0f} ms" if r.lags else "n/a",
    )


def resources_row(r: Phase) -> tuple[str, ...]:
    def cpu(key: str) -> str:
        seconds = r.cpu.get(key, 0.0)
        return f"{seconds:.1f} s ({100 * seconds / r.duration:.0f}%)" if r.duration else "n/a"

    return (
        r.transport,
        str(r.subscribers),
        f"{r.rss_before / 1024:.0f} MiB",
        f"{r.rss_open / 1024:.0f} MiB",
        f"{(r.rss_open - r.rss_before) / r.subscribers:.0f} KiB",
        f"{r.rss_peak / 1024:.0f} MiB",
        str(r.web_threads),
        cpu("web"),
        cpu("web_sys"),
        cpu("worker"),
        cpu("load"),
        cpu("rest"),
    )


def unit_costs_row(r: Phase, tokens: int) -> tuple[str, ...]:
    """CPU per unit of work: per event delivered (web, load generator) and per token written
    (worker), so rows of different N compare."""

    def per(key: str, count: int, scale: float, unit: str, digits: int = 1) -> str:
        seconds = r.cpu.get(key)
        if seconds is None or not count:
            return "n/a"
        return f"{seconds * scale / count:.{digits}f} {unit}"

    written = r.threads * tokens
    return (
        r.transport,
        str(r.subscribers),
        per("web", r.events, 1e6, "µs"),
        per("web_sys", r.events, 1e6, "µs"),
        per("load", r.events, 1e6, "µs"),
        per("worker", written, 1e6, "µs", digits=0),
    )


def client_text(args: argparse.Namespace) -> str:
    if args.client == "lean":
        return "clients: the load generator's lean ones (no websocket compression offered)"
    offered = "not offered" if args.no_ws_compression else "offered"
    return f"clients: websockets' asyncio client (permessage-deflate {offered}) and httpx"


def print_table(args: argparse.Namespace, results: list[Phase]) -> None:
    print()
    print(
        "agentserver: PostgreSQL + Redis, 1 web process (fresh per row), 1 worker --pool threads "
        f"--concurrency {args.threads}; {os.cpu_count()} cores shared by the web process, the "
        "worker, this load generator (asyncio, uvloop), PostgreSQL, Redis and whatever else runs."
    )
    print(
        f"Each row: N subscribers over {args.threads} threads, one run per thread streaming "
        f"{args.tokens} tokens {args.pause_ms:g} ms apart; filter {orjson.dumps(FILTER).decode()}; "
        f"{client_text(args)}."
    )
    print(
        "per sub: events each subscriber received (distinct counts); phase: first run.start to "
        "the last subscriber's terminal event; run written: mean span of a run's event "
        "timestamps (its unloaded length is about tokens x pause); delay = wall clock when this "
        "process handles the event - params.timestamp; at socket: the same up to the kernel's "
        "receive timestamp of the bytes (lean clients only), so without this busy "
        "process's own lateness; load lag: this process's event-loop lateness."
    )
    head = ("transport", "N", "threads", "connect", "events", "per sub", "phase", "events/s",
            "run written", "delay p50", "p99", "max", "p99/target", "at socket p50", "p99",
            "load lag p99")  # fmt: skip
    print_rows([head, *(delivery_row(r) for r in results)])
    print()
    print(
        "Memory: web process RSS before the subscribers connect, with all of them subscribed "
        "(so per connection), and its peak during the runs; OS threads of the web process. CPU "
        "during the phase, seconds (% of one core): web (of which in the kernel), worker, this "
        "load generator, and the rest of the machine (Redis, PostgreSQL, anything else)."
    )
    head = ("transport", "N", "RSS idle", "RSS open", "per conn", "RSS peak", "web threads",
            "web CPU", "web sys", "worker CPU", "load CPU", "rest of machine")  # fmt: skip
    print_rows([head, *(resources_row(r) for r in results)])
    print()
    print(
        "CPU per unit: web process and load generator per event delivered (web sys: the kernel's "
        "part), worker per token written."
    )
    head = ("transport", "N", "web per event", "web sys", "load per event", "worker per token")
    print_rows([head, *(unit_costs_row(r, args.tokens) for r in results)])
    print()
    for r in results:
        measures = (("handled by the client", r.delays), ("at the client's socket", r.arrivals))
        for where, delays in measures if r.subscribers == TARGET_SUBSCRIBERS else ():
            if not delays:
                continue
            p99 = percentile(delays, 99)
            verdict = "met" if p99 <= TARGET_P99_MS else "NOT met"
            print(
                f"target ({r.transport}, {where}): {TARGET_SUBSCRIBERS} subscribers, p99 <= "
                f"{TARGET_P99_MS:g} ms: p99 {p99:.0f} ms = {p99 / TARGET_P99_MS:.2f}x the "
                f"target: {verdict}"
            )
        for note in r.notes:
            print(f"{r.transport} N={r.subscribers}: {note}")


def raise_open_files() -> None:
    """Soft limit up to the hard one; the servers started from here inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--transport", choices=["ws", "sse", "both"], default="both")
    parser.add_argument("--subscribers", default="100,500,1000", help="comma-separated N")
    parser.add_argument("--threads", type=int, default=10, help="threads (and runs) per phase")
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument(
        "--pause-ms", type=float, default=20.0, help="before each token (20: 50 tokens/s)"
    )
    parser.add_argument(
        "--client",
        choices=["lean", "library"],
        default="lean",
        help="lean: minimal clients, so the load generator takes little of the shared CPU; "
        "library: websockets' asyncio client (as langgraph_sdk connects) and httpx",
    )
    parser.add_argument(
        "--no-ws-compression",
        action="store_true",
        help="with --client library: do not offer permessage-deflate (langgraph_sdk's client does)",
    )
    parser.add_argument("--profile", action="store_true", help="py-spy the largest phase")
    parser.add_argument(
        "--py-spy", default=shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    )
    args = parser.parse_args()
    args.subscribers = [int(n) for n in args.subscribers.split(",")]
    args.transports = ["ws", "sse"] if args.transport == "both" else [args.transport]

    def stop_on_sigterm(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop_on_sigterm)
    raise_open_files()
    tmp = Path(tempfile.mkdtemp(prefix="bench-streams-"))
    progress(f"logs in {tmp}; open files limit {resource.getrlimit(resource.RLIMIT_NOFILE)[0]}")
    try:
        results = phases(args, tmp)
    except Exception as exc:
        progress(f"failed: {type(exc).__name__}: {exc}")
        for log in sorted(tmp.glob("*.log")):
            print(f"--- {log.name}\n{tail(log)}")
        return 1
    print_table(args, results)
    for profile in sorted(tmp.glob("py-spy-*.txt")):
        print_profile(profile)
    print(f"logs: {tmp}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
