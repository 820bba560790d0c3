"""Every bad thread request is a clear 4xx that names the problem and writes nothing."""

import uuid

import pytest

from apps.tenancy.models import DEFAULT_TENANT_ID
from apps.threads.models import Thread

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"thread_id": "nope"}, "thread_id"),
        ({"metadata": [1]}, "metadata"),
        ({"ttl": -5}, "ttl"),
        ({"ttl": {"ttl": 5, "strategy": "forever"}}, "ttl"),
        ({"ttl": "soon"}, "ttl"),
        ({"if_exists": "overwrite"}, "if_exists"),
        ({"supersteps": [{"updates": "x"}]}, "supersteps"),
    ],
)
def test_an_ill_typed_create_is_a_422_naming_the_field(api, body, field):
    response = api.post("/threads", body, format="json")
    assert response.status_code == 422
    assert field in response.json()["detail"]
    assert not Thread.objects.exists()


def test_supersteps_without_a_graph_are_a_400_and_leave_no_thread(api):
    body = {"supersteps": [{"updates": [{"values": {}, "as_node": "x"}]}]}
    assert api.post("/threads", body, format="json").status_code == 400
    assert not Thread.objects.exists()


def test_failing_supersteps_leave_no_thread(api):
    body = {
        "metadata": {"graph_id": "nested"},
        "supersteps": [{"updates": [{"values": {"steps": ["a"]}, "as_node": "no-such-node"}]}],
    }
    response = api.post("/threads", body, format="json")
    assert response.status_code == 400
    assert not Thread.objects.exists()


def test_reserved_metadata_keys_are_dropped(api):
    body = {"metadata": {"thread_id": "x", "run_id": "y", "mine": 1}}
    assert api.post("/threads", body, format="json").json()["metadata"] == {"mine": 1}


def test_search_rejects_bad_status_select_ids_and_extract(api):
    for body in (
        {"status": "sleeping"},
        {"select": ["secret"]},
        {"ids": ["nope"]},
        {"extract": {"a": "secrets.x"}},
        {"extract": {str(i): "values.x" for i in range(11)}},
        {"extract": {"a": "values..x"}},
    ):
        assert api.post("/threads/search", body, format="json").status_code == 422, body


def test_an_unknown_thread_is_a_404_on_every_route(api):
    missing = uuid.uuid4()
    for method, path in [
        ("get", f"/threads/{missing}"),
        ("patch", f"/threads/{missing}"),
        ("delete", f"/threads/{missing}"),
        ("post", f"/threads/{missing}/copy"),
        ("get", f"/threads/{missing}/state"),
        ("post", f"/threads/{missing}/state"),
        ("get", f"/threads/{missing}/history"),
        ("post", f"/threads/{missing}/history"),
        ("post", f"/threads/{missing}/state/checkpoint"),
    ]:
        assert getattr(api, method)(path, {}, format="json").status_code == 404, (method, path)


def test_state_at_an_unknown_checkpoint_is_a_404(api):
    thread = api.post("/threads", {"metadata": {"graph_id": "nested"}}, format="json").json()
    path = f"/threads/{thread['thread_id']}/state/1ef00000-0000-6000-8000-000000000000"
    assert api.get(path).status_code == 404


def test_state_select_and_include_reject_unknown_names(api):
    thread = api.post("/threads", {}, format="json").json()
    tid = thread["thread_id"]
    assert api.get(f"/threads/{tid}/state", {"select": "bogus"}).status_code == 422
    assert api.get(f"/threads/{tid}", {"include": "everything"}).status_code == 422
    assert api.get(f"/threads/{tid}", {"include": '["ttl"]'}).status_code == 200


def test_history_rejects_a_bad_limit_or_before(api):
    thread = api.post("/threads", {"metadata": {"graph_id": "nested"}}, format="json").json()
    path = f"/threads/{thread['thread_id']}/history"
    assert api.post(path, {"limit": 0}, format="json").status_code == 422
    assert api.post(path, {"before": 5}, format="json").status_code == 422
    assert api.get(path, {"limit": "many"}).status_code == 422


def test_prune_rejects_an_unknown_strategy(api):
    body = {"thread_ids": [str(uuid.uuid4())], "strategy": "shred"}
    assert api.post("/threads/prune", body, format="json").status_code == 422


def test_a_state_update_on_a_busy_thread_conflicts(api):
    thread = Thread.objects.create(
        tenant_id=DEFAULT_TENANT_ID, metadata={"graph_id": "nested"}, status="busy"
    )
    response = api.post(f"/threads/{thread.thread_id}/state", {"values": {}}, format="json")
    assert response.status_code == 409


def test_an_oversized_body_is_a_413(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    response = api.post("/threads", {"metadata": {"x": "y" * 500}}, format="json")
    assert response.status_code == 413
    assert not Thread.objects.exists()
