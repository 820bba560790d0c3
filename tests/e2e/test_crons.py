"""Crons fire on a real beat and run on a real worker, as users see them through the SDK."""

import pytest
from langgraph_sdk import get_client

from tests.e2e.conftest import Deployment
from tests.waiting import eventually

MAKE_DUE = (
    "from django.utils import timezone; from apps.crons.models import Cron; "
    "Cron.objects.update(next_run_date=timezone.now())"
)


@pytest.fixture(scope="module")
def scheduled(tmp_path_factory):
    deployment = Deployment(
        tmp_path_factory.mktemp("scheduled"), env={"AGENTSERVER_CRON_TICK_SECONDS": "1"}
    ).start(workers=1, beat=True)
    yield deployment
    deployment.stop()


async def test_due_crons_fire_on_their_thread_and_on_fresh_threads(scheduled):
    client = get_client(url=scheduled.url, api_key=None)
    thread = await client.threads.create()
    await client.crons.create_for_thread(
        thread["thread_id"], "agent", schedule="0 0 1 1 *", input={"messages": []}
    )
    kept = await client.crons.create(
        "whoami",
        schedule="0 0 1 1 *",
        input={},
        on_run_completed="keep",
        metadata={"kind": "kept"},
    )
    await client.crons.create(
        "whoami", schedule="0 0 1 1 *", input={}, metadata={"kind": "deleted"}
    )

    scheduled.manage("shell", "-c", MAKE_DUE)

    async def fired():
        runs = await client.runs.list(thread["thread_id"])
        threads = await client.threads.search(metadata={"kind": "kept"})
        memory = await client.store.get_item(("memories", "local"), "last_run")
        done = [run for run in runs if run["status"] == "success"]
        return (runs, threads) if done and threads and memory else None

    runs, threads = await eventually(fired, timeout=60, what="each cron to fire")
    assert len(runs) == 1
    assert len(threads) == 1
    cron = await client.crons.search(metadata={"kind": "kept"})
    assert cron[0]["cron_id"] == kept["cron_id"]
    assert cron[0]["next_run_date"] > runs[0]["created_at"]

    async def deleted_threads_gone():
        return await client.threads.count(metadata={"kind": "deleted"}) == 0

    # The stateless cron that deletes its threads leaves none behind once its run is done.
    await eventually(deleted_threads_gone, timeout=30, what="the deleted cron's thread to go")
