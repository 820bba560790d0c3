"""The store's admin: browse and search items; deletes go through the store's service."""

from __future__ import annotations

import pytest

from apps.memory.models import StoreItem, StoreNamespace

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_item_list_shows_namespaces_and_keys_and_searches_by_key(admin_client, store):
    store.put(("users", "42"), "prefs", {"theme": "dark"})
    store.put(("users", "7"), "notes", {"text": "hi"}, ttl=5)
    page = admin_client.get("/admin/memory/storeitem/")
    assert page.status_code == 200
    assert b"users / 42" in page.content
    found = admin_client.get("/admin/memory/storeitem/", {"q": "notes"})
    assert b"notes" in found.content and b"prefs" not in found.content


def test_items_are_read_only_in_the_admin(admin_client, store):
    store.put(("users", "42"), "prefs", {"theme": "dark"})
    item = StoreItem.objects.get()
    assert admin_client.get("/admin/memory/storeitem/add/").status_code == 403
    detail = admin_client.get(f"/admin/memory/storeitem/{item.pk}/change/")
    assert detail.status_code == 200
    assert b'name="_save"' not in detail.content


def test_deleting_in_the_admin_removes_the_item_and_its_empty_namespace(admin_client, store):
    store.put(("users", "42"), "prefs", {"theme": "dark"})
    store.put(("users", "43"), "prefs", {"theme": "light"})
    doomed = StoreItem.objects.get(prefix="users.42")
    response = admin_client.post(
        "/admin/memory/storeitem/",
        {"action": "delete_selected", "_selected_action": [doomed.pk], "post": "yes"},
    )
    assert response.status_code == 302
    assert list(StoreItem.objects.values_list("prefix", flat=True)) == ["users.43"]
    assert list(StoreNamespace.objects.values_list("prefix", flat=True)) == ["users.43"]


def test_the_item_list_shows_each_items_tenant_and_filters_by_tenant(
    admin_client, store, other_tenant
):
    store.put(("users", "42"), "our-prefs", {"theme": "dark"})
    store.for_tenant(other_tenant.tenant_id).put(("users", "42"), "their-prefs", {"theme": "x"})
    page = admin_client.get("/admin/memory/storeitem/")
    assert b"our-prefs" in page.content and b"their-prefs" in page.content
    assert b'field-tenant nowrap">other<' in page.content
    assert b'field-tenant nowrap">default<' in page.content
    filtered = admin_client.get(
        "/admin/memory/storeitem/", {"tenant__tenant_id__exact": str(other_tenant.tenant_id)}
    )
    assert b"their-prefs" in filtered.content and b"our-prefs" not in filtered.content
