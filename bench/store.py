"""Benchmark: DjangoStore against langgraph-checkpoint-postgres's PostgresStore.

Both stores run against fresh tables in one scratch database (``bench_store_<pid>``, created
and dropped here) on the PostgreSQL server named by ``DATABASE_URL``, in the same process and
run, with the same data: 10,000 items over 100 namespaces ``("root", "team<t>", "user<u>")``.
DjangoStore is bound to the default tenant (PostgresStore has no tenants).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/store.py

Not part of the test suite; timings are printed, never asserted.
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

NAMESPACES = [("root", f"team{t}", f"user{u}") for t in range(10) for u in range(10)]
ITEMS_PER_NAMESPACE = 100
REPEAT = 200


def main() -> None:
    server_url = os.environ.get("DATABASE_URL", "")
    if urlsplit(server_url).scheme not in {"postgres", "postgresql"}:
        sys.exit("set DATABASE_URL=postgres://user@host:port/any_database")
    import psycopg

    name = f"bench_store_{os.getpid()}"
    bench_url = urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))
    with psycopg.connect(_libpq(server_url), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        run(bench_url)
    finally:
        with psycopg.connect(_libpq(server_url), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run(bench_url: str) -> None:
    os.environ["DATABASE_URL"] = bench_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentserver.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from langgraph.store.postgres import PostgresStore

    from apps.core.dbthreads import db_threads
    from apps.memory.store import DjangoStore
    from apps.tenancy.models import DEFAULT_TENANT_ID

    call_command("migrate", "memory", verbosity=0, skip_checks=True)  # and tenancy, first
    try:
        with PostgresStore.from_conn_string(_libpq(bench_url)) as postgres_store:
            postgres_store.setup()
            django_store = DjangoStore().for_tenant(DEFAULT_TENANT_ID)
            stores = {"DjangoStore": django_store, "PostgresStore": postgres_store}
            report(measure(stores, vacuum=lambda: _vacuum(bench_url)))
    finally:
        db_threads().close()


def measure(stores: dict, *, vacuum: Callable[[], None]) -> dict[str, dict[str, float]]:
    """Every metric for every store; timed loops alternate between the stores in rounds so
    background noise on the machine hits both alike."""
    metrics: dict[str, dict[str, float]] = {label: {} for label in stores}
    for label, store in stores.items():
        started = time.perf_counter()
        for namespace in NAMESPACES:
            for start in range(0, ITEMS_PER_NAMESPACE, 50):
                store.batch([_put(namespace, i) for i in range(start, start + 50)])
        metrics[label]["load 10k items (s)"] = time.perf_counter() - started

    counter = iter(range(10**9))

    def single_put(store) -> None:
        i = next(counter)
        store.put(NAMESPACES[i % 100], f"single{i}", {"score": i % 100, "text": "x" * 40})

    _record(metrics, "put p50 (ms)", _compare(stores, single_put), 50)
    batch_seconds = _compare(stores, _batch_put, count=20, warmup=0)
    for label, timings in batch_seconds.items():
        metrics[label]["batch put (items/s)"] = 100 / (statistics.mean(timings) / 1000)
    vacuum()  # the steady state autovacuum reaches soon after: visibility map, statistics

    def get(store) -> None:
        store.get(random.choice(NAMESPACES), f"item{random.randrange(ITEMS_PER_NAMESPACE)}")

    gets = _compare(stores, get, count=1000)
    _record(metrics, "get p50 (ms)", gets, 50)
    _record(metrics, "get p99 (ms)", gets, 99)

    def search(store) -> None:
        team = random.choice(NAMESPACES)[:2]
        store.search(team, filter={"kind": "note", "score": {"$gte": 50}}, limit=10)

    _record(metrics, "search+filter p50 (ms)", _compare(stores, search), 50)

    def listing(store) -> None:
        store.list_namespaces(prefix=("root",), limit=100)

    def listing_depth2(store) -> None:
        store.list_namespaces(prefix=("root",), max_depth=2, limit=100)

    _record(metrics, "list_namespaces p50 (ms)", _compare(stores, listing), 50)
    _record(metrics, "list_namespaces depth2 p50 (ms)", _compare(stores, listing_depth2), 50)
    return metrics


_BATCHES = iter(range(10**9))


def _batch_put(store) -> None:
    b = next(_BATCHES)
    store.batch([_put(NAMESPACES[(b + j) % 100], 1000 + b * 100 + j) for j in range(100)])


def _put(namespace: tuple[str, ...], i: int):
    from langgraph.store.base import PutOp

    value = {"score": i % 100, "kind": "note" if i % 2 else "fact", "text": f"memory {i}"}
    return PutOp(namespace, f"item{i}", value)


def _compare(
    stores: dict, fn: Callable, *, count: int = REPEAT, rounds: int = 5, warmup: int = 10
) -> dict[str, list[float]]:
    timings: dict[str, list[float]] = {label: [] for label in stores}
    for store in stores.values():
        for _ in range(warmup):
            fn(store)  # warm caches and connections
    for _ in range(rounds):
        for label, store in stores.items():
            for _ in range(count // rounds):
                started = time.perf_counter()
                fn(store)
                timings[label].append((time.perf_counter() - started) * 1000)
    return timings


def _record(metrics: dict, name: str, timings: dict[str, list[float]], q: int) -> None:
    for label, values in timings.items():
        metrics[label][name] = _quantile(values, q)


def _quantile(timings: list[float], q: int) -> float:
    if q == 50:
        return statistics.median(timings)
    return statistics.quantiles(timings, n=100)[q - 1]


def report(results: dict[str, dict[str, float]]) -> None:
    ours, theirs = results["DjangoStore"], results["PostgresStore"]
    print()
    print("DjangoStore vs PostgresStore: same PostgreSQL server, same run, same data; both")
    print("databases VACUUM ANALYZEd after the writes, before the reads.")
    print("ratio = how many times better DjangoStore is (>1 = DjangoStore faster):")
    print("  PostgresStore time / DjangoStore time, or DjangoStore items/s / PostgresStore items/s")
    print()
    print(f"{'metric':<34}{'DjangoStore':>14}{'PostgresStore':>15}{'ratio':>9}")
    for metric in ours:
        mine, other = ours[metric], theirs[metric]
        ratio = mine / other if "items/s" in metric else other / mine
        print(f"{metric:<34}{mine:>14.3f}{other:>15.3f}{ratio:>8.1f}x")
    print()
    print("Note: PostgresStore compares $gte as text; the filter is the same, the rows may differ.")


def _vacuum(url: str) -> None:
    import psycopg

    with psycopg.connect(_libpq(url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def _libpq(url: str) -> str:
    return urlunsplit(urlsplit(url)._replace(scheme="postgresql"))


if __name__ == "__main__":
    main()
