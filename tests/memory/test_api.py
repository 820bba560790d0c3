"""The /store endpoints as the official clients call them (reference §8)."""

from __future__ import annotations

import datetime as dt

import pytest
from rest_framework.test import APIClient

from apps.memory.models import StoreItem
from apps.tenancy.models import Role, Tenant
from apps.tenancy.services import api_key_create, membership_ensure
from tests.memory.conftest import row
from tests.memory.embeddings import DIMS

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.urls("apps.memory.urls")]


@pytest.fixture(autouse=True)
def plain_store(use_store_config):
    return use_store_config(None)


def put(api, body: dict):
    return api.put("/store/items", body, format="json")


def get(api, namespace: str, key: str | None, **params):
    query = {"namespace": namespace, **params}
    if key is not None:
        query["key"] = key
    return api.get("/store/items", query)


def test_put_stores_an_item_and_answers_204_with_no_body(api):
    response = put(api, {"namespace": ["users", "42"], "key": "prefs", "value": {"theme": "dark"}})
    assert response.status_code == 204
    assert response.content == b""
    assert row(("users", "42"), "prefs").value == {"theme": "dark"}


def test_get_returns_the_item_with_iso_timestamps(api):
    put(api, {"namespace": ["users", "42"], "key": "prefs", "value": {"theme": "dark"}})
    response = get(api, "users.42", "prefs")
    assert response.status_code == 200
    body = response.json()
    assert body["namespace"] == ["users", "42"]
    assert body["key"] == "prefs"
    assert body["value"] == {"theme": "dark"}
    assert "score" not in body
    created = dt.datetime.fromisoformat(body["created_at"])
    assert created.tzinfo is not None
    assert dt.datetime.fromisoformat(body["updated_at"]) == created


def test_get_of_a_missing_item_answers_200_null(api):
    response = get(api, "users.42", "nothing")
    assert response.status_code == 200
    assert response.content == b"null"


def test_get_without_a_key_answers_400_key_is_required(api):
    for response in (get(api, "users", None), get(api, "users", "")):
        assert response.status_code == 400
        assert response.json() == {"detail": "Key is required", "error": "Key is required"}


def test_a_second_put_updates_the_value_and_keeps_created_at(api):
    put(api, {"namespace": ["docs"], "key": "a", "value": {"v": 1}})
    first = get(api, "docs", "a").json()
    put(api, {"namespace": ["docs"], "key": "a", "value": {"v": 2}})
    second = get(api, "docs", "a").json()
    assert second["value"] == {"v": 2}
    assert second["created_at"] == first["created_at"]
    assert second["updated_at"] > first["updated_at"]


def test_delete_removes_the_item_and_answers_204(api):
    put(api, {"namespace": ["docs"], "key": "a", "value": {"v": 1}})
    response = api.delete("/store/items", {"namespace": ["docs"], "key": "a"}, format="json")
    assert response.status_code == 204
    assert get(api, "docs", "a").json() is None


def test_search_returns_matching_items_newest_first(api):
    for key, size in (("small", 1), ("large", 9), ("medium", 5)):
        put(api, {"namespace": ["docs", key], "key": key, "value": {"size": size}})
    response = api.post(
        "/store/items/search",
        {"namespace_prefix": ["docs"], "filter": {"size": {"$gt": 2}}},
        format="json",
    )
    assert response.status_code == 200
    items = response.json()["items"]
    assert [item["key"] for item in items] == ["medium", "large"]
    assert "score" not in items[0]
    assert items[0]["namespace"] == ["docs", "medium"]


def test_search_pages_with_limit_and_offset(api):
    for i in range(5):
        put(api, {"namespace": ["docs"], "key": f"k{i}", "value": {"i": i}})
    body = {"namespace_prefix": ["docs"], "limit": 2, "offset": 1}
    items = api.post("/store/items/search", body, format="json").json()["items"]
    assert [item["key"] for item in items] == ["k3", "k2"]


def test_a_semantic_search_carries_scores(api, use_store_config):
    use_store_config(
        {"index": {"dims": DIMS, "embed": "tests.memory.embeddings:embed", "fields": ["text"]}}
    )
    put(api, {"namespace": ["docs"], "key": "cats", "value": {"text": "cats purr"}})
    put(api, {"namespace": ["docs"], "key": "dogs", "value": {"text": "dogs bark"}})
    put(api, {"namespace": ["docs"], "key": "skip", "value": {"text": "cats"}, "index": False})
    body = {"namespace_prefix": ["docs"], "query": "cats purr"}
    items = api.post("/store/items/search", body, format="json").json()["items"]
    assert [item["key"] for item in items] == ["cats", "dogs", "skip"]
    assert items[0]["score"] == pytest.approx(1.0, abs=1e-6)
    assert items[2]["score"] is None


def test_list_namespaces_answers_an_object_with_the_namespaces(api):
    for namespace in (["a", "b", "c"], ["a", "b", "d"], ["a", "x"], ["z"]):
        put(api, {"namespace": namespace, "key": "k", "value": {}})
    listed = api.post("/store/namespaces", {"prefix": ["a"]}, format="json")
    assert listed.status_code == 200
    assert listed.json() == {"namespaces": [["a", "b", "c"], ["a", "b", "d"], ["a", "x"]]}
    shallow = api.post("/store/namespaces", {"max_depth": 2, "suffix": ["*"]}, format="json")
    assert shallow.json() == {"namespaces": [["a", "b"], ["a", "x"], ["z"]]}
    page = api.post("/store/namespaces", {"limit": 1, "offset": 1}, format="json")
    assert page.json() == {"namespaces": [["a", "b", "d"]]}
    assert api.post("/store/namespaces").json()["namespaces"][-1] == ["z"]


def test_put_with_ttl_sets_an_expiry_and_null_means_the_default(api, use_store_config):
    use_store_config({"ttl": {"default_ttl": 60}})
    put(api, {"namespace": ["t"], "key": "own", "value": {}, "ttl": 0.5})
    put(api, {"namespace": ["t"], "key": "default", "value": {}, "ttl": None})
    put(api, {"namespace": ["t"], "key": "absent", "value": {}})
    assert row(("t",), "own").ttl_minutes == 0.5
    assert row(("t",), "default").ttl_minutes == 60
    assert row(("t",), "absent").ttl_minutes == 60


def test_refresh_ttl_in_the_query_string_controls_the_refresh(api):
    put(api, {"namespace": ["t"], "key": "k", "value": {}, "ttl": 10})
    StoreItem.objects.update(expires_at=dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    assert get(api, "t", "k", refresh_ttl="false").status_code == 200
    assert row(("t",), "k").expires_at.year == 2000
    assert get(api, "t", "k", refresh_ttl="true").status_code == 200
    assert row(("t",), "k").expires_at.year > 2000


def test_unknown_body_fields_are_ignored(api):
    body = {"namespace": ["docs"], "key": "a", "value": {"v": 1}, "future_option": True}
    assert put(api, body).status_code == 204
    search = {"namespace_prefix": ["docs"], "brand_new": 1}
    assert api.post("/store/items/search", search, format="json").status_code == 200


PUT_ERRORS = [
    ({"namespace": ["a.b"], "key": "k", "value": {}}, "namespace"),
    ({"namespace": ["a", ""], "key": "k", "value": {}}, "namespace"),
    ({"namespace": [], "key": "k", "value": {}}, "namespace"),
    ({"namespace": "a", "key": "k", "value": {}}, "namespace"),
    ({"namespace": ["a", 1], "key": "k", "value": {}}, "namespace"),
    ({"namespace": ["langgraph"], "key": "k", "value": {}}, "namespace"),
    ({"namespace": ["a\x00"], "key": "k", "value": {}}, "namespace"),
    ({"key": "k", "value": {}}, "namespace"),
    ({"namespace": ["a"], "value": {}}, "key"),
    ({"namespace": ["a"], "key": 5, "value": {}}, "key"),
    ({"namespace": ["a"], "key": "", "value": {}}, "key"),
    ({"namespace": ["a"], "key": "é" * 1500, "value": {}}, "key"),
    ({"namespace": ["a"], "key": "k"}, "value"),
    ({"namespace": ["a"], "key": "k", "value": None}, "value"),
    ({"namespace": ["a"], "key": "k", "value": [1, 2]}, "value"),
    ({"namespace": ["a"], "key": "k", "value": "text"}, "value"),
    ({"namespace": ["a"], "key": "k", "value": {}, "index": True}, "index"),
    ({"namespace": ["a"], "key": "k", "value": {}, "index": "text"}, "index"),
    ({"namespace": ["a"], "key": "k", "value": {}, "index": [""]}, "index"),
    ({"namespace": ["a"], "key": "k", "value": {}, "ttl": -1}, "ttl"),
    ({"namespace": ["a"], "key": "k", "value": {}, "ttl": 0}, "ttl"),
    ({"namespace": ["a"], "key": "k", "value": {}, "ttl": "5"}, "ttl"),
    ({"namespace": ["a"], "key": "k", "value": {}, "ttl": True}, "ttl"),
]


@pytest.mark.parametrize(("body", "field"), PUT_ERRORS)
def test_a_bad_put_answers_422_naming_the_field_and_writes_nothing(api, body, field):
    response = put(api, body)
    assert response.status_code == 422
    assert response.json()["detail"].startswith(field)
    assert not StoreItem.objects.exists()


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"[1, 2]", b'"text"'],
    ids=["malformed", "array", "string"],
)
def test_a_body_that_is_not_a_json_object_answers_422(api, body):
    response = api.generic("PUT", "/store/items", body, content_type="application/json")
    assert response.status_code == 422
    assert "detail" in response.json()


SEARCH_ERRORS = [
    ({"namespace_prefix": ["a.b"]}, "namespace_prefix"),
    ({"namespace_prefix": "a"}, "namespace_prefix"),
    ({"filter": [1]}, "filter"),
    ({"filter": {"v": {"$regex": "x"}}}, "filter"),
    ({"filter": {"v": {"$gt": [1]}}}, "filter"),
    ({"limit": -1}, "limit"),
    ({"limit": 0}, "limit"),
    ({"limit": 5000}, "limit"),
    ({"limit": "ten"}, "limit"),
    ({"offset": -3}, "offset"),
    ({"query": 5}, "query"),
    ({"refresh_ttl": "sometimes"}, "refresh_ttl"),
]


@pytest.mark.parametrize(("body", "field"), SEARCH_ERRORS)
def test_a_bad_search_answers_422_naming_the_field(api, body, field):
    response = api.post("/store/items/search", body, format="json")
    assert response.status_code == 422
    assert response.json()["detail"].startswith(field)


NAMESPACE_ERRORS = [
    ({"prefix": ["a.b"]}, "prefix"),
    ({"suffix": [""]}, "suffix"),
    ({"suffix": "x"}, "suffix"),
    ({"max_depth": 0}, "max_depth"),
    ({"max_depth": "deep"}, "max_depth"),
    ({"limit": 0}, "limit"),
    ({"limit": 100000}, "limit"),
    ({"offset": -1}, "offset"),
]


@pytest.mark.parametrize(("body", "field"), NAMESPACE_ERRORS)
def test_a_bad_namespace_listing_answers_422_naming_the_field(api, body, field):
    response = api.post("/store/namespaces", body, format="json")
    assert response.status_code == 422
    assert response.json()["detail"].startswith(field)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"namespace": "a..b", "key": "k"}, "namespace"),
        ({"namespace": "a.", "key": "k"}, "namespace"),
        ({"namespace": "a\x00", "key": "k"}, "namespace"),
        ({"namespace": "a", "key": "k", "refresh_ttl": "maybe"}, "refresh_ttl"),
    ],
)
def test_a_bad_get_answers_422(api, query, field):
    response = api.get("/store/items", query)
    assert response.status_code == 422
    assert field in response.json()["detail"]


@pytest.mark.parametrize(
    "body",
    [
        {"key": "k"},
        {"namespace": ["a.b"], "key": "k"},
        {"namespace": ["a"]},
        {"namespace": ["a"], "key": 1},
    ],
)
def test_a_bad_delete_answers_422_and_deletes_nothing(api, body):
    put(api, {"namespace": ["a"], "key": "k", "value": {}})
    response = api.delete("/store/items", body, format="json")
    assert response.status_code == 422
    assert StoreItem.objects.count() == 1


def test_a_get_of_the_empty_namespace_reads_as_null(api):
    assert get(api, "", "k").json() is None


def client_of(tenant: Tenant) -> APIClient:
    """A client sending the API key of a member of ``tenant``."""
    member = membership_ensure(
        tenant=tenant, username=f"{tenant.slug}-member", role=Role.MEMBER, actor="tests"
    )
    _, key = api_key_create(membership=member, name="tests", actor="tests")
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=key)
    return client


def test_each_tenant_reads_writes_and_lists_only_its_own_items(
    settings, default_tenant, other_tenant
):
    settings.AGENTSERVER_AUTH = "apikey"
    ours, theirs = client_of(default_tenant), client_of(other_tenant)
    put(ours, {"namespace": ["users", "42"], "key": "prefs", "value": {"theme": "dark"}})
    put(ours, {"namespace": ["ours"], "key": "k", "value": {}})
    put(theirs, {"namespace": ["users", "42"], "key": "prefs", "value": {"theme": "light"}})
    assert get(ours, "users.42", "prefs").json()["value"] == {"theme": "dark"}
    assert get(theirs, "users.42", "prefs").json()["value"] == {"theme": "light"}
    assert get(theirs, "ours", "k").json() is None
    found = theirs.post("/store/items/search", {}, format="json").json()["items"]
    assert [item["value"] for item in found] == [{"theme": "light"}]
    listed = theirs.post("/store/namespaces", {}, format="json").json()
    assert listed == {"namespaces": [["users", "42"]]}
    deleted = theirs.delete("/store/items", {"namespace": ["ours"], "key": "k"}, format="json")
    assert deleted.status_code == 204
    assert get(ours, "ours", "k").json() is not None
