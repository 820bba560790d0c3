"""A project's auth.py written for the reference server works unchanged: its authenticate
handler decides who calls, its handlers tag, filter and refuse."""

from pathlib import Path

import orjson
import pytest
from channels.testing.websocket import WebsocketCommunicator
from rest_framework.test import APIClient

from agentserver.asgi import application
from apps.core.dbthreads import db_threads
from apps.graphs.config import load_project
from apps.graphs.registry import use_project
from apps.graphs.services import assistants_sync_defaults
from apps.threads.models import Thread
from tests.conftest import PROJECT

pytestmark = pytest.mark.django_db(transaction=True)

AUTH_PROJECT = Path(__file__).parent / "auth_project" / "langgraph.json"


@pytest.fixture(autouse=True)
def _auth_project():
    use_project(load_project(AUTH_PROJECT))
    assistants_sync_defaults()
    yield
    use_project(load_project(PROJECT))


def as_user(token: str | None) -> APIClient:
    client = APIClient()
    if token:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


alice, bob, eve = as_user("alice-token"), as_user("bob-token"), as_user("eve-token")


def test_the_authenticate_handler_refuses_with_its_own_status_and_detail():
    anonymous = as_user(None).post("/threads", {}, format="json")
    stranger = as_user("who-knows").post("/threads", {}, format="json")

    assert (anonymous.status_code, anonymous.json()) == (401, {"detail": "Bearer token required"})
    assert (stranger.status_code, stranger.json()) == (401, {"detail": "Unknown token"})
    assert not Thread.objects.exists()


def test_a_user_naming_an_unknown_tenant_is_refused():
    assert eve.post("/threads", {}, format="json").status_code == 403


def test_a_created_thread_is_tagged_with_its_owner():
    thread = alice.post("/threads", {"metadata": {"topic": "x"}}, format="json").json()

    assert thread["metadata"] == {"topic": "x", "owner": "alice"}


def test_another_users_thread_is_not_found_anywhere():
    thread_id = alice.post("/threads", {}, format="json").json()["thread_id"]

    assert bob.get(f"/threads/{thread_id}").status_code == 404
    assert bob.get(f"/threads/{thread_id}/state").status_code == 404
    assert bob.patch(f"/threads/{thread_id}", {"metadata": {}}, format="json").status_code == 404
    assert bob.post("/threads/search", {}, format="json").json() == []
    assert bob.post("/threads/count", {}, format="json").json() == 0
    assert alice.post("/threads/count", {}, format="json").json() == 1


def test_taking_another_users_thread_id_is_a_conflict():
    thread_id = alice.post("/threads", {}, format="json").json()["thread_id"]

    response = bob.post(
        "/threads", {"thread_id": thread_id, "if_exists": "do_nothing"}, format="json"
    )

    assert response.status_code == 409
    assert Thread.objects.get().metadata == {"owner": "alice"}


def test_a_specific_handler_wins_over_the_global_one():
    thread_id = bob.post("/threads", {}, format="json").json()["thread_id"]

    response = bob.delete(f"/threads/{thread_id}")

    assert (response.status_code, response.json()) == (403, {"detail": "Only writers delete"})
    assert Thread.objects.filter(pk=thread_id).exists()


def test_a_handler_returning_false_forbids():
    response = alice.post("/assistants", {"graph_id": "agent"}, format="json")

    assert response.status_code == 403


def test_a_run_on_a_graph_name_uses_the_default_assistant_and_is_tagged():
    thread_id = alice.post("/threads", {}, format="json").json()["thread_id"]

    response = alice.post(
        f"/threads/{thread_id}/runs",
        {"assistant_id": "agent", "input": {"messages": []}, "metadata": {"n": 1}},
        format="json",
    )

    assert response.status_code == 200, response.json()
    assert response.json()["metadata"]["owner"] == "alice"
    assert bob.get(f"/threads/{thread_id}/runs/{response.json()['run_id']}").status_code == 404


def test_a_run_on_another_users_thread_is_not_found():
    thread_id = alice.post("/threads", {}, format="json").json()["thread_id"]

    response = bob.post(f"/threads/{thread_id}/runs", {"assistant_id": "agent"}, format="json")

    assert response.status_code == 404


def test_the_store_handler_keeps_each_user_in_their_namespace():
    mine = {"namespace": ["alice", "notes"], "key": "k", "value": {"v": 1}}
    theirs = {"namespace": ["bob", "notes"], "key": "k", "value": {"v": 2}}

    assert alice.put("/store/items", mine, format="json").status_code == 204
    assert alice.put("/store/items", theirs, format="json").status_code == 403
    assert bob.get("/store/items", {"namespace": "alice.notes", "key": "k"}).status_code == 403


async def test_the_authenticate_handler_gets_the_parameters_it_names():
    from django.test import RequestFactory
    from langgraph_sdk import Auth

    from apps.tenancy.customauth import CustomAuth

    seen = {}
    project_auth = Auth()

    @project_auth.authenticate
    async def authenticate(request, path, method, headers, path_params, query_params):
        seen.update(
            path=path,
            method=method,
            url_path=request.url.path,
            key=headers[b"x-key"],
            thread_id=path_params.get("thread_id"),
            q=query_params,
        )
        return "someone"

    request = RequestFactory().get(
        "/threads/00000000-0000-0000-0000-000000000001?limit=3", headers={"X-Key": "k1"}
    )

    principal = await CustomAuth(project_auth, "test").authenticate(request)

    assert principal.identity == "someone"
    assert seen == {
        "path": "/threads/00000000-0000-0000-0000-000000000001",
        "method": "GET",
        "url_path": "/threads/00000000-0000-0000-0000-000000000001",
        "key": b"k1",
        "thread_id": "00000000-0000-0000-0000-000000000001",
        "q": {"limit": "3"},
    }


async def test_a_socket_without_the_handlers_credentials_may_send_them_in_its_first_frame():
    created = await db_threads().arun(lambda: alice.post("/threads", {}, format="json"))
    thread_id = created.json()["thread_id"]
    path = f"/threads/{thread_id}/stream/events"
    subscribe = {"id": 2, "method": "subscription.subscribe", "params": {"channels": ["values"]}}
    auth = {
        "id": 1,
        "method": "auth",
        "params": {"headers": {"authorization": "Bearer alice-token"}},
    }

    socket = WebsocketCommunicator(application, path)
    await socket.connect()
    await socket.send_to(text_data=orjson.dumps(auth).decode())
    authenticated = orjson.loads(await socket.receive_from(timeout=5))
    await socket.send_to(text_data=orjson.dumps(subscribe).decode())
    subscribed = orjson.loads(await socket.receive_from(timeout=5))
    await socket.disconnect()

    assert authenticated == {"type": "success", "id": 1, "result": {}}
    assert subscribed["result"]["subscription_id"] == "sub-1"
