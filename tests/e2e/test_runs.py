"""Runs through langgraph-sdk against a live deployment: create, wait, join, stream, list,
cancel, delete, stateless runs and the errors users make."""

import httpx
import pytest
from langgraph_sdk.errors import (
    BadRequestError,
    NotFoundError,
    UnprocessableEntityError,
)

pytestmark = pytest.mark.e2e

HELLO = {"messages": [{"role": "user", "content": "hi"}]}


async def test_a_background_run_is_joined_for_its_final_values(client):
    thread = await client.threads.create()
    run = await client.runs.create(thread["thread_id"], "agent", input=HELLO)
    assert run["status"] in ("pending", "running", "success")
    result = await client.runs.join(thread["thread_id"], run["run_id"])
    assert result["steps"] == ["agent", "finish"]
    assert result["messages"][-1]["content"] == "Hello from the agent."

    finished = await client.runs.get(thread["thread_id"], run["run_id"])
    assert finished["status"] == "success"
    assert finished["assistant_id"] == "fe096781-5601-53d2-b2f6-0d3403f7e9ca"
    assert finished["kwargs"]["input"] == HELLO

    thread = await client.threads.get(thread["thread_id"])
    assert thread["status"] == "idle"
    assert thread["metadata"]["graph_id"] == "agent"
    assert thread["values"]["steps"] == ["agent", "finish"]


async def test_wait_answers_with_the_final_state(client):
    thread = await client.threads.create()
    result = await client.runs.wait(thread["thread_id"], "nested", input={"steps": []})
    assert result == {"steps": ["inner"]}


def test_run_responses_name_the_run_in_their_headers(http):
    thread = http.post("/threads", json={}).json()
    created = http.post(f"/threads/{thread['thread_id']}/runs", json={"assistant_id": "nested"})
    run = created.json()
    location = f"/threads/{thread['thread_id']}/runs/{run['run_id']}"
    assert created.headers["content-location"] == location

    waited = http.post(f"/threads/{thread['thread_id']}/runs/wait", json={"assistant_id": "nested"})
    assert waited.headers["location"].endswith("/join")
    assert waited.headers["content-location"].startswith(f"/threads/{thread['thread_id']}/runs/")
    with http.stream(
        "POST", f"/threads/{thread['thread_id']}/runs/stream", json={"assistant_id": "nested"}
    ) as streamed:
        assert streamed.headers["content-type"].startswith("text/event-stream")
        assert streamed.headers["location"].endswith("/stream")
        streamed.read()


async def test_streaming_sends_metadata_first_each_mode_and_end_last(client):
    thread = await client.threads.create()
    parts = [
        part
        async for part in client.runs.stream(
            thread["thread_id"],
            "agent",
            input=HELLO,
            stream_mode=["values", "updates", "messages-tuple", "custom", "tasks", "debug"],
        )
    ]
    events = [part.event for part in parts]
    assert events[0] == "metadata"
    assert parts[0].data["attempt"] == 1
    assert events[-1] == "end"
    assert {"values", "updates", "messages", "tasks", "debug"} <= set(events)
    tokens = "".join(p.data[0]["content"] for p in parts if p.event == "messages")
    assert tokens == "Hello from the agent."
    updates = [p.data for p in parts if p.event == "updates"]
    assert updates[0]["agent"]["steps"] == ["agent"]


async def test_legacy_messages_mode_sends_metadata_partial_and_accumulates(client):
    thread = await client.threads.create()
    parts = [
        part
        async for part in client.runs.stream(
            thread["thread_id"], "agent", input=HELLO, stream_mode="messages"
        )
    ]
    names = [p.event for p in parts]
    assert "messages/metadata" in names
    partials = [p.data[0]["content"] for p in parts if p.event == "messages/partial"]
    assert partials[-1] == "Hello from the agent."
    assert partials[0] == "H"


async def test_custom_checkpoints_and_events_modes_stream(client):
    thread = await client.threads.create()
    custom = [
        p.data
        async for p in client.runs.stream(
            thread["thread_id"], "custom", input={"steps": []}, stream_mode="custom"
        )
        if p.event == "custom"
    ]
    assert custom == [{"progress": 50}, {"progress": 100}]

    checkpoints = [
        p.data
        async for p in client.runs.stream(thread["thread_id"], "custom", stream_mode="checkpoints")
        if p.event == "checkpoints"
    ]
    assert checkpoints and "values" in checkpoints[-1] and "next" in checkpoints[-1]

    events = [
        p.data
        async for p in client.runs.stream(
            thread["thread_id"], "custom", input={"steps": []}, stream_mode="events"
        )
        if p.event == "events"
    ]
    assert any(e["event"] == "on_chain_start" for e in events)


async def test_subgraph_events_carry_their_namespace(client):
    thread = await client.threads.create()
    names = [
        p.event
        async for p in client.runs.stream(
            thread["thread_id"],
            "nested",
            input={"steps": []},
            stream_mode="updates",
            stream_subgraphs=True,
        )
    ]
    assert "updates" in names
    assert any(name.startswith("updates|child:") for name in names)


async def test_an_error_in_the_graph_is_an_error_event_and_an_error_status(client):
    thread = await client.threads.create()
    parts = [p async for p in client.runs.stream(thread["thread_id"], "failing", input={})]
    errors = [p.data for p in parts if p.event == "error"]
    assert errors == [{"error": "ValueError", "message": "the node failed on purpose"}]
    runs = await client.runs.list(thread["thread_id"])
    assert runs[0]["status"] == "error"
    assert (await client.threads.get(thread["thread_id"]))["status"] == "error"
    result = await client.runs.wait(thread["thread_id"], "failing", input={}, raise_error=False)
    assert result["__error__"]["error"] == "ValueError"


async def test_runs_are_listed_newest_first_filtered_and_deleted(client):
    thread = await client.threads.create()
    first = await client.runs.wait(thread["thread_id"], "nested", input={"steps": []})
    assert first
    second = await client.runs.create(thread["thread_id"], "nested", input={"steps": []})
    await client.runs.join(thread["thread_id"], second["run_id"])
    runs = await client.runs.list(thread["thread_id"])
    assert runs[0]["run_id"] == second["run_id"]
    assert len(await client.runs.list(thread["thread_id"], status="error")) == 0
    assert len(await client.runs.list(thread["thread_id"], limit=1)) == 1

    await client.runs.delete(thread["thread_id"], second["run_id"])
    with pytest.raises(NotFoundError):
        await client.runs.get(thread["thread_id"], second["run_id"])


async def test_a_stateless_run_uses_a_temporary_thread_that_is_removed(client):
    result = await client.runs.wait(None, "nested", input={"steps": []})
    assert result == {"steps": ["inner"]}
    parts = [p.event async for p in client.runs.stream(None, "nested", input={"steps": []})]
    assert parts[0] == "metadata" and parts[-1] == "end"

    kept = await client.runs.create(None, "nested", input={"steps": []}, on_completion="keep")
    await client.runs.join(kept["thread_id"], kept["run_id"])
    assert (await client.threads.get(kept["thread_id"]))["values"] == {"steps": ["inner"]}

    temporary = await client.runs.create(None, "nested", input={"steps": []})
    wait_for_gone = [temporary["thread_id"]]
    await client.runs.join(temporary["thread_id"], temporary["run_id"])

    async def gone() -> bool:
        try:
            await client.threads.get(wait_for_gone[0])
        except NotFoundError:
            return True
        return False

    assert await gone()


def test_a_batch_of_stateless_runs_is_created_together(sync_client, http):
    runs = http.post(
        "/runs/batch",
        json=[{"assistant_id": "nested", "input": {"steps": [str(i)]}} for i in range(3)],
    ).json()
    assert len(runs) == 3
    assert len({r["thread_id"] for r in runs}) == 3
    assert http.post("/runs/batch", json=[]).status_code == 422
    assert http.post("/runs/batch", json={"assistant_id": "nested"}).status_code == 422


async def test_bad_run_requests_are_clear_client_errors(client, http):
    thread = await client.threads.create()
    tid = thread["thread_id"]
    with pytest.raises(NotFoundError):
        await client.runs.create("00000000-0000-0000-0000-000000000000", "agent")
    with pytest.raises(NotFoundError):
        await client.runs.create(tid, "00000000-0000-0000-0000-000000000000")
    with pytest.raises(UnprocessableEntityError):
        await client.runs.create(tid, "not-a-graph")
    with pytest.raises(UnprocessableEntityError):
        await client.runs.create(tid, "agent", stream_mode=["colors"])
    with pytest.raises(BadRequestError):
        await client.runs.create(tid, "agent", command={"resume": "yes"})
    with pytest.raises(BadRequestError):
        await client.runs.create(tid, "agent", config={"configurable": {"a": 1}}, context={"a": 2})
    resume_without_thread = http.post(
        "/runs/wait", json={"assistant_id": "agent", "command": {"resume": "yes"}}
    )
    assert resume_without_thread.status_code == 400
    assert resume_without_thread.json() == {"detail": "You must provide a thread_id when resuming."}
    both = http.post(
        f"/threads/{tid}/runs",
        json={"assistant_id": "agent", "input": {}, "command": {"resume": 1}},
    )
    assert both.status_code == 422
    stream_bad = http.post(
        f"/threads/{tid}/runs/stream",
        json={"assistant_id": "agent", "input": 3, "after_seconds": -1},
    )
    assert stream_bad.status_code == 422
    assert stream_bad.headers["content-type"] == "application/json"
    assert (
        http.post("/runs", json={"assistant_id": "agent", "if_not_exists": "create"}).status_code
        == 422
    )
    assert (await client.runs.list(tid)) == []


async def test_if_not_exists_create_makes_the_thread(client):
    thread_id = "7f0b6f55-6f0c-4bd4-9d38-7c7c83b1b0a5"
    await client.runs.wait(thread_id, "nested", input={"steps": []}, if_not_exists="create")
    thread = await client.threads.get(thread_id)
    assert thread["metadata"]["graph_id"] == "nested"


async def test_a_delayed_run_waits_its_turn(client):
    thread = await client.threads.create()
    run = await client.runs.create(
        thread["thread_id"], "nested", input={"steps": []}, after_seconds=0.5
    )
    assert (await client.runs.get(thread["thread_id"], run["run_id"]))["status"] == "pending"
    await client.runs.join(thread["thread_id"], run["run_id"])
    assert (await client.runs.get(thread["thread_id"], run["run_id"]))["status"] == "success"


def test_wait_keeps_the_connection_alive_with_whitespace(http):
    thread = http.post("/threads", json={}).json()
    body = b""
    with http.stream(
        "POST",
        f"/threads/{thread['thread_id']}/runs/wait",
        json={"assistant_id": "slow", "input": {"target": 1, "delay": 5.5}},
        timeout=httpx.Timeout(30),
    ) as response:
        for chunk in response.iter_bytes():
            body += chunk
    assert body.startswith(b"\n")
    assert b'"count":1' in body


async def test_a_run_can_fork_from_an_earlier_checkpoint(client):
    thread = await client.threads.create()
    tid = thread["thread_id"]
    await client.runs.wait(tid, "slow", input={"target": 3, "delay": 0})
    history = await client.threads.get_history(tid, limit=10)
    after_one = next(s for s in history if s["values"].get("count") == 1)

    forked = await client.runs.wait(
        tid, "slow", input=None, checkpoint=after_one["checkpoint"], config={"tags": ["fork"]}
    )
    assert forked["count"] == 3
    latest = await client.threads.get_state(tid)
    parents = {s["checkpoint"]["checkpoint_id"] for s in history}
    assert latest["checkpoint"]["checkpoint_id"] not in parents
    assert (await client.threads.get_history(tid, limit=100))[0]["metadata"]["run_id"]
