"""Tenancy: a store bound to one tenant never sees or touches another tenant's items."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import IntegrityError, connection
from django.db.models import F
from langgraph.store.base import PutOp

from apps.memory.models import StoreItem, StoreNamespace, StoreVector
from apps.memory.store import DjangoStore
from apps.memory.tasks import sweep_expired_items
from apps.tenancy.models import DEFAULT_TENANT_ID, Tenant
from tests.memory.conftest import expire, queries_of, row

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def theirs(store, other_tenant) -> DjangoStore:
    """The same configured store, bound to another tenant."""
    return store.for_tenant(other_tenant.tenant_id)


def namespaces_of(tenant_id) -> set[str]:
    return set(StoreNamespace.objects.filter(tenant_id=tenant_id).values_list("prefix", flat=True))


def every_item_is_in_its_own_tenants_namespace_row() -> bool:
    """The item's copies of its namespace's tenant and text agree with the row, and its
    vectors carry its tenant."""
    strays = StoreItem.objects.exclude(
        namespace__tenant_id=F("tenant_id"), namespace__prefix=F("prefix")
    )
    stray_vectors = StoreVector.objects.exclude(item__tenant_id=F("tenant_id"))
    return not strays.exists() and not stray_vectors.exists()


def test_the_same_namespace_and_key_in_two_tenants_are_two_items(store, theirs, other_tenant):
    store.put(("users", "42"), "prefs", {"theme": "dark"})
    theirs.put(("users", "42"), "prefs", {"theme": "light"})
    assert store.get(("users", "42"), "prefs").value == {"theme": "dark"}
    assert theirs.get(("users", "42"), "prefs").value == {"theme": "light"}
    assert StoreItem.objects.count() == 2
    assert row(("users", "42"), "prefs", tenant_id=other_tenant.tenant_id).value == {
        "theme": "light"
    }
    assert StoreNamespace.objects.count() == 2


def test_a_put_in_one_tenant_leaves_the_same_item_of_another_tenant_as_it_was(store, theirs):
    theirs.put(("docs",), "a", {"v": "theirs"}, ttl=5)
    before = theirs.get(("docs",), "a", refresh_ttl=False)
    store.put(("docs",), "a", {"v": "ours"})
    after = theirs.get(("docs",), "a", refresh_ttl=False)
    assert after == before


def test_get_in_one_tenant_never_sees_another_tenants_item(store, theirs):
    theirs.put(("users", "42"), "prefs", {"theme": "light"})
    assert store.get(("users", "42"), "prefs") is None


def test_search_in_one_tenant_never_returns_another_tenants_items(store, theirs):
    store.put(("docs", "a"), "ours", {"kind": "note"})
    theirs.put(("docs", "a"), "theirs", {"kind": "note"})
    theirs.put(("docs", "b"), "theirs too", {"kind": "note"})
    assert [item.key for item in store.search(("docs",))] == ["ours"]
    assert [item.key for item in store.search((), filter={"kind": "note"})] == ["ours"]
    assert sorted(item.key for item in theirs.search(("docs",))) == ["theirs", "theirs too"]


def test_a_semantic_search_in_one_tenant_ranks_only_its_own_items(indexed_store, other_tenant):
    theirs = indexed_store.for_tenant(other_tenant.tenant_id)
    indexed_store.put(("docs",), "ours", {"text": "apples and pears"})
    theirs.put(("docs",), "theirs", {"text": "apples"})
    found = indexed_store.search(("docs",), query="apples")
    assert [item.key for item in found] == ["ours"]
    assert found[0].score is not None
    assert every_item_is_in_its_own_tenants_namespace_row()


def test_list_namespaces_in_one_tenant_lists_only_its_own(store, theirs):
    store.put(("users", "1"), "k", {"v": 1})
    theirs.put(("users", "2"), "k", {"v": 1})
    theirs.put(("teams", "9"), "k", {"v": 1})
    assert store.list_namespaces() == [("users", "1")]
    assert store.list_namespaces(prefix=("users",)) == [("users", "1")]
    assert store.list_namespaces(max_depth=1) == [("users",)]
    assert theirs.list_namespaces() == [("teams", "9"), ("users", "2")]


def test_omit_expired_judges_a_namespace_by_its_own_tenants_items(other_tenant):
    ours = DjangoStore(ttl={"omit_expired": True}).for_tenant(DEFAULT_TENANT_ID)
    theirs = ours.for_tenant(other_tenant.tenant_id)
    ours.put(("t",), "k", {"v": 1}, ttl=1)
    theirs.put(("t",), "k", {"v": 1}, ttl=60)
    expire(("t",), "k")
    assert ours.list_namespaces() == []
    assert theirs.list_namespaces() == [("t",)]


def test_delete_in_one_tenant_never_touches_another_tenants_item(store, theirs, other_tenant):
    store.put(("users", "42"), "prefs", {"theme": "dark"})
    theirs.put(("users", "42"), "prefs", {"theme": "light"})
    store.delete(("users", "42"), "prefs")
    assert store.get(("users", "42"), "prefs") is None
    assert theirs.get(("users", "42"), "prefs").value == {"theme": "light"}
    assert namespaces_of(DEFAULT_TENANT_ID) == set()
    assert namespaces_of(other_tenant.tenant_id) == {"users.42"}


def test_deleting_another_tenants_item_is_a_no_op(store, theirs):
    theirs.put(("docs",), "a", {"v": 1})
    store.delete(("docs",), "a")
    assert theirs.get(("docs",), "a").value == {"v": 1}


def test_a_read_refreshes_the_expiry_of_its_own_tenants_item_only(store, theirs, other_tenant):
    store.put(("t",), "k", {"v": 1}, ttl=10)
    theirs.put(("t",), "k", {"v": 1}, ttl=10)
    expire(("t",), "k", minutes_ago=-1)
    expire(("t",), "k", minutes_ago=-1, tenant_id=other_tenant.tenant_id)
    theirs_before = row(("t",), "k", tenant_id=other_tenant.tenant_id).expires_at
    store.get(("t",), "k")
    store.search(("t",))
    assert row(("t",), "k").expires_at > theirs_before
    assert row(("t",), "k", tenant_id=other_tenant.tenant_id).expires_at == theirs_before


def test_a_tenants_sweep_deletes_its_own_expired_items_only(store, theirs, other_tenant):
    store.put(("t",), "k", {"v": 1}, ttl=1)
    theirs.put(("t",), "k", {"v": 1}, ttl=1)
    expire(("t",), "k")
    expire(("t",), "k", tenant_id=other_tenant.tenant_id)
    assert store.sweep_ttl() == 1
    assert store.get(("t",), "k", refresh_ttl=False) is None
    assert theirs.get(("t",), "k", refresh_ttl=False) is not None
    assert theirs.sweep_ttl() == 1
    assert not StoreNamespace.objects.exists()


def test_the_periodic_sweep_deletes_the_expired_items_of_every_tenant(store, theirs, other_tenant):
    for bound in (store, theirs):
        bound.put(("t",), "old", {"v": 1}, ttl=1)
        bound.put(("t",), "new", {"v": 1}, ttl=60)
    expire(("t",), "old")
    expire(("t",), "old", tenant_id=other_tenant.tenant_id)
    assert sweep_expired_items() == 2
    assert [item.key for item in store.search(("t",))] == ["new"]
    assert [item.key for item in theirs.search(("t",))] == ["new"]


def test_deleting_a_tenant_deletes_its_items_namespaces_and_vectors_and_nothing_else(
    indexed_store,
):
    doomed = Tenant.objects.create(slug="doomed", name="Doomed")
    theirs = indexed_store.for_tenant(doomed.tenant_id)
    indexed_store.put(("docs", "a"), "k", {"text": "ours"})
    theirs.batch([PutOp(("docs", f"n{i}"), f"k{i}", {"text": f"theirs {i}"}) for i in range(5)])
    doomed.delete()
    assert list(StoreItem.objects.values_list("tenant_id", flat=True)) == [DEFAULT_TENANT_ID]
    assert namespaces_of(DEFAULT_TENANT_ID) == {"docs.a"}
    assert StoreNamespace.objects.count() == 1
    assert list(StoreVector.objects.values_list("tenant_id", flat=True)) == [DEFAULT_TENANT_ID]
    assert indexed_store.get(("docs", "a"), "k").value == {"text": "ours"}
    assert every_item_is_in_its_own_tenants_namespace_row()


def test_a_store_bound_to_a_tenant_that_does_not_exist_cannot_write(store):
    ghost = store.for_tenant(Tenant(slug="ghost", name="Ghost").tenant_id)
    with pytest.raises(IntegrityError):
        ghost.put(("docs",), "a", {"v": 1})
    assert not StoreItem.objects.exists()
    assert not StoreNamespace.objects.exists()


def test_concurrent_writers_in_two_tenants_keep_each_tenants_namespaces_exact(
    store, theirs, other_tenant
):
    def churn(worker: int) -> None:
        bound = (store, theirs)[worker % 2]
        for step in range(30):
            namespace = ("churn", f"n{step % 2}")
            if (worker + step) % 3:
                bound.put(namespace, f"k{step % 3}", {"worker": worker})
            else:
                bound.delete(namespace, f"k{step % 3}")

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(churn, range(4)))
    for tenant_id in (DEFAULT_TENANT_ID, other_tenant.tenant_id):
        holding = StoreItem.objects.filter(tenant_id=tenant_id).values_list("prefix", flat=True)
        assert namespaces_of(tenant_id) == set(holding)
    assert every_item_is_in_its_own_tenants_namespace_row()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="one statement on PostgreSQL")
def test_a_lone_put_is_one_statement(store):
    store.put(("docs",), "a", {"v": 1})
    _, queries = queries_of(lambda: store.put(("docs", "new"), "b", {"v": 2}))
    assert queries == 1
    assert store.get(("docs", "new"), "b").value == {"v": 2}


def test_a_search_in_a_tenant_is_one_query(store, theirs):
    theirs.batch([PutOp(("docs",), f"k{i}", {"i": i}) for i in range(20)])
    found, queries = queries_of(lambda: store.search(("docs",), refresh_ttl=False))
    assert found == []
    assert queries == 1


def test_a_bound_store_shares_its_configuration(indexed_store, other_tenant):
    theirs = indexed_store.for_tenant(other_tenant.tenant_id)
    assert theirs.embeddings is indexed_store.embeddings
    assert theirs.index_config is indexed_store.index_config
    assert theirs.tenant_id == other_tenant.tenant_id
    assert indexed_store.tenant_id == DEFAULT_TENANT_ID
