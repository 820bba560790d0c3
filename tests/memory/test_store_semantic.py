"""Semantic search: embeddings at put time, ranking by cosine similarity."""

from __future__ import annotations

import pytest
from langgraph.store.base import PutOp

from apps.memory.models import StoreItem
from apps.memory.store import DjangoStore
from apps.tenancy.models import DEFAULT_TENANT_ID
from tests.memory.conftest import vector_count
from tests.memory.embeddings import DIMS, CountingEmbed, aembed, embed, wrong_width

pytestmark = pytest.mark.django_db(transaction=True)


def ranked(items) -> list[str]:
    return [item.key for item in items]


def test_a_query_ranks_items_by_similarity_and_scores_them(indexed_store):
    indexed_store.put(("docs",), "cats", {"text": "cats purr"})
    indexed_store.put(("docs",), "dogs", {"text": "dogs bark loudly"})
    indexed_store.put(("docs",), "zebra", {"text": "zzz xyz"})
    results = indexed_store.search(("docs",), query="cats purring")
    assert ranked(results) == ["cats", "dogs", "zebra"]
    scores = [item.score for item in results]
    assert scores == sorted(scores, reverse=True)
    assert 0.8 < scores[0] <= 1.0 + 1e-6


def test_an_identical_text_scores_one(indexed_store):
    indexed_store.put(("docs",), "same", {"text": "hello world"})
    (item,) = indexed_store.search(("docs",), query="hello world")
    assert item.score == pytest.approx(1.0, abs=1e-6)


def test_an_item_scores_the_best_of_its_vectors():
    store = DjangoStore(
        index={"dims": DIMS, "embed": embed, "fields": ["title", "body"]}
    ).for_tenant(DEFAULT_TENANT_ID)
    store.put(("docs",), "two-fields", {"title": "aaaa", "body": "qqqq"})
    store.put(("docs",), "one-field", {"title": "qqqa"})
    assert vector_count(("docs",), "two-fields") == 2
    (best, second) = store.search(("docs",), query="qqqq")
    assert best.key == "two-fields"
    assert best.score == pytest.approx(1.0, abs=1e-6)
    assert second.key == "one-field"


def test_every_element_of_an_array_path_gets_its_own_vector():
    store = DjangoStore(
        index={"dims": DIMS, "embed": embed, "fields": ["notes[*].text"]}
    ).for_tenant(DEFAULT_TENANT_ID)
    store.put(("docs",), "k", {"notes": [{"text": "alpha"}, {"text": "beta"}, {"text": "gamma"}]})
    assert vector_count(("docs",), "k") == 3


def test_the_default_fields_embed_the_whole_value():
    counting = CountingEmbed()
    store = DjangoStore(index={"dims": DIMS, "embed": counting}).for_tenant(DEFAULT_TENANT_ID)
    store.put(("docs",), "k", {"b": 2, "a": "x"})
    assert counting.texts == ['{"a": "x", "b": 2}']


def test_index_false_skips_embedding_and_the_item_comes_unscored_after_scored_ones():
    counting = CountingEmbed()
    store = DjangoStore(index={"dims": DIMS, "embed": counting, "fields": ["text"]}).for_tenant(
        DEFAULT_TENANT_ID
    )
    store.put(("docs",), "plain", {"text": "cats purr"}, index=False)
    store.put(("docs",), "indexed", {"text": "dogs bark"})
    assert counting.texts == ["dogs bark"]
    assert vector_count(("docs",), "plain") == 0
    results = store.search(("docs",), query="cats purr")
    assert [(item.key, item.score is None) for item in results] == [
        ("indexed", False),
        ("plain", True),
    ]


def test_index_false_on_an_update_drops_the_old_vectors(indexed_store):
    indexed_store.put(("docs",), "k", {"text": "first"})
    assert vector_count(("docs",), "k") == 1
    indexed_store.put(("docs",), "k", {"text": "second"}, index=False)
    assert vector_count(("docs",), "k") == 0


def test_a_put_can_name_its_own_fields_to_embed():
    counting = CountingEmbed()
    store = DjangoStore(index={"dims": DIMS, "embed": counting, "fields": ["text"]}).for_tenant(
        DEFAULT_TENANT_ID
    )
    store.put(
        ("docs",),
        "k",
        {"text": "ignored", "summary": "used", "tags": ["a", "b"]},
        index=["summary", "tags[-1]"],
    )
    assert counting.texts == ["used", "b"]
    assert vector_count(("docs",), "k") == 2


def test_an_item_missing_the_indexed_field_is_stored_without_vectors(indexed_store):
    indexed_store.put(("docs",), "k", {"title": "no text field"})
    assert vector_count(("docs",), "k") == 0
    assert indexed_store.get(("docs",), "k").value == {"title": "no text field"}


def test_updating_an_item_replaces_its_vectors_and_deleting_removes_them(indexed_store):
    indexed_store.put(("docs",), "k", {"text": "aaaa"})
    indexed_store.put(("docs",), "other", {"text": "bbbb"})
    indexed_store.put(("docs",), "k", {"text": "bbbb"})
    assert vector_count(("docs",), "k") == 1
    results = indexed_store.search(("docs",), query="bbbb")
    assert [item.score for item in results] == pytest.approx([1.0, 1.0], abs=1e-6)
    indexed_store.delete(("docs",), "k")
    assert vector_count(("docs",), "k") == 0


def test_filters_and_the_namespace_prefix_narrow_a_semantic_search(indexed_store):
    indexed_store.put(("docs", "en"), "a", {"text": "cats", "lang": "en"})
    indexed_store.put(("docs", "en"), "b", {"text": "cats!", "lang": "xx"})
    indexed_store.put(("other",), "c", {"text": "cats", "lang": "en"})
    results = indexed_store.search(("docs",), query="cats", filter={"lang": "en"})
    assert ranked(results) == ["a"]


def test_limit_and_offset_count_items_not_vectors():
    store = DjangoStore(index={"dims": DIMS, "embed": embed, "fields": ["a", "b"]}).for_tenant(
        DEFAULT_TENANT_ID
    )
    store.batch(
        [PutOp(("docs",), f"k{i}", {"a": "x" * (i + 1), "b": "x" * (i + 2)}) for i in range(6)]
    )
    first = store.search(("docs",), query="x", limit=2)
    second = store.search(("docs",), query="x", limit=2, offset=2)
    third = store.search(("docs",), query="x", limit=10, offset=4)
    keys = ranked(first) + ranked(second) + ranked(third)
    assert len(keys) == len(set(keys)) == 6


def test_unscored_items_page_after_the_scored_ones(indexed_store):
    indexed_store.put(("docs",), "scored", {"text": "cats"})
    indexed_store.put(("docs",), "old", {"text": "x"}, index=False)
    indexed_store.put(("docs",), "new", {"text": "x"}, index=False)
    assert ranked(indexed_store.search(("docs",), query="cats", limit=2)) == ["scored", "new"]
    assert ranked(indexed_store.search(("docs",), query="cats", limit=2, offset=1)) == [
        "new",
        "old",
    ]
    assert ranked(indexed_store.search(("docs",), query="cats", offset=3)) == []


def test_non_ascii_text_is_embedded_and_found(indexed_store):
    indexed_store.put(("docs",), "ja", {"text": "猫が好きです"})
    indexed_store.put(("docs",), "fr", {"text": "le chat est là"})
    indexed_store.put(("docs",), "ru", {"text": "кошка"})
    assert ranked(indexed_store.search(("docs",), query="猫", limit=1)) == ["ja"]
    assert ranked(indexed_store.search(("docs",), query="кошки", limit=1)) == ["ru"]


def test_without_an_index_a_query_is_a_plain_search(store):
    store.put(("docs",), "k", {"text": "cats"}, index=["text"])
    (item,) = store.search(("docs",), query="dogs")
    assert item.key == "k" and item.score is None
    assert vector_count(("docs",), "k") == 0


async def test_an_async_embedding_function_serves_the_async_api():
    store = DjangoStore(index={"dims": DIMS, "embed": aembed, "fields": ["text"]}).for_tenant(
        DEFAULT_TENANT_ID
    )
    await store.aput(("docs",), "cats", {"text": "cats purr"})
    await store.aput(("docs",), "dogs", {"text": "dogs bark"})
    results = await store.asearch(("docs",), query="cats")
    assert ranked(results) == ["cats", "dogs"]


def test_an_embedding_of_the_wrong_width_fails_the_put_before_anything_is_written():
    store = DjangoStore(index={"dims": DIMS, "embed": wrong_width, "fields": ["text"]}).for_tenant(
        DEFAULT_TENANT_ID
    )
    with pytest.raises(ValueError, match="dimensions"):
        store.put(("docs",), "k", {"text": "hello"})
    assert not StoreItem.objects.exists()
