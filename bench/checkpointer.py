#!/usr/bin/env python
"""DjangoSaver against langgraph-checkpoint-postgres's PostgresSaver, same server, same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres python bench/checkpointer.py

Then, unless ``--no-store``, the same for DjangoStore against PostgresStore (bench/store.py).

Creates a throw-away ``bench_*`` database on that server, migrates the checkpoints app into it
(PostgresSaver's own tables sit next to ours), runs every scenario through the sync API for
both savers, prints the medians and drops the database. Each scenario runs for one saver right
after the other, in an order flipped every round, so a busy neighbour on the machine weighs
on both alike. Ratios are ours/theirs for throughputs and theirs/ours for latencies: above 1
means DjangoSaver is better. Not a test: nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypedDict
from urllib.parse import urlsplit, urlunsplit

from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.base.id import uuid6
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

FILLER = (
    "The quick brown fox jumps over the lazy dog while the benchmark keeps count of every "
    "checkpoint that reaches durable storage. "
)


@contextmanager
def bench_database(server_url: str) -> Iterator[str]:
    """A fresh database on the server of ``server_url``, dropped afterwards; yields its URL."""
    import psycopg

    parts = urlsplit(server_url)
    if parts.scheme not in {"postgres", "postgresql"}:
        raise SystemExit("DATABASE_URL must be postgres://... (the server to benchmark on)")
    name = f"bench_{uuid.uuid4().hex[:10]}"
    admin_dsn = urlunsplit(parts._replace(scheme="postgresql"))
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def percentile(samples: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(samples)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))]


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# --- the workloads ------------------------------------------------------------------------


class State(TypedDict):
    messages: Annotated[list, add_messages]


def build_graph(saver: Any):
    """plan -> act -> respond, each appending one message: 5 checkpoints per invoke (input,
    the START step, the 3 nodes) and 4 put_writes."""

    def node(name: str):
        def run(state: State) -> dict:
            return {"messages": [AIMessage(content=f"[{name}] {FILLER}")]}

        return run

    builder = StateGraph(State)
    for name in ("plan", "act", "respond"):
        builder.add_node(name, node(name))
    builder.add_edge(START, "plan")
    builder.add_edge("plan", "act")
    builder.add_edge("act", "respond")
    builder.add_edge("respond", END)
    return builder.compile(checkpointer=saver)


class Chain:
    """Checkpoints appended to one thread the way the Pregel loop does: the parent id in the
    config, only the changed channels in ``new_versions``, writes on the new checkpoint."""

    def __init__(self, saver: Any, thread_id: str) -> None:
        self.saver = saver
        self.thread_id = thread_id
        self.run_id = str(uuid.uuid4())
        self.parent: str | None = None
        self.versions: dict[str, Any] = {}
        self.messages = [{"role": "user", "content": FILLER[: 80 + k]} for k in range(10)]
        self.step = -1

    def put(self) -> tuple[dict, float]:
        self.step += 1
        changed = ["messages", "step"] + (["scratch"] if self.step % 5 == 0 else [])
        new_versions = {}
        for channel in changed:
            self.versions[channel] = self.saver.get_next_version(self.versions.get(channel), None)
            new_versions[channel] = self.versions[channel]
        self.messages = [*self.messages[1:], {"role": "assistant", "content": FILLER[:60]}]
        checkpoint = {
            "v": 4,
            "id": str(uuid6(clock_seq=-1)),
            "ts": datetime.now(UTC).isoformat(),
            "channel_values": {
                "messages": self.messages,
                "step": self.step,
                "scratch": {"notes": FILLER * 2, "counter": self.step},
            },
            "channel_versions": dict(self.versions),
            "versions_seen": {"plan": {"messages": self.versions["messages"]}},
            "updated_channels": None,
        }
        metadata = {"source": "loop", "step": self.step, "parents": {}, "run_id": self.run_id}
        configurable = {"thread_id": self.thread_id, "checkpoint_ns": ""}
        if self.parent:
            configurable["checkpoint_id"] = self.parent
        start = time.perf_counter()
        stored = self.saver.put({"configurable": configurable}, checkpoint, metadata, new_versions)
        elapsed = time.perf_counter() - start
        self.parent = stored["configurable"]["checkpoint_id"]
        return stored, elapsed

    def put_writes(self, config: dict) -> float:
        writes = [("messages", [{"role": "assistant", "content": FILLER[:100]}]), ("step", 1)]
        task_id = str(uuid.uuid4())
        return timed(lambda: self.saver.put_writes(config, writes, task_id, "~__pregel_pull, act"))


@dataclass
class Target:
    """One saver with the graph and the long thread its scenarios reuse."""

    label: str
    saver: Any
    graph: Any = None
    history_ids: list[str] = field(default_factory=list)
    history_thread: str = ""

    def prepare(self, args: argparse.Namespace) -> None:
        self.graph = build_graph(self.saver)
        for durability in ("sync", "async"):
            invokes(self.graph, [f"warm-{uuid.uuid4()}" for _ in range(5)], durability)
        history = Chain(self.saver, f"hist-{uuid.uuid4().hex[:8]}")
        for i in range(args.history):
            config, _ = history.put()
            self.history_ids.append(config["configurable"]["checkpoint_id"])
            if i % 10 == 0 or i == args.history - 1:
                history.put_writes(config)
        self.history_thread = history.thread_id


def invokes(graph: Any, thread_ids: list[str], durability: str) -> tuple[float, list[float]]:
    """Wall time and per-invoke latencies of one invoke per thread id, in order."""
    latencies = []
    start = time.perf_counter()
    for i, thread_id in enumerate(thread_ids):
        config = {"configurable": {"thread_id": thread_id}}
        message = {"messages": [HumanMessage(content=f"turn {i}")]}
        start_one = time.perf_counter()
        graph.invoke(message, config, durability=durability)
        latencies.append(time.perf_counter() - start_one)
    return time.perf_counter() - start, latencies


# --- scenarios: each returns {metric name: value} -------------------------------------------


def graph_threads(target: Target, args: argparse.Namespace, durability: str) -> dict:
    label = "sync" if durability == "sync" else "default"
    ids = [f"g-{uuid.uuid4()}" for _ in range(args.threads)]
    wall, latencies = invokes(target.graph, ids, durability)
    return {
        f"graph {args.threads} threads ckpt/s [{label}]": 5 * args.threads / wall,
        f"graph {args.threads} threads invoke p50 ms [{label}]": percentile(latencies, 50) * 1e3,
    }


def graph_turns(target: Target, args: argparse.Namespace) -> dict:
    wall, latencies = invokes(target.graph, [f"conv-{uuid.uuid4()}"] * args.turns, "sync")
    return {
        f"graph 1 thread {args.turns} turns ckpt/s [sync]": 5 * args.turns / wall,
        f"graph 1 thread {args.turns} turns invoke p50 ms [sync]": percentile(latencies, 50) * 1e3,
    }


def raw_pairs(target: Target, args: argparse.Namespace) -> dict:
    chains = [Chain(target.saver, f"raw-{uuid.uuid4()}") for _ in range(10)]
    puts, writes = [], []
    start = time.perf_counter()
    for i in range(args.pairs):
        chain = chains[i % len(chains)]
        config, elapsed = chain.put()
        puts.append(elapsed)
        writes.append(chain.put_writes(config))
    wall = time.perf_counter() - start
    return {
        "raw put+put_writes pairs/s": len(puts) / wall,
        "raw put p50 ms": percentile(puts, 50) * 1e3,
        "raw put p99 ms": percentile(puts, 99) * 1e3,
        "raw put_writes p50 ms": percentile(writes, 50) * 1e3,
    }


def reads(target: Target, args: argparse.Namespace) -> dict:
    saver = target.saver
    latest = {"configurable": {"thread_id": target.history_thread, "checkpoint_ns": ""}}
    assert saver.get_tuple(latest).checkpoint["id"] == target.history_ids[-1]
    assert len(list(saver.list(latest, limit=10))) == 10
    rnd = random.Random(7)
    by_id = [
        {
            "configurable": {
                **latest["configurable"],
                "checkpoint_id": rnd.choice(target.history_ids),
            }
        }
        for _ in range(args.reps)
    ]
    return {
        f"get_tuple latest p50 ms ({args.history} ckpts)": percentile(
            [timed(lambda: saver.get_tuple(latest)) for _ in range(args.reps)], 50
        )
        * 1e3,
        "get_tuple by id p50 ms": percentile(
            [timed(lambda c=c: saver.get_tuple(c)) for c in by_id], 50
        )
        * 1e3,
        "list(limit=10) p50 ms": percentile(
            [timed(lambda: list(saver.list(latest, limit=10))) for _ in range(args.reps // 3)], 50
        )
        * 1e3,
    }


SCENARIOS = [
    lambda target, args: graph_threads(target, args, "sync"),
    lambda target, args: graph_threads(target, args, "async"),
    graph_turns,
    raw_pairs,
    reads,
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds per scenario (median)")
    parser.add_argument("--threads", type=int, default=200, help="graph invokes, one per thread")
    parser.add_argument("--turns", type=int, default=50, help="graph invokes on one thread")
    parser.add_argument("--pairs", type=int, default=1000, help="raw put+put_writes pairs")
    parser.add_argument("--history", type=int, default=500, help="checkpoints for get/list")
    parser.add_argument("--reps", type=int, default=300, help="get_tuple repetitions")
    parser.add_argument(
        "--no-store", action="store_true", help="skip the DjangoStore vs PostgresStore part"
    )
    args = parser.parse_args()

    server_url = os.environ.get("DATABASE_URL", "")
    with bench_database(server_url) as url:
        os.environ["DATABASE_URL"] = url
        os.environ.setdefault("AGENTSERVER_DATA_DIR", tempfile.mkdtemp(prefix="bench-"))
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentserver.settings")
        import django

        django.setup()
        from django.core.management import call_command
        from langgraph.checkpoint.postgres import PostgresSaver

        from apps.checkpoints.saver import DjangoSaver
        from apps.core.dbthreads import db_threads

        call_command("migrate", "checkpoints", verbosity=0)
        dsn = urlunsplit(urlsplit(url)._replace(scheme="postgresql"))
        results: dict[str, dict[str, list[float]]] = {"ours": {}, "theirs": {}}
        try:
            with PostgresSaver.from_conn_string(dsn) as postgres_saver:
                postgres_saver.setup()
                targets = [Target("ours", DjangoSaver()), Target("theirs", postgres_saver)]
                for target in targets:
                    target.prepare(args)
                started = time.perf_counter()
                for round_ in range(args.rounds):
                    for scenario in SCENARIOS:
                        for target in targets if round_ % 2 == 0 else targets[::-1]:
                            for name, value in scenario(target, args).items():
                                results[target.label].setdefault(name, []).append(value)
                    elapsed = time.perf_counter() - started
                    print(f"round {round_ + 1}/{args.rounds} done at {elapsed:.0f}s",
                          file=sys.stderr)  # fmt: skip
        finally:
            db_threads().close()
    print_table(results, args.rounds)
    if not args.no_store:
        # The store comparison sets up Django on a database of its own: a separate process.
        print("\nDjangoStore vs PostgresStore (bench/store.py)", flush=True)
        store_bench = Path(__file__).resolve().parent / "store.py"
        env = {**os.environ, "DATABASE_URL": server_url}
        subprocess.run([sys.executable, str(store_bench)], env=env, check=True)


def print_table(results: dict[str, dict[str, list[float]]], rounds: int) -> None:
    header = ("metric", "DjangoSaver", "PostgresSaver", "ratio")
    rows = []
    for name, samples in results["ours"].items():
        ours = statistics.median(samples)
        theirs = statistics.median(results["theirs"][name])
        ratio = ours / theirs if "/s" in name else theirs / ours  # throughput, else latency
        rows.append((name, f"{ours:,.3f}", f"{theirs:,.3f}", f"{ratio:.2f}x"))
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    print(f"\nmedian of {rounds} rounds, sync API, PostgreSQL; ratio = ours/theirs for")
    print("throughputs (/s), theirs/ours for latencies (ms): > 1 means DjangoSaver is better\n")
    print(" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("-+-".join("-" * w for w in widths))
    for row in rows:
        cells = [row[0].ljust(widths[0])]
        cells += [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
        print(" | ".join(cells))


if __name__ == "__main__":
    main()
