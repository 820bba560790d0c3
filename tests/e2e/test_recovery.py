"""A run survives its worker: kill -9, a lost message, a stalled worker, a warm shutdown.

Production shape only (PostgreSQL + Redis, separate worker processes). The deployment uses a
3 s lease and a 1 s sweep so recovery happens within seconds. The ``recorder`` graph writes a
row per node execution into a side table, so the test can count what ran.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

import psycopg
import pytest
import redis
from langgraph_sdk import get_client

from tests.e2e.conftest import PRODUCTION_SHAPE, Deployment
from tests.waiting import eventually, wait_for

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not PRODUCTION_SHAPE, reason="needs worker processes (PostgreSQL+Redis)"),
]

NODES = ["one", "two", "three", "four", "five", "six"]


@pytest.fixture
def recovery(tmp_path):
    deployment = Deployment(
        tmp_path,
        env={"AGENTSERVER_RUN_LEASE_SECONDS": "3", "AGENTSERVER_RUN_SWEEP_SECONDS": "1"},
    ).start(workers=1, beat=True)
    yield deployment
    deployment.stop()


def executions(deployment: Deployment, run_id: str) -> Counter:
    with psycopg.connect(deployment.env["DATABASE_URL"]) as conn:
        exists = conn.execute("SELECT to_regclass('test_node_executions')").fetchone()[0]
        if exists is None:
            return Counter()
        rows = conn.execute(
            "SELECT node FROM test_node_executions WHERE run_id = %s", [run_id]
        ).fetchall()
    return Counter(node for (node,) in rows)


async def finished_nodes(client, thread_id: str) -> list[str]:
    """Nodes whose step is in the latest checkpoint: they must never run again."""
    return (await client.threads.get_state(thread_id))["values"].get("steps", [])


def run_row(deployment: Deployment, run_id: str) -> tuple[str, int]:
    with psycopg.connect(deployment.env["DATABASE_URL"]) as conn:
        return conn.execute(
            "SELECT status, attempt FROM runs_run WHERE run_id = %s", [run_id]
        ).fetchone()


async def start_recorder(deployment: Deployment, *, delay: float, until_node: str):
    client = get_client(url=deployment.url, api_key=None)
    thread = await client.threads.create()
    run = await client.runs.create(
        thread["thread_id"], "recorder", input={"steps": [], "delay": delay}
    )
    await eventually(
        lambda: _has_run(deployment, run["run_id"], until_node),
        what=f"node {until_node} to start",
    )
    return client, thread["thread_id"], run["run_id"]


async def _has_run(deployment: Deployment, run_id: str, node: str) -> bool:
    return executions(deployment, run_id)[node] > 0


async def test_a_run_killed_mid_way_is_finished_by_another_worker_without_redoing_steps(
    recovery,
):
    client, thread_id, run_id = await start_recorder(recovery, delay=0.4, until_node="three")
    recovery.kill("worker0")
    done_before_kill = await finished_nodes(client, thread_id)
    assert done_before_kill  # at least "one" and "two" were checkpointed
    recovery.start_worker("worker1")

    result = await client.runs.join(thread_id, run_id)
    assert result["steps"] == NODES
    ran = executions(recovery, run_id)
    for node in done_before_kill:
        assert ran[node] == 1, (node, ran)
    assert set(ran) == set(NODES)
    status, attempt = run_row(recovery, run_id)
    assert (status, attempt) == ("success", 2)
    with psycopg.connect(recovery.env["DATABASE_URL"]) as conn:
        running = conn.execute("SELECT count(*) FROM runs_run WHERE status = 'running'")
        assert running.fetchone()[0] == 0


async def test_a_run_whose_message_was_lost_is_recovered_by_the_sweeper(recovery):
    recovery.terminate("worker0")
    client = get_client(url=recovery.url, api_key=None)
    thread = await client.threads.create()
    run = await client.runs.create(thread["thread_id"], "recorder", input={"steps": []})
    queue = recovery.env["AGENTSERVER_QUEUE"]
    broker = redis.Redis.from_url(os.environ["REDIS_URL"])
    wait_for(lambda: broker.llen(queue) > 0, what="the run's message to be queued")
    broker.delete(queue)  # the message is lost
    recovery.start_worker("worker1")

    result = await client.runs.join(thread["thread_id"], run["run_id"])
    assert result["steps"] == NODES
    assert executions(recovery, run["run_id"]) == Counter(NODES)


async def test_a_stalled_worker_cannot_overwrite_the_attempt_that_replaced_it(recovery):
    client, thread_id, run_id = await start_recorder(recovery, delay=0.3, until_node="two")
    stalled = recovery.processes["worker0"]
    os.killpg(stalled.pid, signal.SIGSTOP)
    try:
        recovery.start_worker("worker1")
        result = await client.runs.join(thread_id, run_id)
        assert result["steps"] == NODES
        assert run_row(recovery, run_id) == ("success", 2)
    finally:
        os.killpg(stalled.pid, signal.SIGCONT)
    wait_for(
        lambda: "lost its lease" in recovery.log("worker0"),
        what="the stalled worker to notice it lost the run",
    )
    assert run_row(recovery, run_id) == ("success", 2)
    assert (await client.runs.get(thread_id, run_id))["status"] == "success"


async def test_a_warm_shutdown_hands_the_run_to_another_worker(recovery):
    # Slow steps: the run must still be going once the second worker is up.
    client, thread_id, run_id = await start_recorder(recovery, delay=1.5, until_node="two")
    recovery.start_worker("worker1")
    assert run_row(recovery, run_id)[0] == "running"
    recovery.terminate("worker0")
    done_before_shutdown = await finished_nodes(client, thread_id)

    result = await client.runs.join(thread_id, run_id)
    assert result["steps"] == NODES
    ran = executions(recovery, run_id)
    for node in done_before_shutdown:
        assert ran[node] == 1, (node, ran)
    assert "released at shutdown" in recovery.log("worker0")
