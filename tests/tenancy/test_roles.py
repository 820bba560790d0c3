"""What a role may do is its Django group's permissions, plus guardian object permissions."""

import pytest
from django.contrib.auth.models import Group, Permission
from guardian.shortcuts import assign_perm

from apps.graphs.models import Assistant
from apps.graphs.registry import default_assistant_id
from apps.graphs.services import assistants_sync_defaults
from apps.memory.models import StoreItem
from apps.runs.models import Run
from apps.tenancy.principal import forget_role_permissions
from tests.tenancy.conftest import make_caller

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _default_assistants():
    assistants_sync_defaults()


def test_a_viewer_reads_but_may_not_write():
    owner = make_caller("acme", "olivia", "owner")
    viewer = make_caller("acme", "vera", "viewer")
    thread_id = owner.api.post("/threads", {}, format="json").json()["thread_id"]

    read = viewer.api.get(f"/threads/{thread_id}")
    write = viewer.api.patch(f"/threads/{thread_id}", {"metadata": {"x": 1}}, format="json")

    assert read.status_code == 200
    assert write.status_code == 403
    assert write.json()["detail"] == "Forbidden: your role (viewer) may not change threads"


def test_deploying_an_assistant_takes_an_admin():
    member = make_caller("acme", "max", "member")
    admin = make_caller("acme", "ada", "admin")

    assert member.api.post("/assistants", {"graph_id": "agent"}, format="json").status_code == 403
    assert admin.api.post("/assistants", {"graph_id": "agent"}, format="json").status_code == 200
    assert Assistant.objects.filter(tenant=admin.tenant).count() == 1


def test_an_object_permission_lets_a_member_configure_that_one_assistant():
    admin = make_caller("acme", "ada", "admin")
    member = make_caller("acme", "max", "member")
    mine = admin.api.post("/assistants", {"graph_id": "agent"}, format="json").json()
    other = admin.api.post("/assistants", {"graph_id": "agent"}, format="json").json()
    assign_perm(
        "graphs.change_assistant",
        member.membership.user,
        Assistant.objects.get(pk=mine["assistant_id"]),
    )

    allowed = member.api.patch(
        f"/assistants/{mine['assistant_id']}", {"name": "tuned"}, format="json"
    )
    refused = member.api.patch(
        f"/assistants/{other['assistant_id']}", {"name": "tuned"}, format="json"
    )

    assert allowed.status_code == 200
    assert refused.status_code == 403


def test_a_graphs_default_assistant_belongs_to_the_deployment():
    owner = make_caller("acme", "olivia", "owner")
    default = default_assistant_id("agent")

    assert owner.api.get(f"/assistants/{default}").status_code == 200
    assert (
        owner.api.patch(f"/assistants/{default}", {"name": "x"}, format="json").status_code == 403
    )
    assert owner.api.delete(f"/assistants/{default}").status_code == 403
    assert Assistant.objects.get(pk=default).name != "x"


def test_an_operator_changes_a_roles_policy_by_editing_its_group():
    viewer = make_caller("acme", "vera", "viewer")
    assert viewer.api.post("/threads", {}, format="json").status_code == 403

    Group.objects.get(name="viewer").permissions.add(
        Permission.objects.get(content_type__app_label="threads", codename="add_thread")
    )
    forget_role_permissions()

    assert viewer.api.post("/threads", {}, format="json").status_code == 200


def test_a_run_remembers_who_it_acts_for():
    member = make_caller("acme", "max", "member")
    thread_id = member.api.post("/threads", {}, format="json").json()["thread_id"]

    run_id = member.api.post(
        f"/threads/{thread_id}/runs", {"assistant_id": "agent"}, format="json"
    ).json()["run_id"]

    run = Run.objects.get(pk=run_id)
    assert run.tenant_id == member.tenant.pk
    assert run.owner == "max"
    assert run.principal["identity"] == "max"
    assert run.principal["tenant_id"] == str(member.tenant.pk)


def test_a_store_item_records_who_wrote_it_last():
    alice = make_caller("acme", "alice", "member")
    bob = make_caller("acme", "bob", "member")
    item = {"namespace": ["team"], "key": "plan", "value": {"v": 1}}

    alice.api.put("/store/items", item, format="json")
    first = StoreItem.objects.get().owner
    bob.api.put("/store/items", {**item, "value": {"v": 2}}, format="json")

    assert (first, StoreItem.objects.get().owner) == ("alice", "bob")


def test_a_viewer_may_not_cancel_a_run_by_leaving_a_join():
    member = make_caller("acme", "max", "member")
    viewer = make_caller("acme", "vera", "viewer")
    thread_id = member.api.post("/threads", {}, format="json").json()["thread_id"]
    run_id = member.api.post(
        f"/threads/{thread_id}/runs", {"assistant_id": "agent"}, format="json"
    ).json()["run_id"]

    joins = [
        f"/threads/{thread_id}/runs/{run_id}/join?cancel_on_disconnect=true",
        f"/threads/{thread_id}/runs/{run_id}/stream?cancel_on_disconnect=true",
    ]

    assert [viewer.api.get(path).status_code for path in joins] == [403, 403]


def test_a_viewer_learns_nothing_about_a_webhook_url_it_may_not_use():
    owner = make_caller("acme", "olivia", "owner")
    viewer = make_caller("acme", "vera", "viewer")
    thread_id = owner.api.post("/threads", {}, format="json").json()["thread_id"]

    response = viewer.api.post(
        f"/threads/{thread_id}/runs",
        {"assistant_id": "agent", "webhook": "http://localhost:6379/"},
        format="json",
    )

    assert response.status_code == 403


def test_deleting_an_assistant_with_its_threads_takes_the_right_to_delete_threads():
    admin = make_caller("acme", "ada", "admin")
    viewer = make_caller("acme", "vera", "viewer")
    assistant = admin.api.post("/assistants", {"graph_id": "agent"}, format="json").json()
    assign_perm(
        "graphs.delete_assistant",
        viewer.membership.user,
        Assistant.objects.get(pk=assistant["assistant_id"]),
    )

    response = viewer.api.delete(f"/assistants/{assistant['assistant_id']}?delete_threads=true")

    assert response.status_code == 403
    assert Assistant.objects.filter(pk=assistant["assistant_id"]).exists()
