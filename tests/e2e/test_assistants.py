"""Assistants through langgraph-sdk against a live server."""

import uuid

import pytest
from langgraph_sdk.errors import BadRequestError, ConflictError, NotFoundError

pytestmark = pytest.mark.e2e

AGENT_DEFAULT_ID = "fe096781-5601-53d2-b2f6-0d3403f7e9ca"


async def test_each_graph_has_a_system_assistant_with_the_reference_id(client):
    assistant = await client.assistants.get(AGENT_DEFAULT_ID)
    assert assistant["graph_id"] == "agent"
    assert assistant["name"] == "agent"
    assert assistant["metadata"] == {"created_by": "system"}
    assert assistant["version"] == 1

    system = await client.assistants.search(metadata={"created_by": "system"}, limit=100)
    by_graph = {a["graph_id"]: a for a in system}
    assert {"agent", "approval", "nested", "configured", "slow"} <= set(by_graph)
    assert by_graph["nested"]["name"] == "Nested graph"
    assert by_graph["approval"]["description"] == "Asks a human before acting."


async def test_an_assistant_is_created_updated_versioned_and_deleted(client):
    created = await client.assistants.create(
        "agent", config={"tags": ["a"]}, metadata={"team": "red"}, name="Red agent"
    )
    assert created["version"] == 1
    assert created["config"] == {"tags": ["a"]}

    updated = await client.assistants.update(
        created["assistant_id"], metadata={"tier": "gold"}, context={"model": "small"}
    )
    assert updated["version"] == 2
    assert updated["metadata"] == {"team": "red", "tier": "gold"}
    assert updated["context"] == {"model": "small"}
    assert updated["config"]["configurable"] == {"model": "small"}
    assert updated["name"] == "Red agent"

    versions = await client.assistants.get_versions(created["assistant_id"])
    assert [v["version"] for v in versions] == [2, 1]

    restored = await client.assistants.set_latest(created["assistant_id"], 1)
    assert restored["version"] == 1
    assert restored["metadata"] == {"team": "red"}
    assert (await client.assistants.get(created["assistant_id"]))["version"] == 1

    await client.assistants.delete(created["assistant_id"])
    with pytest.raises(NotFoundError):
        await client.assistants.get(created["assistant_id"])


async def test_creating_an_existing_assistant_conflicts_unless_asked_to_do_nothing(client):
    assistant_id = str(uuid.uuid4())
    await client.assistants.create("agent", assistant_id=assistant_id, name="first")
    with pytest.raises(ConflictError):
        await client.assistants.create("agent", assistant_id=assistant_id)
    same = await client.assistants.create(
        "agent", assistant_id=assistant_id, name="second", if_exists="do_nothing"
    )
    assert same["name"] == "first"


async def test_an_unknown_graph_is_not_found(client):
    with pytest.raises(NotFoundError):
        await client.assistants.create("no-such-graph")
    with pytest.raises(NotFoundError):
        await client.assistants.search(graph_id="no-such-graph")


async def test_configurable_and_context_together_are_rejected(client):
    with pytest.raises(BadRequestError):
        await client.assistants.create("agent", config={"configurable": {"a": 1}}, context={"a": 2})


async def test_search_filters_sorts_selects_and_pages(client):
    marker = str(uuid.uuid4())
    for name in ("alpha", "beta", "gamma"):
        await client.assistants.create("nested", metadata={"marker": marker}, name=name)

    found = await client.assistants.search(
        metadata={"marker": marker}, sort_by="name", sort_order="asc", select=["name"]
    )
    assert found == [{"name": "alpha"}, {"name": "beta"}, {"name": "gamma"}]

    page = await client.assistants.search(
        metadata={"marker": marker}, limit=2, response_format="object"
    )
    assert len(page["assistants"]) == 2
    assert page["next"] == "2"
    assert await client.assistants.count(metadata={"marker": marker}) == 3
    assert await client.assistants.count(metadata={"marker": marker}, name="ALP") == 1


async def test_the_graph_is_drawn_by_assistant_id_or_graph_name(client):
    drawing = await client.assistants.get_graph("agent")
    node_ids = {node["id"] for node in drawing["nodes"]}
    assert {"__start__", "agent", "finish", "__end__"} <= node_ids
    assert all(
        "id" not in node["data"] for node in drawing["nodes"] if isinstance(node.get("data"), dict)
    )

    nested = await client.assistants.search(graph_id="nested", limit=1)
    flat = await client.assistants.get_graph(nested[0]["assistant_id"])
    deep = await client.assistants.get_graph(nested[0]["assistant_id"], xray=True)
    assert "child" in {node["id"] for node in flat["nodes"]}
    assert "child:inner_step" in {node["id"] for node in deep["nodes"]}


async def test_schemas_and_subgraphs_describe_the_graph(client):
    schemas = await client.assistants.get_schemas(AGENT_DEFAULT_ID)
    assert schemas["graph_id"] == "agent"
    assert "messages" in schemas["input_schema"]["properties"]
    assert "messages" in schemas["state_schema"]["properties"]

    nested = (await client.assistants.search(graph_id="nested", limit=1))[0]
    subgraphs = await client.assistants.get_subgraphs(nested["assistant_id"])
    assert list(subgraphs) == ["child"]
    assert "steps" in subgraphs["child"]["state_schema"]["properties"]
    assert await client.assistants.get_subgraphs(nested["assistant_id"], namespace="nope") == {}


async def test_a_factory_graph_is_built_with_the_assistants_config(client):
    assistant = await client.assistants.create("configured", context={"suffix": "?"})
    drawing = await client.assistants.get_graph(assistant["assistant_id"])
    assert "shout" in {node["id"] for node in drawing["nodes"]}
