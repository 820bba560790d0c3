"""The long-term memory store through langgraph-sdk against a live server."""

import uuid

import pytest

pytestmark = pytest.mark.e2e


async def test_an_item_is_put_read_searched_and_deleted(client):
    user = f"user-{uuid.uuid4().hex[:8]}"
    await client.store.put_item(["memories", user], "prefs", {"theme": "dark", "size": 3})
    item = await client.store.get_item(["memories", user], "prefs")
    assert item["namespace"] == ["memories", user]
    assert item["key"] == "prefs"
    assert item["value"] == {"theme": "dark", "size": 3}
    assert item["created_at"] and item["updated_at"]

    await client.store.put_item(["memories", user], "prefs", {"theme": "light", "size": 5})
    updated = await client.store.get_item(["memories", user], "prefs")
    assert updated["value"]["theme"] == "light"
    assert updated["created_at"] == item["created_at"]

    found = await client.store.search_items(["memories", user], filter={"size": {"$gt": 4}})
    assert [i["key"] for i in found["items"]] == ["prefs"]
    assert (await client.store.search_items(["memories", user], filter={"size": {"$lt": 4}})) == {
        "items": []
    }

    await client.store.delete_item(["memories", user], "prefs")
    assert await client.store.get_item(["memories", user], "prefs") is None


async def test_namespaces_are_listed_by_prefix_suffix_and_depth(client):
    root = f"root-{uuid.uuid4().hex[:8]}"
    for namespace in ([root, "a", "x"], [root, "a", "y"], [root, "b", "x"]):
        await client.store.put_item(namespace, "k", {"v": 1})

    listed = await client.store.list_namespaces(prefix=[root])
    assert listed == {"namespaces": [[root, "a", "x"], [root, "a", "y"], [root, "b", "x"]]}
    by_suffix = await client.store.list_namespaces(prefix=[root], suffix=["x"])
    assert by_suffix["namespaces"] == [[root, "a", "x"], [root, "b", "x"]]
    shallow = await client.store.list_namespaces(prefix=[root], max_depth=2)
    assert shallow["namespaces"] == [[root, "a"], [root, "b"]]
    assert (await client.store.list_namespaces(prefix=[root], limit=1, offset=1))["namespaces"] == [
        [root, "a", "y"]
    ]


async def test_a_missing_item_reads_as_null(client):
    assert await client.store.get_item(["nobody"], "nothing") is None
