"""Operators see and edit crons in the admin; a bad schedule there is refused as in the API."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from apps.crons.models import Cron
from apps.crons.services import cron_create
from apps.graphs.registry import default_assistant_id
from apps.graphs.services import assistants_sync_defaults
from apps.tenancy.models import AuditEntry
from apps.tenancy.principal import local_principal

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def cron() -> Cron:
    assistants_sync_defaults()
    return cron_create(
        principal=local_principal(),
        assistant_id=default_assistant_id("agent"),
        thread=None,
        data={"schedule": "0 9 * * *"},
    )


@pytest.fixture
def operator() -> Client:
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("ops", password="pw"))
    return client


def form(cron: Cron, **changes) -> dict:
    return {
        "schedule": cron.schedule,
        "timezone": cron.timezone or "",
        "enabled": "on",
        "end_time_0": "",
        "end_time_1": "",
        "on_run_completed": cron.on_run_completed,
        "payload": "{}",
        "metadata": "{}",
        **changes,
    }


def test_an_operator_changes_a_schedule_and_the_next_run_follows(cron, operator):
    response = operator.post(
        f"/admin/crons/cron/{cron.pk}/change/", form(cron, schedule="30 6 * * *")
    )

    cron.refresh_from_db()
    assert response.status_code == 302
    assert (cron.schedule, cron.next_run_date.hour, cron.next_run_date.minute) == (
        "30 6 * * *",
        6,
        30,
    )
    assert AuditEntry.objects.filter(action="admin.change", target_id=str(cron.pk)).exists()


def test_a_bad_schedule_in_the_admin_is_refused(cron, operator):
    response = operator.post(f"/admin/crons/cron/{cron.pk}/change/", form(cron, schedule="nope"))

    assert response.status_code == 200
    assert "Invalid cron schedule" in response.content.decode()
    cron.refresh_from_db()
    assert cron.schedule == "0 9 * * *"
