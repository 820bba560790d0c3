"""A worker that shuts down gives its run back without using up one of its attempts."""

import orjson
import pytest

from apps.core.dbthreads import db_threads
from apps.graphs.services import assistants_sync_defaults
from apps.runs.models import Run, RunStatus
from apps.runs.services import run_claim, run_create, run_release, runs_sweep
from apps.streams.eventlog import event_log
from apps.streams.names import run_stream, thread_events_stream
from apps.tenancy.principal import local_principal
from apps.threads.services import thread_create

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def run(settings) -> Run:
    settings.AGENTSERVER_RUN_MAX_ATTEMPTS = 1
    assistants_sync_defaults()
    thread = thread_create(principal=local_principal())
    return run_create(
        principal=local_principal(), thread_id=thread.thread_id, payload={"assistant_id": "agent"}
    )


def test_a_run_released_on_its_last_attempt_is_claimed_again(run):
    first = run_claim(run_id=run.run_id, worker="w1")

    assert run_release(run_id=run.run_id, attempt=first.attempt)
    second = run_claim(run_id=run.run_id, worker="w2")

    assert (first.attempt, second.attempt) == (1, 2)
    assert Run.objects.get(pk=run.run_id).status == RunStatus.RUNNING


def test_a_released_run_is_not_failed_by_the_sweeper_as_exhausted(run):
    first = run_claim(run_id=run.run_id, worker="w1")
    run_release(run_id=run.run_id, attempt=first.attempt)

    runs_sweep()

    assert Run.objects.get(pk=run.run_id).status == RunStatus.PENDING


async def test_a_run_the_sweeper_gives_up_tells_its_followers_it_failed(run, settings):
    settings.AGENTSERVER_RUN_LEASE_SECONDS = 0  # the claim's lease is over at once
    await db_threads().arun(run_claim, run_id=run.run_id, worker="lost")

    await db_threads().arun(runs_sweep)

    stream = thread_events_stream(run.tenant_id, run.thread_id)
    events = await event_log().read(stream, after="0", timeout=0)
    data = orjson.loads(events[-1].data)["data"]
    assert (data["event"], data["reason"]) == ("failed", "error")
    assert data["error"].startswith("RunAttemptsExhausted")
    end = await event_log().read(run_stream(run.run_id), after="0", timeout=0)
    assert end[-1].event == "end"
