"""The admin shows operators what their model and object permissions allow, and records
their changes in the audit log."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client
from guardian.shortcuts import assign_perm

from apps.graphs.models import Assistant
from apps.graphs.services import assistant_create, assistants_sync_defaults
from apps.runs.models import Run
from apps.runs.services import run_create
from apps.tenancy.models import ApiKey, AuditEntry, Membership, Tenant
from apps.tenancy.principal import local_principal
from apps.threads.services import thread_create

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _default_assistants():
    assistants_sync_defaults()


def staff(username: str, *perms: str) -> Client:
    user = get_user_model().objects.create_user(username, password="pw", is_staff=True)
    for perm in perms:
        app_label, codename = perm.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    client = Client()
    client.force_login(user)
    return client


def a_run() -> Run:
    thread = thread_create(principal=local_principal())
    return run_create(
        principal=local_principal(),
        thread_id=thread.thread_id,
        payload={"assistant_id": "agent", "after_seconds": 3600},
    )


def test_an_operator_without_permissions_sees_no_runs():
    a_run()

    assert staff("nobody").get("/admin/runs/run/").status_code == 403


def test_an_object_permission_shows_exactly_that_run():
    granted, hidden = a_run(), a_run()
    operator = get_user_model().objects.create_user("op", password="pw", is_staff=True)
    assign_perm("runs.view_run", operator, granted)
    client = Client()
    client.force_login(operator)

    page = client.get("/admin/runs/run/").content.decode()

    assert str(granted.run_id) in page
    assert str(hidden.run_id) not in page
    assert client.get(f"/admin/runs/run/{hidden.run_id}/change/").status_code in (302, 403)


def test_changing_an_assistant_in_the_admin_is_audited():
    assistant = assistant_create(principal=local_principal(), graph_id="agent", name="old")
    client = staff("ops", "graphs.view_assistant", "graphs.change_assistant")

    response = client.post(
        f"/admin/graphs/assistant/{assistant.assistant_id}/change/",
        {
            "tenant": str(assistant.tenant_id),
            "owner": "",
            "graph_id": "agent",
            "name": "new",
            "description": "",
            "config": "{}",
            "context": "{}",
            "metadata": "{}",
            "versions-TOTAL_FORMS": "0",
            "versions-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 302, re.findall(
        r"errorlist[^>]*>(.*?)</ul>", response.content.decode(), re.S
    )
    entry = AuditEntry.objects.get(action="admin.change")
    assert (entry.actor, entry.target_id) == ("ops", str(assistant.assistant_id))


def test_an_api_key_made_in_the_admin_is_shown_once_and_stored_as_a_digest():
    tenant = Tenant.objects.create(slug="acme", name="Acme")
    user = get_user_model().objects.create_user("alice")
    membership = Membership.objects.create(tenant=tenant, user=user, role="member")
    client = staff(
        "keeper",
        "tenancy.add_apikey",
        "tenancy.view_apikey",
        "tenancy.change_apikey",
        "tenancy.view_membership",  # to make keys for others' memberships
    )

    response = client.post(
        "/admin/tenancy/apikey/add/",
        {"membership": membership.pk, "name": "laptop", "expires_at": ""},
        follow=True,
    )

    key = re.search(r"as_[0-9a-f]{12}_[A-Za-z0-9_-]{43}", response.content.decode()).group(0)
    row = ApiKey.objects.get()
    assert key.startswith(f"as_{row.prefix}_")
    assert key not in row.digest
    assert AuditEntry.objects.filter(action="api_key.create", actor="keeper").count() == 1


def test_an_object_permission_cannot_move_an_assistant_to_another_tenant():
    acme = Tenant.objects.create(slug="acme", name="Acme")
    globex = Tenant.objects.create(slug="globex", name="Globex")
    assistant = assistant_create(principal=local_principal(), graph_id="agent", name="mine")
    Assistant.objects.filter(pk=assistant.pk).update(tenant=acme)
    operator = get_user_model().objects.create_user("op", password="pw", is_staff=True)
    assign_perm("graphs.change_assistant", operator, assistant)
    client = Client()
    client.force_login(operator)

    client.post(
        f"/admin/graphs/assistant/{assistant.assistant_id}/change/",
        {
            "tenant": str(globex.pk),
            "owner": "",
            "graph_id": "agent",
            "name": "renamed",
            "description": "",
            "config": "{}",
            "context": "{}",
            "metadata": "{}",
            "versions-TOTAL_FORMS": "0",
            "versions-INITIAL_FORMS": "0",
        },
    )

    assistant.refresh_from_db()
    assert assistant.name == "renamed"
    assert assistant.tenant_id == acme.pk
