"""Human-in-the-loop, double-texting, cancellation and resumable streams, through langgraph-sdk
against a live deployment."""

import asyncio

import pytest
from langgraph_sdk.errors import BadRequestError, ConflictError, NotFoundError

from tests.waiting import eventually

pytestmark = pytest.mark.e2e

SLOW = {"target": 400, "delay": 0.05}  # 20 s of steps: always stopped by the test first


async def started_steps(client, thread_id: str, at_least: int = 2) -> list[dict]:
    """Wait until the thread's running graph has checkpointed ``at_least`` steps."""

    async def enough():
        history = await client.threads.get_history(thread_id, limit=at_least)
        return history if len(history) >= at_least else None

    return await eventually(enough, what=f"{at_least} checkpoints on {thread_id}")


async def run_status(client, thread_id: str, run_id: str) -> str:
    return (await client.runs.get(thread_id, run_id))["status"]


async def run_deleted(client, thread_id: str, run_id: str) -> bool:
    try:
        await client.runs.get(thread_id, run_id)
    except NotFoundError:
        return True
    return False


async def has_status(client, thread_id: str, run_id: str, *statuses: str) -> bool:
    return await run_status(client, thread_id, run_id) in statuses


# --- human in the loop ------------------------------------------------------------------------


async def test_an_interrupt_ends_the_run_and_a_resume_continues_it(client):
    thread = await client.threads.create()
    tid = thread["thread_id"]
    paused = await client.runs.wait(tid, "approval", input={"request": "deploy"})
    assert paused["__interrupt__"][0]["value"] == {"question": "Approve deploy?"}

    runs = await client.runs.list(tid)
    assert runs[0]["status"] == "success"  # the run stopped at the interrupt, it did not fail
    thread = await client.threads.get(tid)
    assert thread["status"] == "interrupted"
    [pending] = list(thread["interrupts"].values())
    assert pending[0]["value"] == {"question": "Approve deploy?"}
    state = await client.threads.get_state(tid)
    assert state["next"] == ["ask"]
    assert state["interrupts"][0]["id"] == pending[0]["id"]

    done = await client.runs.wait(tid, "approval", command={"resume": "approved"})
    assert done == {"request": "deploy", "decision": "approved"}
    assert (await client.threads.get(tid))["status"] == "idle"

    with pytest.raises(BadRequestError):
        await client.runs.create(tid, "approval", command={"resume": "again"})


async def test_parallel_interrupts_are_resumed_together_by_interrupt_id(client):
    thread = await client.threads.create()
    tid = thread["thread_id"]
    paused = await client.runs.wait(tid, "parallel_approval", input={"answers": []})
    by_value = {i["value"]: i["id"] for i in paused["__interrupt__"]}
    assert set(by_value) == {"left?", "right?"}
    thread = await client.threads.get(tid)
    assert len(thread["interrupts"]) == 2

    done = await client.runs.wait(
        tid,
        "parallel_approval",
        command={"resume": {by_value["left?"]: "yes", by_value["right?"]: "no"}},
    )
    assert sorted(done["answers"]) == ["left:yes", "right:no"]


async def test_a_static_breakpoint_pauses_before_the_node_and_none_continues(client):
    thread = await client.threads.create()
    tid = thread["thread_id"]
    await client.runs.wait(tid, "agent", input={"messages": []}, interrupt_before=["finish"])
    state = await client.threads.get_state(tid)
    assert state["next"] == ["finish"]
    assert (await client.threads.get(tid))["status"] == "interrupted"
    done = await client.runs.wait(tid, "agent", input=None)
    assert done["steps"] == ["agent", "finish"]


# --- double texting ---------------------------------------------------------------------------


async def test_reject_refuses_a_second_run_while_one_is_active(client):
    thread = await client.threads.create()
    tid = thread["thread_id"]
    first = await client.runs.create(tid, "slow", input=SLOW)
    with pytest.raises(ConflictError):
        await client.runs.create(tid, "slow", input=SLOW, multitask_strategy="reject")
    assert [r["run_id"] for r in await client.runs.list(tid)] == [first["run_id"]]
    await client.runs.cancel(tid, first["run_id"], wait=True)


async def test_enqueue_runs_one_after_the_other_in_order(client):
    thread = await client.threads.create()
    tid = thread["thread_id"]
    first = await client.runs.create(tid, "slow", input={"target": 3, "delay": 0.05})
    second = await client.runs.create(tid, "slow", input={"target": 2, "delay": 0.0})
    third = await client.runs.create(
        tid, "nested", input={"steps": []}, multitask_strategy="enqueue"
    )
    assert (await client.runs.get(tid, second["run_id"]))["status"] == "pending"
    await client.runs.join(tid, third["run_id"])

    statuses = {r["run_id"]: r["status"] for r in await client.runs.list(tid)}
    assert set(statuses.values()) == {"success"}
    history = await client.threads.get_history(tid, limit=100)
    order = [s["metadata"]["run_id"] for s in reversed(history) if s["metadata"].get("run_id")]
    runs_in_order = list(dict.fromkeys(order))
    assert runs_in_order == [first["run_id"], second["run_id"], third["run_id"]]


async def test_interrupt_stops_the_active_run_and_keeps_its_checkpoints(client):
    thread = await client.threads.create()
    tid = thread["thread_id"]
    first = await client.runs.create(tid, "slow", input=SLOW)
    await started_steps(client, tid)
    second = await client.runs.create(
        tid, "slow", input={"target": 1, "delay": 0}, multitask_strategy="interrupt"
    )
    await client.runs.join(tid, second["run_id"])
    assert await run_status(client, tid, first["run_id"]) == "interrupted"
    assert await run_status(client, tid, second["run_id"]) == "success"
    history = await client.threads.get_history(tid, limit=1000)
    assert any(s["metadata"].get("run_id") == first["run_id"] for s in history)


async def test_rollback_deletes_the_active_run_and_its_checkpoints(client):
    thread = await client.threads.create()
    tid = thread["thread_id"]
    first = await client.runs.create(tid, "slow", input=SLOW)
    await started_steps(client, tid)
    second = await client.runs.create(
        tid, "nested", input={"steps": []}, multitask_strategy="rollback"
    )
    await client.runs.join(tid, second["run_id"])

    await eventually(
        lambda: run_deleted(client, tid, first["run_id"]), what="the rolled back run to go"
    )
    history = await client.threads.get_history(tid, limit=1000)
    assert not any(s["metadata"].get("run_id") == first["run_id"] for s in history)
    assert (await client.threads.get_state(tid))["values"] == {"steps": ["inner"]}


async def test_a_pending_run_is_superseded_without_running(client):
    thread = await client.threads.create()
    tid = thread["thread_id"]
    first = await client.runs.create(tid, "slow", input=SLOW)
    queued = await client.runs.create(tid, "nested", input={"steps": []})
    last = await client.runs.create(
        tid, "nested", input={"steps": []}, multitask_strategy="interrupt"
    )
    await client.runs.join(tid, last["run_id"])
    assert await run_status(client, tid, queued["run_id"]) == "interrupted"
    assert await run_status(client, tid, first["run_id"]) == "interrupted"


# --- cancel -----------------------------------------------------------------------------------


async def test_cancel_with_interrupt_stops_the_run_at_the_next_step(client):
    thread = await client.threads.create()
    tid = thread["thread_id"]
    run = await client.runs.create(tid, "slow", input=SLOW)
    await started_steps(client, tid)
    await client.runs.cancel(tid, run["run_id"], wait=True)
    assert await run_status(client, tid, run["run_id"]) == "interrupted"
    thread = await client.threads.get(tid)
    assert thread["status"] == "interrupted"
    state = await client.threads.get_state(tid)
    assert 0 < state["values"]["count"] < SLOW["target"]


async def test_cancel_with_rollback_removes_the_run_and_what_it_wrote(client):
    thread = await client.threads.create()
    tid = thread["thread_id"]
    await client.runs.wait(tid, "slow", input={"target": 1, "delay": 0})
    run = await client.runs.create(tid, "slow", input=SLOW)
    await started_steps(client, tid, at_least=4)
    await client.runs.cancel(tid, run["run_id"], action="rollback")

    await eventually(
        lambda: run_deleted(client, tid, run["run_id"]), what="the cancelled run to go"
    )
    assert (await client.threads.get_state(tid))["values"]["count"] == 1
    assert (await client.threads.get(tid))["status"] == "idle"


async def test_cancel_many_by_thread_and_run_ids(client, http):
    thread = await client.threads.create()
    tid = thread["thread_id"]
    run = await client.runs.create(tid, "slow", input=SLOW)
    queued = await client.runs.create(tid, "nested", input={"steps": []})
    response = http.post(
        "/runs/cancel", json={"thread_id": tid, "run_ids": [run["run_id"], queued["run_id"]]}
    )
    assert response.status_code == 204
    await eventually(lambda: has_status(client, tid, run["run_id"], "interrupted"))
    assert await run_status(client, tid, queued["run_id"]) == "interrupted"
    assert (
        http.post("/runs/cancel", json={"thread_id": tid, "run_ids": [run["run_id"]]}).status_code
        == 404
    )
    assert http.post("/runs/cancel", json={"status": "all", "thread_id": tid}).status_code == 422
    assert (
        http.post(f"/threads/{tid}/runs/{run['run_id']}/cancel?action=explode").status_code == 422
    )


async def test_a_stream_client_that_leaves_cancels_only_when_asked(client, http):
    thread = await client.threads.create()
    tid = thread["thread_id"]
    for on_disconnect, expected in (("cancel", "interrupted"), ("continue", "running")):
        with http.stream(
            "POST",
            f"/threads/{tid}/runs/stream",
            json={"assistant_id": "slow", "input": SLOW, "on_disconnect": on_disconnect},
        ) as response:
            run_id = response.headers["content-location"].rsplit("/", 1)[1]
            for line in response.iter_lines():
                if line.startswith("event: metadata"):
                    break
        await eventually(
            lambda run_id=run_id, expected=expected: has_status(client, tid, run_id, expected),
            what=f"the run to be {expected} after the client left",
        )
    await client.runs.cancel(tid, run_id, wait=True)


# --- resumable streams ------------------------------------------------------------------------


def sse_events(response) -> list[tuple[str | None, str, str]]:
    """(id, event, data) of every frame until the stream ends."""
    frames, current = [], {}
    for line in response.iter_lines():
        if not line:
            if "event" in current:
                frames.append((current.get("id"), current["event"], current.get("data", "")))
            current = {}
        elif not line.startswith(":"):
            key, _, value = line.partition(": ")
            current[key] = value
    return frames


async def test_a_resumable_stream_replays_after_last_event_id_without_gaps(client, http):
    thread = await client.threads.create()
    tid = thread["thread_id"]
    body = {
        "assistant_id": "slow",
        "input": {"target": 12, "delay": 0.02},
        "stream_mode": ["updates"],
        "stream_resumable": True,
    }
    seen = []
    with http.stream("POST", f"/threads/{tid}/runs/stream", json=body) as response:
        location = response.headers["location"]
        for line in response.iter_lines():
            if line.startswith("id: "):
                seen.append(line[4:])
            if len(seen) == 4:
                break  # the connection drops here
    with http.stream("GET", location, headers={"Last-Event-ID": seen[-1]}) as response:
        rest = sse_events(response)
    with http.stream("GET", location, headers={"Last-Event-ID": "-1"}) as response:
        everything = sse_events(response)

    ids = [frame_id for frame_id, _, _ in everything]
    assert ids == sorted(ids, key=lambda i: tuple(map(int, i.split("-"))))
    assert len(ids) == len(set(ids))
    assert seen + [frame_id for frame_id, _, _ in rest] == ids
    assert [event for _, event, _ in everything].count("updates") == 12
    assert everything[0][1] == "metadata" and everything[-1][1] == "end"


async def test_joining_a_finished_run_without_last_event_id_only_ends(client, http):
    thread = await client.threads.create()
    tid = thread["thread_id"]
    run = await client.runs.create(tid, "nested", input={"steps": []})
    await client.runs.join(tid, run["run_id"])
    parts = [p.event async for p in client.runs.join_stream(tid, run["run_id"])]
    assert parts == ["end"]


async def test_join_stream_filters_by_stream_mode(client, http):
    thread = await client.threads.create()
    tid = thread["thread_id"]
    run = await client.runs.create(
        tid,
        "agent",
        input={"messages": []},
        stream_mode=["values", "updates"],
        stream_resumable=True,
    )
    await client.runs.join(tid, run["run_id"])
    with http.stream(
        "GET",
        f"/threads/{tid}/runs/{run['run_id']}/stream",
        params={"stream_mode": "updates"},
        headers={"Last-Event-ID": "-1"},
    ) as response:
        names = {event for _, event, _ in sse_events(response)}
    assert names == {"metadata", "updates", "end"}
    assert (
        http.get(
            f"/threads/{tid}/runs/{run['run_id']}/stream", headers={"Last-Event-ID": "junk"}
        ).status_code
        == 422
    )


# --- thread join stream ---------------------------------------------------------------------


async def test_the_thread_stream_follows_consecutive_runs_and_state_updates(client):
    thread = await client.threads.create()
    tid = thread["thread_id"]
    seen: list[tuple[str, dict]] = []

    async def follow():
        # From the start of the (new) thread's stream, so no event can slip by before the
        # follower connects.
        parts = await client.threads.join_stream(
            tid, stream_mode=["run_modes", "state_update"], last_event_id="-1"
        )
        async for part in parts:
            seen.append((part.event, part.data))
            if part.event == "state_update":
                return

    follower = asyncio.ensure_future(follow())
    first = await client.runs.wait(tid, "nested", input={"steps": []})
    second = await client.runs.wait(tid, "nested", input={"steps": []})
    await client.threads.update_state(tid, {"steps": ["manual"]}, as_node="child")
    await asyncio.wait_for(follower, timeout=30)

    assert first and second
    done = [data["run_id"] for event, data in seen if data and data.get("status") == "run_done"]
    assert len(done) == 2
    assert [event for event, _ in seen].count("values") >= 2
    assert seen[-1][0] == "state_update"
    assert seen[-1][1]["state"]["values"]["steps"][-1] == "manual"
