"""Every bad assistant request is a clear 4xx that names the problem and writes nothing."""

import uuid

import pytest

from apps.graphs.models import Assistant
from apps.graphs.services import assistants_sync_defaults

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "graph_id"),
        ({"graph_id": "agent", "assistant_id": "not-a-uuid"}, "assistant_id"),
        ({"graph_id": "agent", "config": []}, "config"),
        ({"graph_id": "agent", "metadata": "x"}, "metadata"),
        ({"graph_id": "agent", "context": 5}, "context"),
        ({"graph_id": "agent", "if_exists": "replace"}, "if_exists"),
    ],
)
def test_an_ill_typed_create_is_a_422_naming_the_field(api, body, field):
    response = api.post("/assistants", body, format="json")
    assert response.status_code == 422
    assert field in response.json()["detail"]
    assert not Assistant.objects.exists()


def test_unknown_fields_are_ignored_like_the_reference_server(api):
    response = api.post("/assistants", {"graph_id": "agent", "brand_new": 1}, format="json")
    assert response.status_code == 200


def test_a_path_id_that_is_not_a_uuid_is_a_422(api):
    response = api.get("/assistants/not-a-uuid")
    assert response.status_code == 422
    assert response.json() == {"detail": "Invalid assistant ID: must be a UUID"}


def test_an_unknown_assistant_is_a_404_on_every_route(api):
    missing = uuid.uuid4()
    for method, path in [
        ("get", f"/assistants/{missing}"),
        ("patch", f"/assistants/{missing}"),
        ("delete", f"/assistants/{missing}"),
        ("get", f"/assistants/{missing}/graph"),
        ("get", f"/assistants/{missing}/schemas"),
        ("get", f"/assistants/{missing}/subgraphs"),
        ("post", f"/assistants/{missing}/versions"),
        ("post", f"/assistants/{missing}/latest"),
    ]:
        response = getattr(api, method)(path, {}, format="json")
        assert response.status_code == 404, (method, path)


def test_search_rejects_bad_select_sort_and_limits(api):
    assert api.post("/assistants/search", {"select": ["nope"]}, format="json").json() == {
        "detail": "Invalid select columns: ['nope']"
    }
    for body in ({"sort_by": "color"}, {"limit": -1}, {"offset": "x"}, {"sort_order": "up"}):
        assert api.post("/assistants/search", body, format="json").status_code == 422


def test_a_bad_xray_value_is_a_422(api):
    assistants_sync_defaults()
    for xray in ("maybe", "0", "-2"):
        assert api.get("/assistants/agent/graph", {"xray": xray}).status_code == 422


def test_latest_needs_an_existing_positive_version(api):
    created = api.post("/assistants", {"graph_id": "agent"}, format="json").json()
    path = f"/assistants/{created['assistant_id']}/latest"
    assert api.post(path, {"version": 0}, format="json").status_code == 422
    assert api.post(path, {"version": 9}, format="json").status_code == 404
    assert api.post(path, {}, format="json").status_code == 422
    assert api.post(f"{path}?version=1", {}, format="json").status_code == 200


def test_patching_to_an_unknown_graph_is_a_404_and_changes_nothing(api):
    created = api.post("/assistants", {"graph_id": "agent"}, format="json").json()
    response = api.patch(
        f"/assistants/{created['assistant_id']}", {"graph_id": "nope"}, format="json"
    )
    assert response.status_code == 404
    assert Assistant.objects.get(pk=created["assistant_id"]).version == 1


def test_delete_answers_204_with_no_body(api):
    created = api.post("/assistants", {"graph_id": "agent"}, format="json").json()
    response = api.delete(f"/assistants/{created['assistant_id']}")
    assert response.status_code == 204
    assert response.content == b""
