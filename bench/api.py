#!/usr/bin/env python
"""The Agent Server API end to end: agentserver (production shape) against `langgraph dev`.

    /work/main/.venv/bin/python bench/api.py [--pool threads|prefork] [--skip-reference]

Starts agentserver as it runs in production (a fresh PostgreSQL database ``bench_api_*`` on
127.0.0.1:5432, Redis on 127.0.0.1:6379 with a private Celery queue, ``agentserver migrate``,
one ``agentserver serve`` web process, one ``agentserver worker``), runs every scenario
through ``langgraph_sdk.get_client``, stops it and drops the database; then does the same
against the reference ``langgraph dev`` server (``langgraph-cli[inmem]``, installed into its own
virtualenv, ``--lgdev-venv``, on first use) on a copy of the same project
(``bench/api_project``: the copy keeps langgraph dev's ``.langgraph_api`` pickles out of the
checkout and starts it empty). The servers run one after the other, never together.

Scenarios (graphs in bench/api_project/graphs.py):
  1. sequential: threads.create + runs.wait on ``echo``, one at a time: p50/p95/p99;
  2. throughput: the same pair in C concurrent loops (C = 8, 32) over a fixed number of runs,
     with the CPU time per run of the whole machine, of this client, of the server's processes
     and of the rest (PostgreSQL, Redis): the client shares the machine's cores;
  3. first token: runs.stream(stream_mode="messages-tuple") on ``tokens`` (a fake chat model
     streaming ~20 chunks), from the request to the first ``messages`` event;
  4. HITL: runs.wait on ``approve`` up to its interrupt(), then runs.wait with
     command={"resume": ...} to the end;
  5. burst: runs.create on fresh threads from 32 loops, then join each run until all are done,
     and check every run's status with runs.get.

Every scenario has a time cap and the whole script a bounded runtime (about 5 minutes); a
scenario cut short says so. Server logs stay in the temporary folder printed at the start.
Not a test: nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from langgraph_sdk import get_client

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ROOT / "bench" / "api_project"
CONFIG = PROJECT / "langgraph.json"
AGENTSERVER = Path(sys.executable).parent / "agentserver"
PG_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/0"
INPUT = {"messages": [{"role": "user", "content": "hi"}]}
EXPECTED_CHUNKS = 19  # bench/api_project/graphs.py: WORDS = 10 words and 9 spaces
START_TIMEOUT = 60.0  # seconds for a server to answer /ok
SERVER_BUDGET = 125.0  # seconds of scenarios per server, warm-up included

# (key, label, kind, target): kind "ms" is a latency (lower is better), "rate" runs/s and "s"
# a duration; target is for agentserver only, as (comparison, value).
ROWS: list[tuple[str, str, str, tuple[str, float] | None]] = [
    ("seq_p50", "1 sequential create+wait p50", "ms", ("<=", 20.0)),
    ("seq_p95", "1 sequential create+wait p95", "ms", None),
    ("seq_p99", "1 sequential create+wait p99", "ms", None),
    ("seq_wait_p50", "1   (runs.wait alone p50)", "ms", None),
    ("c8_rate", "2 throughput C=8", "rate", None),
    ("c8_p50", "2 throughput C=8 latency p50", "ms", None),
    ("c32_rate", "2 throughput C=32", "rate", (">=", 200.0)),
    ("c32_p50", "2 throughput C=32 latency p50", "ms", None),
    ("c32_cpu_machine", "2   C=32 CPU per run: machine", "ms", None),
    ("c32_cpu_client", "2   C=32 CPU per run: this client", "ms", None),
    ("c32_cpu_server", "2   C=32 CPU per run: server procs", "ms", None),
    ("c32_cpu_other", "2   C=32 CPU per run: the rest", "ms", None),
    ("ttft_p50", "3 first token p50", "ms", ("<=", 25.0)),
    ("ttft_p95", "3 first token p95", "ms", None),
    ("stream_p50", "3   (whole stream p50)", "ms", None),
    ("hitl_p50", "4 HITL round trip p50", "ms", ("<=", 50.0)),
    ("hitl_resume_p50", "4 HITL resume half p50", "ms", None),
    ("burst_create_s", "5 burst: all runs.create done", "s", None),
    ("burst_total_s", "5 burst: all runs done", "s", None),
    ("burst_rate", "5 burst throughput", "rate", None),
]
UNITS = {"ms": "ms", "rate": "runs/s", "s": "s"}
TICK = os.sysconf("SC_CLK_TCK")


# ------------------------------------------------------------------------------------------
# Results


@dataclass
class Result:
    """One server's numbers (by ROWS key) and what went wrong on the way."""

    metrics: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    failure: str | None = None  # why there are no numbers at all


class Tally:
    """Counts a scenario's failed operations and keeps the first message."""

    def __init__(self) -> None:
        self.errors = 0
        self.first: str | None = None

    def fail(self, exc: BaseException) -> None:
        self.errors += 1
        if self.first is None:
            self.first = f"{type(exc).__name__}: {exc}"[:400]

    def note(self, result: Result, scenario: str) -> None:
        if self.errors:
            result.notes.append(f"{scenario}: {self.errors} failed, first: {self.first}")


def percentile(values: list[float], pct: float) -> float:
    """Linear interpolation between closest ranks; ``values`` in seconds, result in ms."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0] * 1000
    rank = (len(ordered) - 1) * pct / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return (ordered[low] + (ordered[high] - ordered[low]) * (rank - low)) * 1000


class Budget:
    """A deadline shared by one server's scenarios."""

    def __init__(self, seconds: float) -> None:
        self.end = time.perf_counter() + seconds

    def cap(self, wanted: float) -> float:
        return max(0.0, min(wanted, self.end - time.perf_counter()))


class CpuMeter:
    """CPU time spent from its creation to ``stop()``: by the whole machine (/proc/stat), by
    this process (the SDK client) and by the server's processes (every process in the sessions
    ``servers`` started); PostgreSQL, Redis and anything else are the rest."""

    def __init__(self, servers: list[int]) -> None:
        self.servers = set(servers)
        self.start = self._read()

    def _read(self) -> tuple[float, float, float]:
        with open("/proc/stat") as stat:
            fields = [int(v) for v in stat.readline().split()[1:]]
        busy = sum(fields) - fields[3] - fields[4]  # all but idle and iowait
        server = 0
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat") as stat:
                    after_name = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(after_name[3]) in self.servers:  # field 6, the session id
                server += int(after_name[11]) + int(after_name[12])  # utime + stime
        return busy / TICK, time.process_time(), server / TICK

    def stop(self) -> None:
        end = self._read()
        deltas = (b - a for a, b in zip(self.start, end, strict=True))
        self.machine, self.client, self.server = deltas


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# ------------------------------------------------------------------------------------------
# Scenarios (async, one SDK client per server)


def check_echo(output: Any) -> None:
    content = output["messages"][-1]["content"] if isinstance(output, dict) else None
    if content != "echo: hi":
        raise AssertionError(f"unexpected runs.wait output: {json.dumps(output)[:300]}")


async def create_and_wait(client: Any) -> float:
    """threads.create + runs.wait on echo; returns the seconds runs.wait alone took."""
    thread = await client.threads.create()
    started = time.perf_counter()
    check_echo(await client.runs.wait(thread["thread_id"], "echo", input=INPUT))
    return time.perf_counter() - started


async def hitl_round_trip(client: Any) -> tuple[float, float]:
    """Wait to the interrupt, then resume to the end: (round trip, resume half) seconds."""
    thread = await client.threads.create()
    started = time.perf_counter()
    paused = await client.runs.wait(thread["thread_id"], "approve", input=INPUT)
    resumed_at = time.perf_counter()
    if not (isinstance(paused, dict) and paused.get("__interrupt__")):
        raise AssertionError(f"no __interrupt__ in runs.wait output: {json.dumps(paused)[:300]}")
    done = await client.runs.wait(thread["thread_id"], "approve", command={"resume": "yes"})
    ended = time.perf_counter()
    content = done["messages"][-1]["content"] if isinstance(done, dict) else None
    if content != "decision: yes":
        raise AssertionError(f"unexpected output after resume: {json.dumps(done)[:300]}")
    return ended - started, ended - resumed_at


async def stream_tokens(client: Any) -> tuple[float, float, int]:
    """(seconds to the first messages event, seconds to the end, messages events)."""
    thread = await client.threads.create()
    started = time.perf_counter()
    first: float | None = None
    count = 0
    async for part in client.runs.stream(
        thread["thread_id"], "tokens", input=INPUT, stream_mode="messages-tuple"
    ):
        if part.event == "messages":
            count += 1
            if first is None:
                first = time.perf_counter() - started
                chunk = part.data[0] if isinstance(part.data, list) and part.data else {}
                if not (isinstance(chunk, dict) and chunk.get("content") == "t0"):
                    raise AssertionError(f"first messages event: {json.dumps(part.data)[:300]}")
        elif part.event == "error":
            raise RuntimeError(f"error event: {json.dumps(part.data)[:300]}")
    if first is None:
        raise AssertionError("the stream ended without a messages event")
    return first, time.perf_counter() - started, count


async def warm_up(client: Any, result: Result) -> None:
    tally = Tally()
    started = time.perf_counter()
    for _ in range(20):
        try:
            await create_and_wait(client)
        except Exception as exc:
            tally.fail(exc)
    for _ in range(3):
        try:
            await stream_tokens(client)
            await hitl_round_trip(client)
        except Exception as exc:
            tally.fail(exc)
    tally.note(result, "warm-up")
    progress(f"  warm-up: 20 echo runs, 3 streams, 3 HITL in {time.perf_counter() - started:.1f}s")


async def sequential(client: Any, n: int, cap: float, result: Result) -> None:
    tally, pairs, waits = Tally(), [], []
    end = time.perf_counter() + cap
    while len(pairs) + tally.errors < n and time.perf_counter() < end:
        started = time.perf_counter()
        try:
            waited = await create_and_wait(client)
        except Exception as exc:
            tally.fail(exc)
            continue
        pairs.append(time.perf_counter() - started)
        waits.append(waited)
    tally.note(result, "sequential")
    if len(pairs) < n:
        result.notes.append(f"sequential: only {len(pairs)}/{n} runs within {cap:.0f}s")
    if pairs:
        m = result.metrics
        m["seq_p50"], m["seq_p95"], m["seq_p99"] = (percentile(pairs, p) for p in (50, 95, 99))
        m["seq_wait_p50"] = percentile(waits, 50)
        progress(
            f"  1 sequential: {len(pairs)} runs, p50 {m['seq_p50']:.1f} ms, "
            f"p95 {m['seq_p95']:.1f} ms, p99 {m['seq_p99']:.1f} ms"
        )


async def throughput(
    client: Any, concurrency: int, total: int, cap: float, result: Result, servers: list[int]
):
    tally, latencies = Tally(), []
    left = total
    meter = CpuMeter(servers)
    started = time.perf_counter()
    end = started + cap

    async def loop() -> None:
        nonlocal left
        while left > 0 and time.perf_counter() < end:
            left -= 1
            begun = time.perf_counter()
            try:
                await create_and_wait(client)
            except Exception as exc:
                tally.fail(exc)
                continue
            latencies.append(time.perf_counter() - begun)

    await asyncio.gather(*(loop() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    meter.stop()
    tally.note(result, f"throughput C={concurrency}")
    if len(latencies) < total:
        result.notes.append(
            f"throughput C={concurrency}: only {len(latencies)}/{total} runs within {cap:.0f}s"
        )
    if latencies:
        rate, p50 = len(latencies) / elapsed, percentile(latencies, 50)
        result.metrics[f"c{concurrency}_rate"] = rate
        result.metrics[f"c{concurrency}_p50"] = p50
        per_run = {
            "machine": meter.machine,
            "client": meter.client,
            "server": meter.server,
            # What the machine did besides (PostgreSQL, Redis...); never below 0 (tick rounding).
            "other": max(0.0, meter.machine - meter.client - meter.server),
        }
        for name, seconds in per_run.items():
            result.metrics[f"c{concurrency}_cpu_{name}"] = seconds * 1000 / len(latencies)
        progress(
            f"  2 throughput C={concurrency}: {len(latencies)} runs in {elapsed:.1f}s, "
            f"{rate:.1f} runs/s, p50 {p50:.1f} ms; CPU per run "
            + ", ".join(f"{k} {v * 1000 / len(latencies):.1f} ms" for k, v in per_run.items())
        )


async def first_token(client: Any, n: int, cap: float, result: Result) -> None:
    tally, firsts, wholes, counts = Tally(), [], [], set()
    end = time.perf_counter() + cap
    while len(firsts) + tally.errors < n and time.perf_counter() < end:
        try:
            first, whole, count = await stream_tokens(client)
        except Exception as exc:
            tally.fail(exc)
            continue
        firsts.append(first)
        wholes.append(whole)
        counts.add(count)
    tally.note(result, "first token")
    if len(firsts) < n:
        result.notes.append(f"first token: only {len(firsts)}/{n} streams within {cap:.0f}s")
    if counts - {EXPECTED_CHUNKS}:
        result.notes.append(
            f"first token: messages events per stream {sorted(counts)}, expected {EXPECTED_CHUNKS}"
        )
    if firsts:
        m = result.metrics
        m["ttft_p50"], m["ttft_p95"] = percentile(firsts, 50), percentile(firsts, 95)
        m["stream_p50"] = percentile(wholes, 50)
        progress(
            f"  3 first token: {len(firsts)} streams, p50 {m['ttft_p50']:.1f} ms, "
            f"p95 {m['ttft_p95']:.1f} ms (messages events/stream: {sorted(counts)})"
        )


async def hitl(client: Any, n: int, cap: float, result: Result) -> None:
    tally, trips, resumes = Tally(), [], []
    end = time.perf_counter() + cap
    while len(trips) + tally.errors < n and time.perf_counter() < end:
        try:
            trip, resume = await hitl_round_trip(client)
        except Exception as exc:
            tally.fail(exc)
            continue
        trips.append(trip)
        resumes.append(resume)
    tally.note(result, "HITL")
    if len(trips) < n:
        result.notes.append(f"HITL: only {len(trips)}/{n} round trips within {cap:.0f}s")
    if trips:
        m = result.metrics
        m["hitl_p50"], m["hitl_resume_p50"] = percentile(trips, 50), percentile(resumes, 50)
        progress(
            f"  4 HITL: {len(trips)} round trips, p50 {m['hitl_p50']:.1f} ms, "
            f"resume p50 {m['hitl_resume_p50']:.1f} ms"
        )


async def in_loops(concurrency: int, items: list[Any], work: Callable[[Any], Awaitable[None]]):
    """Run ``work`` on every item from ``concurrency`` loops."""
    queue = iter(items)

    async def loop() -> None:
        for item in queue:
            await work(item)

    await asyncio.gather(*(loop() for _ in range(concurrency)))


async def burst(client: Any, n: int, concurrency: int, cap: float, result: Result) -> None:
    tally = Tally()
    threads: list[str] = []

    async def make_thread(_: int) -> None:
        threads.append((await client.threads.create())["thread_id"])

    await in_loops(concurrency, list(range(n)), make_thread)  # not timed
    runs: list[tuple[str, str]] = []
    joined = 0

    async def create(thread_id: str) -> None:
        try:
            run = await client.runs.create(thread_id, "echo", input=INPUT)
        except Exception as exc:
            tally.fail(exc)
            return
        runs.append((thread_id, run["run_id"]))

    async def join(run: tuple[str, str]) -> None:
        nonlocal joined
        try:
            await client.runs.join(*run)
            joined += 1
        except Exception as exc:
            tally.fail(exc)

    started = time.perf_counter()
    await in_loops(concurrency, threads, create)
    created = time.perf_counter() - started
    try:
        await asyncio.wait_for(in_loops(concurrency, list(runs), join), cap)
    except TimeoutError:
        result.notes.append(f"burst: only {joined}/{len(runs)} runs joined within {cap:.0f}s")
    total = time.perf_counter() - started
    statuses: dict[str, int] = {}

    async def status(run: tuple[str, str]) -> None:
        try:
            got = (await client.runs.get(*run))["status"]
        except Exception as exc:
            got = f"runs.get {type(exc).__name__}"
        statuses[got] = statuses.get(got, 0) + 1

    await in_loops(concurrency, runs, status)  # not timed
    tally.note(result, "burst")
    if statuses.get("success", 0) != n:
        result.notes.append(f"burst: statuses after join {statuses} (of {n} runs)")
    if joined:
        result.metrics["burst_create_s"] = created
        result.metrics["burst_total_s"] = total
        result.metrics["burst_rate"] = joined / total
        progress(
            f"  5 burst: {len(runs)} runs created in {created:.2f}s, {joined} done in "
            f"{total:.2f}s ({joined / total:.1f} runs/s), statuses {statuses}"
        )


async def run_scenarios(
    url: str, args: argparse.Namespace, result: Result, servers: list[int]
) -> None:
    """Every scenario against ``url``; ``servers`` are the session ids of its processes."""
    budget = Budget(SERVER_BUDGET)
    timeout = httpx.Timeout(connect=5, read=60, write=30, pool=60)
    levels = args.runs_per_level
    async with get_client(url=url, api_key=None, timeout=timeout) as client:
        try:
            await asyncio.wait_for(warm_up(client, result), 60)
        except TimeoutError:
            result.notes.append("warm-up: still not done after 60s (a hung request?)")
        steps: list[tuple[str, float, Callable[[float], Awaitable[None]]]] = [
            ("sequential", 30, lambda cap: sequential(client, args.sequential, cap, result)),
            ("C=8", 20, lambda cap: throughput(client, 8, levels, cap, result, servers)),
            ("C=32", 20, lambda cap: throughput(client, 32, levels, cap, result, servers)),
            ("first token", 15, lambda cap: first_token(client, args.streams, cap, result)),
            ("HITL", 15, lambda cap: hitl(client, args.hitl, cap, result)),
            ("burst", 30, lambda cap: burst(client, args.burst, 32, cap, result)),
        ]
        for name, wanted, step in steps:
            cap = budget.cap(wanted)
            if cap < 1:
                result.notes.append(f"{name}: skipped, out of time")
                continue
            # The cap stops a scenario's loops; this bounds a request that hangs (runs.wait
            # keeps its connection alive with blank lines, so no read timeout fires).
            try:
                await asyncio.wait_for(step(cap), cap + 20)
            except TimeoutError:
                result.notes.append(f"{name}: cancelled {cap + 20:.0f}s in (a hung request?)")


# ------------------------------------------------------------------------------------------
# Processes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Processes:
    """Child processes, each in its own session, with logs in ``logs``; stop() ends them."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.children: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, argv: list[str], env: dict[str, str], cwd: Path) -> None:
        with open(self.logs / f"{name}.log", "ab") as log:
            child = subprocess.Popen(
                argv,
                env=env,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.children.append((name, child))

    def pids(self) -> list[int]:
        """The children's pids, which are also their session ids."""
        return [child.pid for _, child in self.children]

    def check(self) -> None:
        for name, child in self.children:
            if child.poll() is not None:
                raise RuntimeError(
                    f"{name} exited with {child.returncode}:\n{tail(self.logs / f'{name}.log')}"
                )

    def stop(self) -> None:
        for _, child in self.children:
            signal_group(child, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for _, child in self.children:
            try:
                child.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                signal_group(child, signal.SIGKILL)
                child.wait(5)
        self.children.clear()


def signal_group(child: subprocess.Popen, sig: int) -> None:
    """Signal the process group this script started ``child`` in (its pid is the group id)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, sig)


def tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def wait_ok(url: str, processes: Processes, timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        processes.check()
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/ok", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{url}/ok did not answer within {timeout:.0f}s")


def server_version(url: str) -> str:
    with contextlib.suppress(httpx.HTTPError, ValueError):
        info = httpx.get(f"{url}/info", timeout=5).json()
        return str(info.get("version") or info.get("langgraph_py_version") or "?")
    return "?"


@contextlib.contextmanager
def bench_database() -> Iterator[str]:
    """A fresh database on the local PostgreSQL, dropped afterwards; yields its URL."""
    import psycopg

    name = f"bench_api_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_SERVER, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield f"postgres://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_SERVER, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def forget_queue(queue: str) -> None:
    """Remove the private queue's own keys from Redis (the queue list and kombu's binding)."""
    import redis

    with contextlib.suppress(Exception):
        client = redis.Redis.from_url(REDIS_URL)
        client.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
        client.close()


def bench_ours(args: argparse.Namespace, tmp: Path) -> Result:
    result = Result()
    suffix = uuid.uuid4().hex[:10]
    data_dir = tmp / "agentserver-data"
    data_dir.mkdir()
    config = ["--config", str(CONFIG)]
    processes = Processes(tmp)
    queue = f"bench-{suffix}"
    try:
        with bench_database() as database_url:
            env = {
                **os.environ,
                "DATABASE_URL": database_url,
                "REDIS_URL": REDIS_URL,
                "AGENTSERVER_QUEUE": queue,
                "AGENTSERVER_DATA_DIR": str(data_dir),
                # langgraph dev checks no credentials either; bench/auth.py prices API keys.
                "AGENTSERVER_AUTH": "none",
            }
            progress(f"agentserver: migrating {database_url.rsplit('/', 1)[1]}")
            with open(tmp / "migrate.log", "wb") as log:
                migrate = subprocess.run(
                    [str(AGENTSERVER), "migrate", *config],
                    env=env,
                    cwd=ROOT,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    timeout=120,
                    check=False,
                )
            if migrate.returncode:
                log_tail = tail(tmp / "migrate.log")
                raise RuntimeError(f"migrate exited {migrate.returncode}:\n{log_tail}")
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            web = ["serve", *config, "--host", "127.0.0.1", "--port", str(port)]
            processes.start(
                "web", [str(AGENTSERVER), *web, "--server-log-level", "warning"], env, ROOT
            )
            worker_args = [
                *("--pool", args.pool, "--concurrency", str(args.worker_concurrency)),
                *("--without-heartbeat", "--without-mingle", "--without-gossip"),
                *("--loglevel", "WARNING"),
            ]
            processes.start(
                "worker", [str(AGENTSERVER), "worker", *config, "--", *worker_args], env, ROOT
            )
            wait_ok(url, processes)
            progress(
                f"agentserver {server_version(url)} up at {url} "
                f"(worker --pool {args.pool} --concurrency {args.worker_concurrency})"
            )
            try:
                asyncio.run(run_scenarios(url, args, result, processes.pids()))
            finally:
                for name, child in processes.children:
                    if child.poll() is not None:
                        result.notes.append(f"{name} died during the run ({child.returncode})")
                processes.stop()
    finally:
        processes.stop()
        forget_queue(queue)
    return result


def lgdev_binary(venv: Path) -> Path:
    """langgraph from ``venv``, creating the virtualenv and installing on first use."""
    binary = venv / "bin" / "langgraph"
    if binary.exists():
        return binary
    python3 = shutil.which("python3")
    if python3 is None:
        raise RuntimeError("no python3 on PATH to create the langgraph dev virtualenv")
    progress(f"langgraph dev: installing langgraph-cli[inmem] into {venv} (first use)")
    log = venv.parent / f"{venv.name}-install.log"
    with open(log, "wb") as out:
        for argv in (
            [python3, "-m", "venv", str(venv)],
            [str(venv / "bin" / "pip"), "install", "-q", "langgraph-cli[inmem]"],
        ):
            done = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, timeout=600)
            if done.returncode:
                raise RuntimeError(f"{' '.join(argv)} failed:\n{tail(log)}")
    if not binary.exists():
        raise RuntimeError(f"the install left no {binary}")
    return binary


def bench_reference(args: argparse.Namespace, tmp: Path) -> Result:
    result = Result()
    binary = lgdev_binary(Path(args.lgdev_venv))
    project = tmp / "api_project"
    shutil.copytree(PROJECT, project, ignore=shutil.ignore_patterns("__pycache__", ".*"))
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"VIRTUAL_ENV", "PYTHONPATH", "DATABASE_URL", "REDIS_URL"}
    }
    env.update(
        PATH=f"{binary.parent}{os.pathsep}{env.get('PATH', '')}",
        LANGGRAPH_CLI_NO_ANALYTICS="1",
        LANGSMITH_TRACING="false",
        LANGCHAIN_TRACING_V2="false",
        LOG_LEVEL="WARNING",  # as quiet as agentserver, which logs nothing per run
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [
        str(binary),
        *("dev", "--config", str(project / "langgraph.json"), "--port", str(port)),
        *("--host", "127.0.0.1", "--no-browser", "--no-reload", "--server-log-level", "WARNING"),
    ]
    if args.lgdev_jobs is not None:
        argv += ["--n-jobs-per-worker", str(args.lgdev_jobs)]
    processes = Processes(tmp)
    try:
        processes.start("langgraph-dev", argv, env, project)
        wait_ok(url, processes)
        progress(f"langgraph dev (langgraph-api {server_version(url)}) up at {url}")
        asyncio.run(run_scenarios(url, args, result, processes.pids()))
    finally:
        processes.stop()
    return result


# ------------------------------------------------------------------------------------------
# Report


def ratio(kind: str, ours: float | None, ref: float | None) -> str:
    """How agentserver compares: faster means a lower time or a higher rate."""
    if not ours or not ref or ours <= 0 or ref <= 0:
        return "n/a"
    factor = ours / ref if kind == "rate" else ref / ours
    return f"{factor:.2f}x faster" if factor >= 1 else f"{1 / factor:.2f}x slower"


def print_table(args: argparse.Namespace, ours: Result, ref: Result | None) -> None:
    head = ("scenario", "target (ours)", "agentserver", "langgraph dev", "ours vs ref", "met")
    rows = [head]
    for key, label, kind, target in ROWS:
        unit = UNITS[kind]
        a, b = ours.metrics.get(key), ref.metrics.get(key) if ref else None
        goal, met = "", ""
        if target is not None:
            comparison, value = target
            goal = f"{comparison} {value:g} {unit}"
            if a is not None:
                ok = a <= value if comparison == "<=" else a >= value
                met = "yes" if ok else "NO"
        rows.append(
            (
                label,
                goal,
                f"{a:.1f} {unit}" if a is not None else "n/a",
                f"{b:.1f} {unit}" if b is not None else "n/a",
                ratio(kind, a, b),
                met,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    print()
    jobs = "not passed (1)" if args.lgdev_jobs is None else args.lgdev_jobs
    print(
        "agentserver: PostgreSQL + Redis, AGENTSERVER_AUTH=none, 1 web process, 1 worker "
        f"--pool {args.pool} --concurrency {args.worker_concurrency}"
    )
    print(f"langgraph dev: langgraph-cli[inmem], in memory, --n-jobs-per-worker {jobs}")
    print(
        f"N: sequential {args.sequential}, throughput {args.runs_per_level} per level, "
        f"first token {args.streams}, HITL {args.hitl}, burst {args.burst} (32 loops)"
    )
    print("'ours vs ref': agentserver's latency or rate relative to langgraph dev's.")
    for n, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])]
        cells += [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        print("  ".join(cells).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))
    if ref is not None and ref.metrics.get("seq_p50", 0) > 500:
        print(
            "langgraph dev: its in-memory queue sleeps 0.5 s between looks for new runs when "
            "idle, and `langgraph dev` runs 1 job at a time unless --n-jobs-per-worker is "
            "passed: its one-run-at-a-time latencies (1, 3, 4) mostly measure that sleep."
        )
    for name, result in (("agentserver", ours), ("langgraph dev", ref)):
        if result is None:
            continue
        if result.failure:
            print(f"{name}: no numbers: {result.failure}")
        for note in result.notes:
            print(f"{name}: {note}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pool", choices=["threads", "prefork"], default="threads")
    parser.add_argument(
        "--worker-concurrency", type=int, help="worker concurrency (threads: 8, prefork: 2)"
    )
    parser.add_argument("--sequential", type=int, default=200)
    parser.add_argument("--runs-per-level", type=int, default=400)
    parser.add_argument("--streams", type=int, default=100)
    parser.add_argument("--hitl", type=int, default=50)
    parser.add_argument("--burst", type=int, default=200)
    parser.add_argument("--lgdev-venv", default="/tmp/lgdev-venv")
    parser.add_argument(
        "--lgdev-jobs",
        type=int,
        help="langgraph dev --n-jobs-per-worker (default: not passed; langgraph dev then runs 1)",
    )
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument("--skip-ours", action="store_true")
    args = parser.parse_args()
    if args.worker_concurrency is None:
        args.worker_concurrency = 8 if args.pool == "threads" else 2

    def stop_on_sigterm(*_: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop_on_sigterm)
    tmp = Path(tempfile.mkdtemp(prefix="bench-api-"))
    progress(f"logs in {tmp}")
    ours, ref = Result(), None
    if args.skip_ours:
        ours.failure = "skipped (--skip-ours)"
    else:
        try:
            ours = bench_ours(args, tmp)
        except Exception as exc:
            ours.failure = f"{type(exc).__name__}: {exc}"
            progress(f"agentserver failed: {ours.failure}")
    if not args.skip_reference:
        ref = Result()
        try:
            ref = bench_reference(args, tmp)
        except Exception as exc:
            ref.failure = f"{type(exc).__name__}: {exc}"
            progress(f"langgraph dev failed: {ref.failure}")
    print_table(args, ours, ref)
    print(f"logs: {tmp}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
