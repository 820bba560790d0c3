"""Threads, state and history through langgraph-sdk against a live server."""

import uuid

import pytest
from langgraph_sdk.errors import BadRequestError, ConflictError, NotFoundError

pytestmark = pytest.mark.e2e


async def test_a_thread_is_created_read_updated_and_deleted(client):
    thread = await client.threads.create(metadata={"user": "ada"}, graph_id="agent")
    assert thread["status"] == "idle"
    assert thread["values"] is None
    assert thread["metadata"] == {"user": "ada", "graph_id": "agent"}

    updated = await client.threads.update(thread["thread_id"], metadata={"topic": "tea"})
    assert updated["metadata"] == {"user": "ada", "graph_id": "agent", "topic": "tea"}
    assert (
        await client.threads.update(thread["thread_id"], metadata={"x": 1}, return_minimal=True)
        is None
    )

    await client.threads.delete(thread["thread_id"])
    with pytest.raises(NotFoundError):
        await client.threads.get(thread["thread_id"])


async def test_creating_an_existing_thread_conflicts_unless_asked_to_do_nothing(client):
    thread_id = str(uuid.uuid4())
    await client.threads.create(thread_id=thread_id, metadata={"n": 1})
    with pytest.raises(ConflictError):
        await client.threads.create(thread_id=thread_id)
    same = await client.threads.create(thread_id=thread_id, if_exists="do_nothing")
    assert same["metadata"] == {"n": 1}


async def test_a_thread_ttl_is_reported_when_included(client):
    thread = await client.threads.create(ttl=30)
    plain = await client.threads.get(thread["thread_id"])
    assert "ttl" not in plain
    with_ttl = await client.threads.get(thread["thread_id"], include=["ttl"])
    assert with_ttl["ttl"]["strategy"] == "delete"
    assert with_ttl["ttl"]["ttl_minutes"] == 30


async def test_state_updates_make_checkpoints_that_history_lists(client):
    thread = await client.threads.create(graph_id="agent")
    tid = thread["thread_id"]
    assert (await client.threads.get_state(tid))["values"] == {}

    first = await client.threads.update_state(
        tid, {"messages": [{"type": "human", "content": "hi"}]}, as_node="finish"
    )
    assert first["checkpoint"]["checkpoint_id"]
    await client.threads.update_state(tid, {"steps": ["manual"]}, as_node="finish")

    state = await client.threads.get_state(tid)
    assert state["values"]["steps"] == ["manual"]
    assert state["values"]["messages"][0]["content"] == "hi"
    assert state["next"] == []
    assert state["checkpoint"]["thread_id"] == tid

    history = await client.threads.get_history(tid)
    assert len(history) == 2
    assert history[0]["checkpoint"]["checkpoint_id"] == state["checkpoint"]["checkpoint_id"]
    assert history[1]["checkpoint"]["checkpoint_id"] == first["checkpoint"]["checkpoint_id"]
    older = await client.threads.get_history(tid, before=history[0]["checkpoint"])
    assert [s["checkpoint"]["checkpoint_id"] for s in older] == [
        first["checkpoint"]["checkpoint_id"]
    ]
    assert len(await client.threads.get_history(tid, limit=1)) == 1

    at_first = await client.threads.get_state(tid, checkpoint=first["checkpoint"])
    assert "steps" not in at_first["values"] or at_first["values"]["steps"] == []
    by_id = await client.threads.get_state(tid, checkpoint_id=first["checkpoint"]["checkpoint_id"])
    assert by_id["checkpoint"] == at_first["checkpoint"]

    selected = await client.threads.get_state(tid, select=["values.steps", "next"])
    assert selected == {"values": {"steps": ["manual"]}, "next": []}

    refreshed = await client.threads.get(tid)
    assert refreshed["values"]["steps"] == ["manual"]


async def test_a_state_update_can_fork_from_an_earlier_checkpoint(client):
    thread = await client.threads.create(graph_id="nested")
    tid = thread["thread_id"]
    first = await client.threads.update_state(tid, {"steps": ["one"]}, as_node="child")
    await client.threads.update_state(tid, {"steps": ["two"]}, as_node="child")
    fork = await client.threads.update_state(
        tid, {"steps": ["fork"]}, as_node="child", checkpoint=first["checkpoint"]
    )
    state = await client.threads.get_state(tid, checkpoint=fork["checkpoint"])
    assert state["values"]["steps"] == ["one", "fork"]
    assert state["parent_checkpoint"]["checkpoint_id"] == first["checkpoint"]["checkpoint_id"]


async def test_a_thread_without_a_graph_has_empty_state_and_refuses_updates(client):
    thread = await client.threads.create()
    state = await client.threads.get_state(thread["thread_id"])
    assert state["values"] == {}
    assert state["checkpoint"] is None
    assert await client.threads.get_history(thread["thread_id"]) == []
    with pytest.raises(BadRequestError):
        await client.threads.update_state(thread["thread_id"], {"steps": ["x"]})


async def test_copy_keeps_metadata_and_every_checkpoint(client):
    thread = await client.threads.create(graph_id="nested", metadata={"k": "v"})
    await client.threads.update_state(thread["thread_id"], {"steps": ["a"]}, as_node="child")
    await client.threads.update_state(thread["thread_id"], {"steps": ["b"]}, as_node="child")

    copy = await client.threads.copy(thread["thread_id"])
    assert copy["thread_id"] != thread["thread_id"]
    assert copy["metadata"] == {"k": "v", "graph_id": "nested"}
    original = await client.threads.get_history(thread["thread_id"])
    copied = await client.threads.get_history(copy["thread_id"])
    assert [s["checkpoint"]["checkpoint_id"] for s in copied] == [
        s["checkpoint"]["checkpoint_id"] for s in original
    ]
    assert copied[0]["values"] == {"steps": ["a", "b"]}


async def test_prune_deletes_threads_or_keeps_their_latest_checkpoint(client):
    kept = await client.threads.create(graph_id="nested")
    gone = await client.threads.create(graph_id="nested")
    for thread in (kept, gone):
        await client.threads.update_state(thread["thread_id"], {"steps": ["a"]}, as_node="child")
        await client.threads.update_state(thread["thread_id"], {"steps": ["b"]}, as_node="child")

    result = await client.threads.prune([kept["thread_id"]], strategy="keep_latest")
    assert result == {"pruned_count": 1}
    history = await client.threads.get_history(kept["thread_id"])
    assert len(history) == 1
    assert history[0]["values"] == {"steps": ["a", "b"]}

    assert await client.threads.prune([gone["thread_id"], str(uuid.uuid4())]) == {"pruned_count": 1}
    with pytest.raises(NotFoundError):
        await client.threads.get(gone["thread_id"])


async def test_search_filters_by_metadata_values_status_and_ids(client):
    marker = str(uuid.uuid4())
    a = await client.threads.create(metadata={"marker": marker, "n": 1}, graph_id="nested")
    b = await client.threads.create(metadata={"marker": marker, "n": 2})
    await client.threads.update_state(a["thread_id"], {"steps": ["x"]}, as_node="child")

    assert [
        t["thread_id"] for t in await client.threads.search(metadata={"marker": marker, "n": 2})
    ] == [b["thread_id"]]
    assert [
        t["thread_id"]
        for t in await client.threads.search(values={"steps": ["x"]}, metadata={"marker": marker})
    ] == [a["thread_id"]]
    assert len(await client.threads.search(metadata={"marker": marker}, status="idle")) == 2
    assert await client.threads.search(metadata={"marker": marker}, status="busy") == []
    only = await client.threads.search(ids=[a["thread_id"]], select=["thread_id", "status"])
    assert only == [{"thread_id": a["thread_id"], "status": "idle"}]
    oldest_first = await client.threads.search(
        metadata={"marker": marker}, sort_by="created_at", sort_order="asc"
    )
    assert [t["thread_id"] for t in oldest_first] == [a["thread_id"], b["thread_id"]]
    assert await client.threads.count(metadata={"marker": marker}) == 2


async def test_search_extracts_paths_from_each_thread(client):
    marker = str(uuid.uuid4())
    thread = await client.threads.create(metadata={"marker": marker}, graph_id="nested")
    await client.threads.update_state(thread["thread_id"], {"steps": ["a", "b"]}, as_node="child")
    found = await client.threads.search(
        metadata={"marker": marker},
        extract={"last": "values.steps[-1]", "who": "metadata.marker", "none": "values.nope"},
    )
    assert found[0]["extracted"] == {"last": "b", "who": marker, "none": None}


async def test_supersteps_replay_state_into_a_new_thread(client):
    thread = await client.threads.create(
        graph_id="nested",
        supersteps=[
            {"updates": [{"values": {"steps": ["one"]}, "as_node": "child"}]},
            {"updates": [{"values": {"steps": ["two"]}, "as_node": "child"}]},
        ],
    )
    state = await client.threads.get_state(thread["thread_id"])
    assert state["values"] == {"steps": ["one", "two"]}


async def test_state_update_on_an_unknown_node_is_a_client_error(client):
    thread = await client.threads.create(graph_id="nested")
    with pytest.raises(BadRequestError):
        await client.threads.update_state(thread["thread_id"], {"steps": ["x"]}, as_node="nope")


async def test_subgraph_state_is_nested_in_tasks(client):
    thread = await client.threads.create(graph_id="nested")
    tid = thread["thread_id"]
    # Stop before the subgraph node: its task is pending, with its own (empty) state.
    await client.threads.update_state(tid, {"steps": ["start"]}, as_node="__start__")
    state = await client.threads.get_state(tid, subgraphs=True)
    assert state["next"] == ["child"]
    assert state["tasks"][0]["name"] == "child"
