"""Bad credentials of every shape are a 401 that names the problem, and write nothing."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from rest_framework.test import APIClient

from apps.tenancy.models import ApiKey
from apps.tenancy.services import api_key_revoke
from apps.threads.models import Thread
from tests.tenancy.conftest import make_caller

pytestmark = pytest.mark.django_db(transaction=True)


def post_thread(headers: dict) -> tuple[int, dict]:
    response = APIClient().post("/threads", {}, format="json", headers=headers)
    return response.status_code, response.json()


@pytest.mark.parametrize(
    ("headers", "detail"),
    [
        ({}, "Missing API key"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "Malformed Authorization header"),
        ({"Authorization": "Bearer"}, "Malformed Authorization header"),
        ({"x-api-key": "not-a-key"}, "Invalid API key"),
        ({"x-api-key": "as_0123456789ab_" + "A" * 43}, "Invalid API key"),
        ({"x-api-key": "as_" + "x" * 8000}, "Invalid API key"),
        ({"x-api-key": "as_0123456789ab_" + "é" * 43}, "Invalid API key"),
    ],
)
def test_a_request_without_a_valid_key_is_a_401_and_writes_nothing(headers, detail):
    status, body = post_thread(headers)

    assert status == 401
    assert body["detail"].startswith(detail)
    assert not Thread.objects.exists()


def test_an_expired_key_is_refused():
    caller = make_caller("acme", "alice", "member")
    ApiKey.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    assert post_thread({"x-api-key": caller.key}) == (401, {"detail": "API key expired"})


def test_a_revoked_key_is_refused_at_once():
    caller = make_caller("acme", "alice", "member")
    assert caller.api.post("/threads", {}, format="json").status_code == 200

    api_key_revoke(api_key=ApiKey.objects.get(), actor="test")

    assert post_thread({"x-api-key": caller.key}) == (401, {"detail": "API key revoked"})
    assert Thread.objects.count() == 1


def test_the_key_of_a_deactivated_user_is_refused():
    caller = make_caller("acme", "alice", "member")
    get_user_model().objects.filter(username="alice").update(is_active=False)

    status, _ = post_thread({"x-api-key": caller.key})

    assert status == 401


def test_a_key_with_one_character_changed_is_refused():
    caller = make_caller("acme", "alice", "member")
    forged = caller.key[:-1] + ("A" if caller.key[-1] != "A" else "B")

    assert post_thread({"x-api-key": forged}) == (401, {"detail": "Invalid API key"})


def test_a_valid_key_works_as_x_api_key_or_bearer_and_marks_the_key_used():
    caller = make_caller("acme", "alice", "member")

    assert post_thread({"x-api-key": caller.key})[0] == 200
    assert post_thread({"Authorization": f"Bearer {caller.key}"})[0] == 200
    assert ApiKey.objects.get().last_used_at is not None


def test_only_the_digest_of_a_key_is_stored():
    caller = make_caller("acme", "alice", "member")
    row = ApiKey.objects.get()

    assert caller.key.startswith(f"as_{row.prefix}_")
    assert caller.key not in (row.digest, row.name, row.prefix)


def test_the_meta_endpoints_and_docs_need_no_key():
    client = APIClient()

    for path in ("/ok", "/info", "/openapi.json"):
        assert client.get(path).status_code == 200, path


def test_a_401_tells_the_client_how_to_authenticate():
    response = APIClient().get("/threads/00000000-0000-0000-0000-000000000000")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
