"""The API's middleware chain is async all the way; the admin keeps sessions, CSRF and auth."""

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connections
from django.test import AsyncClient, Client

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
async def _close_the_asgi_threads_connection():
    """The ASGI handler runs sync code on asgiref's shared thread; close the connection it
    opened there, or the test database cannot be dropped at the end."""
    yield
    await sync_to_async(connections.close_all)()


async def test_an_api_request_over_asgi_sets_no_session_or_csrf_cookie():
    response = await AsyncClient().get("/ok")

    assert response.status_code == 200
    assert not response.cookies


async def test_an_oversized_body_over_asgi_is_a_413_before_any_view_reads_it(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    response = await AsyncClient().post(
        "/threads", {"metadata": {"x": "y" * 200}}, content_type="application/json"
    )

    assert response.status_code == 413
    assert response.json() == {"detail": "Request body too large"}


async def test_the_admin_login_page_over_asgi_gets_its_csrf_cookie():
    response = await AsyncClient().get(f"{settings.ADMIN_PREFIX}login/")

    assert response.status_code == 200
    assert "csrftoken" in response.cookies


def test_a_staff_user_logs_in_to_the_admin_with_a_session():
    get_user_model().objects.create_superuser("operator", password="s3cret-pass")
    client = Client(enforce_csrf_checks=True)
    login_page = client.get(f"{settings.ADMIN_PREFIX}login/")
    token = login_page.cookies["csrftoken"].value

    response = client.post(
        f"{settings.ADMIN_PREFIX}login/",
        {"username": "operator", "password": "s3cret-pass", "csrfmiddlewaretoken": token},
    )

    assert response.status_code == 302
    assert "sessionid" in response.cookies
    assert client.get(settings.ADMIN_PREFIX).status_code == 200


def test_an_admin_post_without_a_csrf_token_is_refused():
    response = Client(enforce_csrf_checks=True).post(
        f"{settings.ADMIN_PREFIX}login/", {"username": "x", "password": "y"}
    )

    assert response.status_code == 403
