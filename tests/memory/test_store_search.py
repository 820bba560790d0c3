"""Searching items: namespace-prefix scope, order, pages and value filters."""

from __future__ import annotations

import pytest
from langgraph.store.base import PutOp

from apps.memory.models import StoreItem
from tests.memory.conftest import queries_of

pytestmark = pytest.mark.django_db(transaction=True)


def keys(items) -> list[str]:
    return sorted(item.key for item in items)


def test_a_prefix_matches_whole_labels_only(store):
    store.put(("foo",), "exact", {})
    store.put(("foo", "bar"), "child", {})
    store.put(("foobar",), "longer-label", {})
    store.put(("foo-bar",), "sibling", {})
    store.put(("fo",), "shorter-label", {})
    assert keys(store.search(("foo",))) == ["child", "exact"]
    assert keys(store.search(("foo", "bar"))) == ["child"]
    assert keys(store.search(("fo",))) == ["shorter-label"]


def test_like_metacharacters_in_labels_match_only_themselves(store):
    store.put(("user_1",), "underscore", {})
    store.put(("userX1",), "x", {})
    store.put(("100%",), "percent", {})
    store.put(("1000",), "digits", {})
    store.put(("a\\b",), "backslash", {})
    store.put(("ab",), "plain", {})
    assert keys(store.search(("user_1",))) == ["underscore"]
    assert keys(store.search(("100%",))) == ["percent"]
    assert keys(store.search(("a\\b",))) == ["backslash"]


def test_an_empty_prefix_searches_every_namespace(store):
    store.put(("a",), "1", {})
    store.put(("b", "c"), "2", {})
    assert keys(store.search(())) == ["1", "2"]


def test_results_come_most_recently_updated_first(store):
    for key in ("first", "second", "third"):
        store.put(("docs",), key, {"v": key})
    store.put(("docs",), "first", {"v": "touched"})
    assert [item.key for item in store.search(("docs",))] == ["first", "third", "second"]


def test_limit_and_offset_page_through_the_results(store):
    for i in range(7):
        store.put(("docs",), f"k{i}", {"i": i})
    pages = [store.search(("docs",), limit=3, offset=offset) for offset in (0, 3, 6)]
    assert [[item.value["i"] for item in page] for page in pages] == [[6, 5, 4], [3, 2, 1], [0]]
    assert store.search(("docs",), limit=0) == []


def test_plain_search_results_carry_no_score(store):
    store.put(("docs",), "a", {"text": "hello"})
    (item,) = store.search(("docs",), query="hello")
    assert item.score is None


def test_a_plain_filter_value_means_equality_of_the_same_json_type(store):
    store.put(("t",), "int", {"v": 1})
    store.put(("t",), "float", {"v": 1.0})
    store.put(("t",), "text", {"v": "1"})
    store.put(("t",), "true", {"v": True})
    store.put(("t",), "null", {"v": None})
    store.put(("t",), "missing", {"other": 1})
    assert keys(store.search(("t",), filter={"v": 1})) == ["float", "int"]
    assert keys(store.search(("t",), filter={"v": "1"})) == ["text"]
    assert keys(store.search(("t",), filter={"v": True})) == ["true"]
    assert keys(store.search(("t",), filter={"v": None})) == ["null"]
    assert keys(store.search(("t",), filter={"v": {"$eq": 1}})) == ["float", "int"]


def test_every_filter_key_must_match(store):
    store.put(("t",), "both", {"kind": "note", "lang": "en"})
    store.put(("t",), "one", {"kind": "note", "lang": "fr"})
    assert keys(store.search(("t",), filter={"kind": "note", "lang": "en"})) == ["both"]


def test_a_nested_object_or_list_filter_compares_the_whole_json_value(store):
    store.put(("t",), "match", {"meta": {"a": 1, "b": {"c": [1, 2]}}, "tags": ["x", "y"]})
    store.put(("t",), "superset", {"meta": {"a": 1, "b": {"c": [1, 2]}, "z": 0}})
    store.put(("t",), "other-order", {"tags": ["y", "x"]})
    assert keys(store.search(("t",), filter={"meta": {"b": {"c": [1, 2]}, "a": 1}})) == ["match"]
    assert keys(store.search(("t",), filter={"tags": ["x", "y"]})) == ["match"]


def test_numeric_comparisons_compare_numbers_numerically(store):
    store.batch([PutOp(("scores",), f"k{i}", {"score": i}) for i in range(20)])
    assert len(store.search(("scores",), filter={"score": {"$gt": 9}}, limit=100)) == 10
    assert len(store.search(("scores",), filter={"score": {"$gte": 9}}, limit=100)) == 11
    assert len(store.search(("scores",), filter={"score": {"$lt": 3}}, limit=100)) == 3
    assert len(store.search(("scores",), filter={"score": {"$lte": 3}}, limit=100)) == 4
    assert len(store.search(("scores",), filter={"score": {"$gt": 2.5, "$lt": 10}}, limit=100)) == 7
    assert len(store.search(("scores",), filter={"score": {"$ne": 5}}, limit=100)) == 19


def test_numbers_beyond_64_bits_compare_too(store):
    store.put(("big",), "huge", {"v": 2**64 - 1})
    store.put(("big",), "small", {"v": 5})
    assert keys(store.search(("big",), filter={"v": {"$gt": 2**63}})) == ["huge"]
    assert keys(store.search(("big",), filter={"v": {"$lt": 10**30}})) == ["huge", "small"]


def test_string_comparisons_compare_strings_by_code_point(store):
    for name in ("apple", "Banana", "cherry", "10", "9", "été"):
        store.put(("words",), name, {"name": name})
    assert keys(store.search(("words",), filter={"name": {"$gt": "b"}}, limit=100)) == [
        "cherry",
        "été",
    ]
    assert keys(store.search(("words",), filter={"name": {"$lt": "2"}}, limit=100)) == ["10"]


def test_comparisons_ignore_values_of_another_type(store):
    store.put(("mixed",), "number", {"v": 5})
    store.put(("mixed",), "text", {"v": "7"})
    store.put(("mixed",), "bool", {"v": True})
    store.put(("mixed",), "list", {"v": [9]})
    store.put(("mixed",), "object", {"v": {"x": 9}})
    store.put(("mixed",), "null", {"v": None})
    assert keys(store.search(("mixed",), filter={"v": {"$gt": 0}})) == ["number"]
    assert keys(store.search(("mixed",), filter={"v": {"$lt": 100}})) == ["number"]
    assert keys(store.search(("mixed",), filter={"v": {"$gte": ""}})) == ["text"]


def test_ne_matches_other_values_and_items_without_the_key(store):
    store.put(("t",), "done", {"status": "done"})
    store.put(("t",), "open", {"status": "open"})
    store.put(("t",), "unset", {"title": "x"})
    assert keys(store.search(("t",), filter={"status": {"$ne": "done"}})) == ["open", "unset"]


def test_filter_keys_address_one_top_level_key_whatever_their_characters(store):
    store.put(("t",), "dotted", {"a.b": 1, "a": {"b": 2}})
    store.put(("t",), "digits", {"0": "zero"})
    store.put(("t",), "quoted", {'say "hi"': "yes", "it's": "ok"})
    store.put(("t",), "hyphen", {"my-key": 3})
    assert keys(store.search(("t",), filter={"a.b": 1})) == ["dotted"]
    assert keys(store.search(("t",), filter={"a.b": 2})) == []
    assert keys(store.search(("t",), filter={"0": "zero"})) == ["digits"]
    assert keys(store.search(("t",), filter={"it's": "ok"})) == ["quoted"]
    assert keys(store.search(("t",), filter={'say "hi"': "yes"})) == ["quoted"]
    assert keys(store.search(("t",), filter={"my-key": {"$gte": 3}})) == ["hyphen"]


INJECTIONS = [
    "x'; DROP TABLE memory_storeitem; --",
    'x"; DELETE FROM memory_storeitem; --',
    "' OR '1'='1",
    "$.v') OR 1=1 --",
    "v') IS NOT NULL OR ('1'='1",
]


@pytest.mark.parametrize("attack", INJECTIONS)
def test_injection_attempts_in_filter_keys_and_values_match_nothing_and_change_nothing(
    store, attack
):
    store.put(("t",), "a", {"v": 1, "name": "alice"})
    store.put(("t",), "b", {"v": 2, "name": "bob"})
    assert store.search(("t",), filter={attack: 1}) == []
    assert store.search(("t",), filter={"name": attack}) == []
    assert store.search(("t",), filter={"name": {"$gt": attack}, "v": {"$gt": 5}}) == []
    assert store.search(("t",), filter={attack: {"$ne": attack}}) != []  # a missing key is "≠"
    assert StoreItem.objects.count() == 2
    assert store.get(("t",), "a").value == {"v": 1, "name": "alice"}


@pytest.mark.parametrize(
    "bad_filter",
    [
        {"v": {"$regex": "a"}},
        {"v": {"$gt": [1]}},
        {"v": {"$lt": None}},
        {"v": {"$gt": True}},
        {"v": {"$eq": 1, "plain": 2}},
        {"": 1},
        ["not", "an", "object"],
    ],
)
def test_an_unsupported_filter_is_rejected(store, bad_filter):
    with pytest.raises(ValueError):
        store.search(("t",), filter=bad_filter)


def test_a_search_is_one_query_however_many_items_match(store):
    store.batch([PutOp(("docs",), f"k{i}", {"i": i}) for i in range(50)])
    found, queries = queries_of(
        lambda: store.search(("docs",), filter={"i": {"$gte": 10}}, limit=30, refresh_ttl=False)
    )
    assert len(found) == 30
    assert queries == 1
