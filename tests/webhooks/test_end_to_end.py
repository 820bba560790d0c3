"""Webhooks of runs executed for real (server and worker processes), posted to a receiver on
loopback that the project's ``webhooks.url`` policy allows."""

import pytest
from langgraph_sdk import get_sync_client
from langgraph_sdk.errors import UnprocessableEntityError

from tests.e2e.conftest import free_port
from tests.waiting import wait_for
from tests.webhooks.conftest import deliveries_of, signature_of

pytestmark = pytest.mark.e2e

HELLO = {"messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def client(deployment):
    return get_sync_client(url=deployment.url, api_key=None)


def settled_delivery(deployment, run_id: str) -> dict:
    """The run's one delivery, once it succeeded or failed."""

    def settled():
        rows = deliveries_of(deployment, run_id)
        return rows[0] if rows and rows[0]["status"] != "pending" else None

    delivery = wait_for(settled, what=f"the webhook delivery of run {run_id}")
    assert len(deliveries_of(deployment, run_id)) == 1
    return delivery


def test_each_run_is_delivered_once_signed(client, deployment, receiver):
    thread = client.threads.create()
    urls = [receiver.url(), receiver.url()]
    for url in urls:
        client.runs.wait(thread["thread_id"], "agent", input=HELLO, webhook=url)
    runs = client.runs.list(thread["thread_id"])

    for run, url in zip(reversed(runs), urls, strict=True):
        assert settled_delivery(deployment, run["run_id"])["status"] == "succeeded"
        [request] = receiver.requests_to(url)
        assert signature_of(request)
        assert request.headers["Authorization"] == "Bearer receiver-token"
        body = request.json
        assert (body["run_id"], body["status"]) == (run["run_id"], "success")
        assert body["values"]["steps"][-2:] == ["agent", "finish"]  # the thread's values
        assert body["kwargs"]["webhook"] == url


def test_a_receiver_failing_twice_gets_three_attempts(client, deployment, receiver):
    url = receiver.answer(receiver.url(), 500, 500, 200)

    run = client.runs.create(None, "agent", input=HELLO, webhook=url)

    delivery = settled_delivery(deployment, run["run_id"])
    assert (delivery["status"], delivery["attempts"], delivery["response_code"]) == (
        "succeeded",
        3,
        200,
    )
    assert len(receiver.requests_to(url)) == 3


def test_a_receiver_down_for_good_ends_in_a_failed_delivery(client, deployment):
    url = f"http://127.0.0.1:{free_port()}/hook"

    run = client.runs.create(None, "agent", input=HELLO, webhook=url)

    delivery = settled_delivery(deployment, run["run_id"])
    assert (delivery["status"], delivery["attempts"]) == ("failed", 3)
    assert "ConnectError" in delivery["last_error"]


def test_a_4xx_is_not_retried(client, deployment, receiver):
    url = receiver.answer(receiver.url(), 410)

    run = client.runs.create(None, "agent", input=HELLO, webhook=url)

    delivery = settled_delivery(deployment, run["run_id"])
    assert (delivery["status"], delivery["attempts"], delivery["response_code"]) == (
        "failed",
        1,
        410,
    )
    assert len(receiver.requests_to(url)) == 1


def test_every_way_a_run_ends_is_delivered(client, deployment, receiver):
    ends = {}

    def hook(name: str) -> str:
        ends[name] = receiver.url()
        return ends[name]

    def new_thread() -> str:
        return client.threads.create()["thread_id"]

    client.runs.wait(
        new_thread(), "failing", input={"steps": []}, webhook=hook("error"), raise_error=False
    )
    client.runs.wait(new_thread(), "approval", input={"request": "x"}, webhook=hook("interrupt"))
    queued = new_thread()
    pending = client.runs.create(queued, "agent", after_seconds=3600, webhook=hook("pending"))
    client.runs.cancel(queued, pending["run_id"])
    busy = new_thread()
    running = client.runs.create(
        busy, "slow", input={"target": 400, "delay": 0.05}, webhook=hook("running")
    )
    wait_for(
        lambda: client.runs.get(busy, running["run_id"])["status"] == "running",
        what="the slow run to start",
    )
    client.runs.cancel(busy, running["run_id"], wait=True)
    client.runs.wait(None, "agent", input=HELLO, webhook=hook("stateless"))

    def delivered(name: str) -> dict:
        [request] = wait_for(lambda: receiver.requests_to(ends[name]), what=f"the {name} hook")
        return request.json

    assert delivered("error")["status"] == "error"
    assert delivered("error")["error"] == "the node failed on purpose"
    assert delivered("interrupt")["status"] == "success"  # stopped at interrupt(): a success
    assert delivered("interrupt")["values"] == {"request": "x"}
    assert delivered("pending")["status"] == "interrupted"
    assert delivered("pending")["run_started_at"] is None
    assert delivered("running")["status"] == "interrupted"
    assert delivered("running")["values"]["count"] >= 1
    assert delivered("stateless")["status"] == "success"
    assert delivered("stateless")["values"]["steps"] == ["agent", "finish"]


def test_a_private_webhook_is_refused_at_run_creation(client):
    thread_id = client.threads.create()["thread_id"]

    with pytest.raises(UnprocessableEntityError) as refused:
        client.runs.create(thread_id, "agent", input=HELLO, webhook="http://10.0.0.1/hook")

    assert "10.0.0.1, a private address" in refused.value.response.json()["detail"]
    assert client.runs.list(thread_id) == []
