"""Listing namespaces: prefix and suffix conditions, wildcards, depth and pages."""

from __future__ import annotations

import pytest
from langgraph.store.base import ListNamespacesOp, MatchCondition, PutOp

from tests.memory.conftest import queries_of

pytestmark = pytest.mark.django_db(transaction=True)

NAMESPACES = [
    ("a", "b", "c"),
    ("a", "b", "d", "e"),
    ("a", "b", "d", "i"),
    ("a", "b", "f"),
    ("a", "c", "f"),
    ("b", "a", "f"),
    ("users", "123"),
    ("users", "456", "settings"),
    ("admin", "users", "789"),
]


@pytest.fixture
def filled(store):
    store.batch([PutOp(namespace, "k", {"v": 1}) for namespace in NAMESPACES])
    store.put(("a", "b", "c"), "second-item", {"v": 2})  # a namespace is listed once
    return store


def test_an_empty_store_has_no_namespaces(store):
    assert store.list_namespaces() == []


def test_every_namespace_is_listed_once_in_sorted_order(filled):
    assert filled.list_namespaces() == sorted(NAMESPACES, key=".".join)


def test_a_prefix_keeps_the_namespaces_that_start_with_its_labels(filled):
    assert filled.list_namespaces(prefix=("a", "b")) == [
        ("a", "b", "c"),
        ("a", "b", "d", "e"),
        ("a", "b", "d", "i"),
        ("a", "b", "f"),
    ]
    assert filled.list_namespaces(prefix=("users",)) == [
        ("users", "123"),
        ("users", "456", "settings"),
    ]


def test_a_prefix_matches_whole_labels_and_literal_metacharacters(store):
    for namespace in [("foo",), ("foobar",), ("foo-x",), ("foo", "bar"), ("user_1",), ("userX1",)]:
        store.put(namespace, "k", {})
    assert store.list_namespaces(prefix=("foo",)) == [("foo",), ("foo", "bar")]
    assert store.list_namespaces(prefix=("user_1",)) == [("user_1",)]


def test_a_suffix_keeps_the_namespaces_that_end_with_its_labels(filled):
    assert filled.list_namespaces(suffix=("f",)) == [
        ("a", "b", "f"),
        ("a", "c", "f"),
        ("b", "a", "f"),
    ]
    assert filled.list_namespaces(suffix=("b", "f")) == [("a", "b", "f")]
    assert filled.list_namespaces(suffix=("users", "123")) == [("users", "123")]


def test_a_wildcard_matches_exactly_one_label(filled):
    assert filled.list_namespaces(prefix=("a", "*", "f")) == [("a", "b", "f"), ("a", "c", "f")]
    assert filled.list_namespaces(prefix=("*", "users")) == [("admin", "users", "789")]
    assert filled.list_namespaces(suffix=("d", "*")) == [("a", "b", "d", "e"), ("a", "b", "d", "i")]
    assert filled.list_namespaces(suffix=("*", "*", "*", "*")) == [
        ("a", "b", "d", "e"),
        ("a", "b", "d", "i"),
    ]


def test_prefix_and_suffix_conditions_must_both_match(filled):
    assert filled.list_namespaces(prefix=("a",), suffix=("f",)) == [
        ("a", "b", "f"),
        ("a", "c", "f"),
    ]
    results = filled.batch(
        [
            ListNamespacesOp(
                match_conditions=(
                    MatchCondition("prefix", ("a",)),
                    MatchCondition("prefix", ("*", "b")),
                    MatchCondition("suffix", ("d", "*")),
                )
            )
        ]
    )
    assert results == [[("a", "b", "d", "e"), ("a", "b", "d", "i")]]


def test_regex_metacharacters_in_conditions_are_literal(store):
    for namespace in [("a+b", "x"), ("aab", "x"), ("a(b)", "x"), ("ab", "x")]:
        store.put(namespace, "k", {})
    assert store.list_namespaces(prefix=("a+b",)) == [("a+b", "x")]
    assert store.list_namespaces(suffix=("a(b)", "x")) == [("a(b)", "x")]


def test_max_depth_truncates_namespaces_and_drops_duplicates(filled):
    assert filled.list_namespaces(prefix=("a", "b"), max_depth=3) == [
        ("a", "b", "c"),
        ("a", "b", "d"),
        ("a", "b", "f"),
    ]
    assert filled.list_namespaces(max_depth=1) == [("a",), ("admin",), ("b",), ("users",)]
    assert filled.list_namespaces(prefix=("users",), max_depth=5) == [
        ("users", "123"),
        ("users", "456", "settings"),
    ]


def test_limit_and_offset_page_through_namespaces(filled):
    everything = filled.list_namespaces()
    pages = [filled.list_namespaces(limit=4, offset=offset) for offset in (0, 4, 8)]
    assert [namespace for page in pages for namespace in page] == everything
    assert filled.list_namespaces(max_depth=2, limit=2, offset=1) == [
        ("a", "c"),
        ("admin", "users"),
    ]
    assert filled.list_namespaces(limit=0) == []


def test_invalid_listing_arguments_are_rejected(store):
    with pytest.raises(ValueError):
        store.list_namespaces(max_depth=0)
    with pytest.raises(ValueError):
        store.list_namespaces(limit=-1)
    with pytest.raises(ValueError):
        store.list_namespaces(prefix=("a.b",))
    with pytest.raises(ValueError):
        store.batch([ListNamespacesOp(match_conditions=(MatchCondition("infix", ("a",)),))])


def test_a_listing_is_one_query_however_many_items_the_namespaces_hold(store):
    store.batch([PutOp(("root", f"n{i % 20}"), f"k{i}", {}) for i in range(400)])
    listed, queries = queries_of(lambda: store.list_namespaces(prefix=("root",), limit=100))
    assert len(listed) == 20
    assert queries == 1
