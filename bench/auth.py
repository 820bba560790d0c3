#!/usr/bin/env python
"""What authentication and authorization cost: the same requests against a web process with
API keys on and one with ``AGENTSERVER_AUTH=none``, in the same run.

    /work/main/.venv/bin/python bench/auth.py [--n 400]

Starts two ``agentserver serve`` processes (production shape: a fresh PostgreSQL database
``bench_api_*`` on 127.0.0.1:5432, Redis on 127.0.0.1:6379; no worker: background runs stay
pending, which is what a run create costs the web process), makes an API key with
``agentserver manage create_api_key``, fills the tenant with 50 threads, then alternates the
same request between the two servers, one at a time:

  - list: ``POST /threads/search`` (limit 10) — authentication, role check, scoped query;
  - run create: ``POST /threads/{id}/runs`` on a fresh thread — plus the run's principal.

Prints p50 / p95 per server and the ratio (API keys / none; the target is <= 1.15x). Not a
test: nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from api import (
    AGENTSERVER,
    CONFIG,
    REDIS_URL,
    ROOT,
    Processes,
    bench_database,
    forget_queue,
    free_port,
    percentile,
    progress,
    wait_ok,
)

INPUT = {"messages": [{"role": "user", "content": "hi"}]}


def timed(client: httpx.Client, method: str, path: str, body: dict) -> float:
    """Seconds one request took."""
    start = time.perf_counter()
    response = client.request(method, path, json=body)
    elapsed = time.perf_counter() - start
    if response.status_code >= 300:
        raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:200]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=400, help="requests per scenario and server")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-auth-"))
    processes = Processes(tmp)
    queue = f"bench-auth-{uuid.uuid4().hex[:8]}"
    config = ["--config", str(CONFIG)]
    try:
        with bench_database() as database_url:
            env = {
                "PATH": str(AGENTSERVER.parent),
                "DATABASE_URL": database_url,
                "REDIS_URL": REDIS_URL,
                "AGENTSERVER_QUEUE": queue,
                "AGENTSERVER_DATA_DIR": str(tmp / "data"),
            }
            subprocess.run([str(AGENTSERVER), "migrate", *config], env=env, check=True)
            key = subprocess.run(
                [str(AGENTSERVER), "manage", *config, "create_api_key", "--user", "bench"],
                env=env,
                check=True,
                capture_output=True,
                text=True,
            ).stdout.split()[-1]
            urls = {}
            for scheme in ("none", "apikey"):
                port = free_port()
                urls[scheme] = f"http://127.0.0.1:{port}"
                processes.start(
                    f"web-{scheme}",
                    [
                        *(str(AGENTSERVER), "serve", *config, "--port", str(port)),
                        *("--host", "127.0.0.1", "--server-log-level", "warning"),
                    ],
                    {**env, "AGENTSERVER_AUTH": scheme},
                    ROOT,
                )
                wait_ok(urls[scheme], processes)
            clients = {
                "none": httpx.Client(base_url=urls["none"], timeout=30),
                "apikey": httpx.Client(
                    base_url=urls["apikey"], timeout=30, headers={"x-api-key": key}
                ),
            }
            for _ in range(50):
                for client in clients.values():
                    client.post("/threads", json={"metadata": {"bench": True}})
            progress(f"servers up (logs in {tmp}); {args.n} requests per scenario and server")
            rows = []
            for label, request in (
                ("list (POST /threads/search)", lambda c: ("POST", "/threads/search", {})),
                (
                    "run create (POST /threads/{id}/runs)",
                    lambda c: (
                        "POST",
                        f"/threads/{c.post('/threads', json={}).json()['thread_id']}/runs",
                        {"assistant_id": "echo", "input": INPUT},
                    ),
                ),
            ):
                samples: dict[str, list[float]] = {"none": [], "apikey": []}
                for index in range(args.n + 20):
                    for scheme, client in clients.items():
                        elapsed = timed(client, *request(client))
                        if index >= 20:  # the first requests warm the processes up
                            samples[scheme].append(elapsed)
                rows.append((label, samples))
    finally:
        processes.stop()
        forget_queue(queue)
    print()
    print(f"{'scenario':40} {'none p50':>9} {'keys p50':>9} {'none p95':>9} {'keys p95':>9} ratio")
    for label, samples in rows:
        none, keys = samples["none"], samples["apikey"]
        p50_none, p50_keys = percentile(none, 50), percentile(keys, 50)
        print(
            f"{label:40} {p50_none:7.2f}ms {p50_keys:7.2f}ms {percentile(none, 95):7.2f}ms "
            f"{percentile(keys, 95):7.2f}ms {p50_keys / p50_none:.2f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
