"""Time to live: expiry on write, refresh on read, sweeping, and hiding expired items."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from langgraph.store.base import GetOp, PutOp

from apps.core.dbthreads import db_threads
from apps.memory import services
from apps.memory.models import StoreItem, StoreNamespace, StoreVector
from apps.memory.store import DjangoStore
from apps.memory.tasks import sweep_expired_items
from apps.tenancy.models import DEFAULT_TENANT_ID
from tests.memory.conftest import expire, row, vector_count
from tests.memory.embeddings import DIMS, embed

pytestmark = pytest.mark.django_db(transaction=True)


def minutes_left(namespace: tuple[str, ...], key: str) -> float:
    return (row(namespace, key).expires_at - timezone.now()).total_seconds() / 60


def test_the_store_declares_ttl_support():
    assert DjangoStore.supports_ttl is True


def test_a_put_with_ttl_expires_that_many_minutes_after_the_write(store):
    store.put(("t",), "k", {"v": 1}, ttl=30)
    item = row(("t",), "k")
    assert item.ttl_minutes == 30
    assert item.expires_at - item.updated_at == timedelta(minutes=30)


def test_a_sub_minute_ttl_is_kept_exactly(store):
    store.put(("t",), "k", {"v": 1}, ttl=0.1)
    item = row(("t",), "k")
    assert item.ttl_minutes == 0.1
    assert item.expires_at - item.updated_at == timedelta(seconds=6)


def test_items_without_ttl_never_expire(store):
    store.put(("t",), "k", {"v": 1})
    item = row(("t",), "k")
    assert item.expires_at is None and item.ttl_minutes is None


def test_the_default_ttl_applies_when_a_put_names_none():
    store = DjangoStore(ttl={"default_ttl": 60}).for_tenant(DEFAULT_TENANT_ID)
    store.put(("t",), "default", {"v": 1})
    store.put(("t",), "own", {"v": 1}, ttl=5)
    assert row(("t",), "default").ttl_minutes == 60
    assert row(("t",), "own").ttl_minutes == 5


def test_a_put_without_ttl_removes_an_earlier_expiry(store):
    store.put(("t",), "k", {"v": 1}, ttl=5)
    store.put(("t",), "k", {"v": 2})
    assert row(("t",), "k").expires_at is None


def test_reads_push_the_expiry_back_unless_asked_not_to(store):
    store.put(("t",), "k", {"v": 1}, ttl=10)
    expire(("t",), "k", minutes_ago=-1)  # one minute left
    store.get(("t",), "k", refresh_ttl=False)
    assert minutes_left(("t",), "k") < 1.01
    store.get(("t",), "k")
    assert minutes_left(("t",), "k") > 9.9


def test_a_refresh_leaves_updated_at_alone(store):
    store.put(("t",), "k", {"v": 1}, ttl=10)
    before = store.get(("t",), "k")
    after = store.get(("t",), "k")
    assert after.updated_at == before.updated_at


def test_search_pushes_back_the_expiry_of_the_items_it_returns(store):
    store.put(("t",), "found", {"v": 1}, ttl=10)
    store.put(("t",), "other", {"v": 2}, ttl=10)
    expire(("t",), "found", minutes_ago=-1)
    expire(("t",), "other", minutes_ago=-1)
    store.search(("t",), filter={"v": 1})
    assert minutes_left(("t",), "found") > 9.9
    assert minutes_left(("t",), "other") < 1.01


def test_refresh_on_read_false_makes_reads_keep_the_expiry_unless_they_ask():
    store = DjangoStore(ttl={"refresh_on_read": False}).for_tenant(DEFAULT_TENANT_ID)
    store.put(("t",), "k", {"v": 1}, ttl=10)
    expire(("t",), "k", minutes_ago=-1)
    store.get(("t",), "k")
    store.search(("t",))
    assert minutes_left(("t",), "k") < 1.01
    store.batch([GetOp(("t",), "k", refresh_ttl=None)])
    assert minutes_left(("t",), "k") < 1.01
    store.get(("t",), "k", refresh_ttl=True)
    assert minutes_left(("t",), "k") > 9.9


def test_expired_items_stay_readable_until_swept(store):
    store.put(("t",), "k", {"v": 1}, ttl=1)
    expire(("t",), "k")
    assert store.get(("t",), "k", refresh_ttl=False).value == {"v": 1}
    assert [item.key for item in store.search(("t",), refresh_ttl=False)] == ["k"]
    assert store.list_namespaces() == [("t",)]


def test_a_sweep_deletes_expired_items_with_their_vectors_and_empty_namespaces():
    store = DjangoStore(index={"dims": DIMS, "embed": embed, "fields": ["text"]}).for_tenant(
        DEFAULT_TENANT_ID
    )
    store.put(("t", "a"), "old", {"text": "stale"}, ttl=1)
    store.put(("t", "a"), "fresh", {"text": "alive"}, ttl=60)
    store.put(("t", "b"), "old", {"text": "stale"}, ttl=1)
    store.put(("t", "b"), "forever", {"text": "kept"})
    store.put(("t", "c"), "old", {"text": "stale"}, ttl=1)
    for namespace in (("t", "a"), ("t", "b"), ("t", "c")):
        expire(namespace, "old")
    assert store.sweep_ttl() == 3
    assert sorted(StoreItem.objects.values_list("key", flat=True)) == ["forever", "fresh"]
    assert StoreVector.objects.count() == 2
    assert vector_count(("t", "a"), "fresh") == 1
    assert store.list_namespaces() == [("t", "a"), ("t", "b")]
    assert store.sweep_ttl() == 0


def test_a_sweep_works_through_more_expired_items_than_one_batch(store):
    store.batch([PutOp(("t", f"n{i % 4}"), f"k{i}", {"i": i}, ttl=1) for i in range(25)])
    StoreItem.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    assert services.store_items_sweep_expired(batch_size=10) == 25
    assert not StoreItem.objects.exists()
    assert not StoreNamespace.objects.exists()


async def test_the_async_sweep_deletes_expired_items(store):
    await store.aput(("t",), "k", {"v": 1}, ttl=1)
    past = timezone.now() - timedelta(minutes=1)
    # On a database thread: asgiref's executor thread would keep a connection open.
    await db_threads().arun(lambda: StoreItem.objects.update(expires_at=past))
    assert await store.asweep_ttl() == 1


def test_the_sweep_task_deletes_expired_items_and_reports_how_many(store):
    store.put(("t",), "old", {"v": 1}, ttl=1)
    store.put(("t",), "new", {"v": 1}, ttl=60)
    expire(("t",), "old")
    assert sweep_expired_items.name == "memory.sweep_expired_items"
    assert sweep_expired_items() == 1
    assert sweep_expired_items() == 0
    assert store.get(("t",), "new") is not None


def test_omit_expired_hides_expired_items_from_reads_and_listings():
    store = DjangoStore(ttl={"omit_expired": True}).for_tenant(DEFAULT_TENANT_ID)
    store.put(("t", "gone"), "k", {"v": 1}, ttl=1)
    store.put(("t", "mixed"), "old", {"v": 1}, ttl=1)
    store.put(("t", "mixed"), "new", {"v": 2}, ttl=60)
    expire(("t", "gone"), "k")
    expire(("t", "mixed"), "old")
    assert store.get(("t", "gone"), "k") is None
    assert [item.key for item in store.search(("t",))] == ["new"]
    assert store.list_namespaces() == [("t", "mixed")]
    assert store.list_namespaces(max_depth=1) == [("t",)]


@pytest.mark.parametrize("ttl", [0, -1, float("inf"), float("nan"), True, "5"])
def test_a_ttl_that_is_not_a_positive_number_of_minutes_is_rejected(store, ttl):
    with pytest.raises(ValueError):
        store.put(("t",), "k", {"v": 1}, ttl=ttl)
    assert not StoreItem.objects.exists()
