"""The cron endpoints as the reference defines them, with clear 4xx for bad input."""

import uuid

import pytest

from apps.crons.models import Cron
from apps.graphs.registry import default_assistant_id
from apps.graphs.services import assistants_sync_defaults
from apps.tenancy.models import DEFAULT_TENANT_ID
from apps.threads.models import Thread

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _default_assistants():
    assistants_sync_defaults()


def create(api, path="/runs/crons", **fields):
    body = {"assistant_id": "agent", "schedule": "*/5 * * * *", **fields}
    return api.post(path, body, format="json")


def test_a_stateless_cron_is_created_with_its_next_run_and_payload(api):
    response = create(
        api, input={"messages": []}, metadata={"team": "ops"}, timezone="Europe/Paris"
    )

    cron = response.json()
    assert response.status_code == 200
    assert cron["assistant_id"] == str(default_assistant_id("agent"))
    assert cron["thread_id"] is None
    assert cron["on_run_completed"] == "delete"
    assert cron["enabled"] is True
    assert cron["timezone"] == "Europe/Paris"
    assert cron["payload"]["input"] == {"messages": []}
    assert cron["metadata"] == {"team": "ops"}
    assert cron["next_run_date"].endswith("Z") or "+00:00" in cron["next_run_date"]
    assert cron["user_id"] == "local"


def test_a_thread_cron_runs_on_its_thread(api):
    thread = Thread.objects.create(tenant_id=DEFAULT_TENANT_ID)

    cron = create(api, f"/threads/{thread.pk}/runs/crons", multitask_strategy="reject").json()

    assert cron["thread_id"] == str(thread.pk)
    assert cron["on_run_completed"] is None
    assert cron["payload"]["multitask_strategy"] == "reject"


@pytest.mark.parametrize(
    ("fields", "status", "named"),
    [
        ({"schedule": "61 * * * *"}, 422, "Invalid cron schedule '61 * * * *'"),
        ({"schedule": "* * * *"}, 422, "expected 5 fields"),
        ({"schedule": "0 0 * * * *"}, 422, "expected 5 fields"),
        ({"schedule": "every day"}, 422, "Invalid cron schedule"),
        ({"timezone": "Mars/Olympus"}, 422, "Invalid timezone 'Mars/Olympus'"),
        ({"assistant_id": "nope"}, 422, "Invalid assistant_id"),
        ({"assistant_id": str(uuid.uuid4())}, 404, "not found"),
        ({"stream_mode": "telepathy"}, 422, "stream_mode"),
        ({"input": {"a": 1}, "config": {"configurable": {}}, "end_time": "soon"}, 422, "end_time"),
    ],
)
def test_a_bad_cron_is_refused_naming_the_problem(api, fields, status, named):
    response = create(api, **fields)

    assert response.status_code == status
    assert named in response.json()["detail"]
    assert not Cron.objects.exists()


def test_on_run_completed_is_for_stateless_crons_only(api):
    thread = Thread.objects.create(tenant_id=DEFAULT_TENANT_ID)

    response = create(api, f"/threads/{thread.pk}/runs/crons", on_run_completed="keep")

    assert response.status_code == 400


def test_a_cron_on_an_unknown_thread_is_a_404(api):
    assert create(api, f"/threads/{uuid.uuid4()}/runs/crons").status_code == 404


def test_search_count_get_update_and_delete(api):
    first = create(api, metadata={"n": 1}).json()
    create(api, metadata={"n": 2}, enabled=False)

    found = api.post("/runs/crons/search", {"metadata": {"n": 1}}, format="json")
    disabled = api.post(
        "/runs/crons/search", {"enabled": False, "select": ["cron_id"]}, format="json"
    )
    count = api.post("/runs/crons/count", {}, format="json")
    patched = api.patch(
        f"/runs/crons/{first['cron_id']}",
        {"schedule": "0 9 * * 1", "metadata": {"m": 2}, "enabled": False},
        format="json",
    )

    assert [c["cron_id"] for c in found.json()] == [first["cron_id"]]
    assert list(disabled.json()[0]) == ["cron_id"]
    assert count.json() == 2
    assert patched.json()["schedule"] == "0 9 * * 1"
    assert patched.json()["metadata"] == {"n": 1, "m": 2}
    assert patched.json()["enabled"] is False
    assert api.get(f"/runs/crons/{first['cron_id']}").json()["schedule"] == "0 9 * * 1"
    assert api.delete(f"/runs/crons/{first['cron_id']}").status_code == 204
    assert api.get(f"/runs/crons/{first['cron_id']}").status_code == 404


def test_an_explicit_null_end_time_clears_it_and_an_absent_one_keeps_it(api):
    cron = create(api, end_time="2099-01-01T00:00:00Z").json()
    url = f"/runs/crons/{cron['cron_id']}"

    kept = api.patch(url, {"schedule": "0 * * * *"}, format="json").json()
    cleared = api.patch(url, {"end_time": None}, format="json").json()

    assert kept["end_time"].startswith("2099-01-01")
    assert cleared["end_time"] is None


def test_an_empty_patch_and_a_bad_schedule_patch_change_nothing(api):
    cron = create(api).json()
    url = f"/runs/crons/{cron['cron_id']}"

    assert api.patch(url, {}, format="json").status_code == 400
    assert api.patch(url, {"schedule": "nonsense"}, format="json").status_code == 422
    assert api.get(url).json()["schedule"] == "*/5 * * * *"


def test_a_cron_that_ended_has_no_next_run(api):
    cron = create(api, end_time="2001-01-01T00:00:00Z").json()

    assert cron["next_run_date"] is None


def test_info_reports_crons(api):
    assert api.get("/info").json()["flags"]["crons"] is True


def test_a_cron_with_a_webhook_the_policy_refuses_is_refused_at_once(api):
    response = create(api, webhook="http://169.254.169.254/latest/meta-data")

    assert response.status_code == 422
    assert "169.254.169.254" in response.json()["detail"]
    assert not Cron.objects.exists()


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"schedule": "0 0 31 2 *"}, "it matches no date"),
        ({"webhook": "http://xn--a.com/"}, "Invalid webhook URL"),
    ],
)
def test_a_schedule_or_webhook_that_can_never_work_is_a_422(api, fields, named):
    response = create(api, **fields)

    assert response.status_code == 422
    assert named in response.json()["detail"]
