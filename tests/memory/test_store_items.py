"""DjangoStore basics: batches, put/get/delete, upserts and namespace rules."""

from __future__ import annotations

import datetime as dt
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from langgraph.store.base import (
    GetOp,
    InvalidNamespaceError,
    Item,
    ListNamespacesOp,
    PutOp,
    SearchOp,
)

from apps.memory.models import StoreItem, StoreNamespace
from tests.memory.conftest import queries_of

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_batch_returns_one_result_per_op_in_op_order(store):
    store.put(("docs",), "a", {"n": 1})
    results = store.batch(
        [
            GetOp(("docs",), "a"),
            PutOp(("docs",), "b", {"n": 2}),
            SearchOp(("docs",)),
            ListNamespacesOp(),
            GetOp(("docs",), "missing"),
        ]
    )
    assert len(results) == 5
    assert results[0].value == {"n": 1}
    assert results[1] is None
    assert [item.key for item in results[2]] == ["a"]
    assert results[3] == [("docs",)]
    assert results[4] is None


def test_reads_in_a_batch_see_the_store_as_it_was_before_the_batchs_writes(store):
    results = store.batch([PutOp(("docs",), "a", {"n": 1}), GetOp(("docs",), "a")])
    assert results == [None, None]
    assert store.get(("docs",), "a").value == {"n": 1}


def test_an_empty_batch_returns_an_empty_list(store):
    assert store.batch([]) == []


def test_a_put_item_reads_back_with_its_namespace_key_value_and_timestamps(store):
    before = dt.datetime.now(dt.UTC)
    store.put(("users", "42", "prefs"), "theme", {"mode": "dark", "size": 3})
    item = store.get(("users", "42", "prefs"), "theme")
    assert isinstance(item, Item)
    assert item.namespace == ("users", "42", "prefs")
    assert item.key == "theme"
    assert item.value == {"mode": "dark", "size": 3}
    assert item.created_at == item.updated_at
    assert item.created_at >= before
    assert item.created_at.tzinfo is not None


def test_getting_a_missing_item_returns_none(store):
    assert store.get(("users",), "nobody") is None


def test_putting_again_replaces_the_value_and_updated_at_but_keeps_created_at(store):
    store.put(("docs",), "a", {"v": 1})
    first = store.get(("docs",), "a")
    store.put(("docs",), "a", {"v": 2})
    second = store.get(("docs",), "a")
    assert second.value == {"v": 2}
    assert second.created_at == first.created_at
    assert second.updated_at > first.updated_at
    assert StoreItem.objects.count() == 1


def test_the_last_put_for_an_address_wins_within_a_batch(store):
    store.batch(
        [
            PutOp(("docs",), "a", {"v": 1}),
            PutOp(("docs",), "b", {"v": "kept"}),
            PutOp(("docs",), "a", {"v": 2}),
            PutOp(("docs",), "a", {"v": 3}),
        ]
    )
    assert store.get(("docs",), "a").value == {"v": 3}
    assert store.get(("docs",), "b").value == {"v": "kept"}


def test_a_put_then_a_delete_of_the_same_item_in_one_batch_leaves_nothing(store):
    store.batch([PutOp(("docs",), "a", {"v": 1}), PutOp(("docs",), "a", None)])
    assert store.get(("docs",), "a") is None
    assert not StoreNamespace.objects.exists()


def test_deleting_an_item_removes_it_and_its_namespace_once_empty(store):
    store.put(("docs", "x"), "a", {"v": 1})
    store.put(("docs", "x"), "b", {"v": 2})
    store.delete(("docs", "x"), "a")
    assert store.get(("docs", "x"), "a") is None
    assert store.list_namespaces() == [("docs", "x")]
    store.delete(("docs", "x"), "b")
    assert store.list_namespaces() == []


def test_deleting_a_missing_item_is_a_no_op(store):
    store.put(("docs",), "a", {"v": 1})
    store.delete(("docs",), "missing")
    store.delete(("elsewhere",), "a")
    assert store.get(("docs",), "a").value == {"v": 1}


async def test_the_async_api_puts_gets_searches_lists_and_deletes(store):
    await store.aput(("async", "ns"), "a", {"v": 1})
    await store.aput(("async", "ns"), "b", {"v": 2})
    assert (await store.aget(("async", "ns"), "a")).value == {"v": 1}
    found = await store.asearch(("async",), filter={"v": 2})
    assert [item.key for item in found] == ["b"]
    assert await store.alist_namespaces(prefix=("async",)) == [("async", "ns")]
    await store.adelete(("async", "ns"), "a")
    assert await store.aget(("async", "ns"), "a") is None


def test_a_raw_op_cannot_address_a_nested_namespace_through_a_dotted_label(store):
    store.put(("a", "b"), "k", {"v": 1})
    with pytest.raises(InvalidNamespaceError):
        store.batch([GetOp(("a.b",), "k")])
    with pytest.raises(InvalidNamespaceError):
        store.batch([PutOp(("a.b",), "k", {"v": 2})])
    with pytest.raises(InvalidNamespaceError):
        store.batch([SearchOp(("a.b",))])
    assert store.get(("a", "b"), "k").value == {"v": 1}


@pytest.mark.parametrize(
    "namespace",
    [(), ("",), ("a", ""), ("a.b",), ("a\x00",), ("langgraph", "x"), (1,)],
    ids=["empty", "blank", "blank-inner", "dot", "nul", "langgraph-root", "not-a-string"],
)
def test_put_rejects_invalid_namespaces(store, namespace):
    with pytest.raises(InvalidNamespaceError):
        store.put(namespace, "k", {"v": 1})
    assert not StoreItem.objects.exists()


def test_a_namespace_and_key_too_long_for_one_index_entry_are_rejected(store):
    with pytest.raises(ValueError, match="bytes"):
        store.put(("docs", "x" * 1000), "k" * 1100, {"v": 1})
    store.put(("docs", "x" * 1000), "k" * 1000, {"v": 1})
    assert store.get(("docs", "x" * 1000), "k" * 1000).value == {"v": 1}


def test_an_invalid_op_fails_the_whole_batch_before_anything_is_written(store):
    with pytest.raises(ValueError):
        store.batch(
            [
                PutOp(("docs",), "a", {"v": 1}),
                SearchOp(("docs",), filter={"v": {"$regex": ".*"}}),
            ]
        )
    with pytest.raises(ValueError):
        store.batch([PutOp(("docs",), "a", {"v": 1}), PutOp(("docs",), "b", ["not", "a", "map"])])
    with pytest.raises(ValueError):
        store.batch([PutOp(("docs",), "a", {"v": 1}), PutOp(("docs",), "b", {"v": 1}, ttl=-5)])
    assert not StoreItem.objects.exists()


def test_values_are_stored_as_plain_json(store):
    when = dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.UTC)
    ident = uuid.UUID("12345678-1234-5678-1234-567812345678")
    store.put(("docs",), "a", {"when": when, "id": ident, "pair": (1, 2), "nested": {"x": [1]}})
    assert store.get(("docs",), "a").value == {
        "when": "2024-05-01T12:30:00+00:00",
        "id": "12345678-1234-5678-1234-567812345678",
        "pair": [1, 2],
        "nested": {"x": [1]},
    }


def test_a_value_json_cannot_hold_is_rejected_before_anything_is_written(store):
    with pytest.raises(ValueError, match="JSON"):
        store.put(("docs",), "a", {"too-big": 10**30})
    assert not StoreItem.objects.exists()


def test_non_ascii_labels_keys_and_values_round_trip(store):
    namespace = ("ユーザー", "café", "🙂")
    store.put(namespace, "clé", {"texte": "naïve façade", "emoji": "🎉"})
    assert store.get(namespace, "clé").value == {"texte": "naïve façade", "emoji": "🎉"}
    assert store.list_namespaces(prefix=("ユーザー",)) == [namespace]
    assert [item.key for item in store.search(("ユーザー", "café"))] == ["clé"]


def test_labels_that_differ_only_by_a_trailing_newline_are_different_namespaces(store):
    store.put(("notes\n",), "a", {"v": 1})
    store.put(("notes",), "a", {"v": 2})
    assert store.get(("notes\n",), "a").value == {"v": 1}
    assert store.get(("notes",), "a").value == {"v": 2}
    assert [item.value for item in store.search(("notes",))] == [{"v": 2}]
    assert store.list_namespaces(prefix=("notes",)) == [("notes",)]


def test_a_large_batch_of_puts_is_stored_whole(store):
    store.batch([PutOp(("bulk", f"n{i % 7}"), f"k{i}", {"i": i}) for i in range(1500)])
    assert StoreItem.objects.count() == 1500
    assert len(store.list_namespaces(prefix=("bulk",))) == 7


def test_a_batch_of_gets_reads_all_items_in_one_query(store):
    store.batch([PutOp(("docs", f"n{i % 3}"), f"k{i}", {"i": i}) for i in range(30)])
    ops = [GetOp(("docs", f"n{i % 3}"), f"k{i}", refresh_ttl=False) for i in range(30)]
    results, queries = queries_of(lambda: store.batch(ops))
    assert [item.value["i"] for item in results] == list(range(30))
    assert queries == 1


def test_concurrent_puts_and_deletes_leave_exactly_the_namespaces_that_hold_items(store):
    def churn(worker: int) -> None:
        for step in range(40):
            namespace = ("churn", f"n{(worker + step) % 2}")
            key = f"k{step % 3}"
            if (worker + step) % 3:
                store.put(namespace, key, {"worker": worker, "step": step})
            else:
                store.delete(namespace, key)

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(churn, range(4)))
    holding = set(StoreItem.objects.values_list("prefix", flat=True))
    assert set(StoreNamespace.objects.values_list("prefix", flat=True)) == holding
