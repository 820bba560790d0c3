"""The scheduler fires each due slot exactly once, whatever the ticks do."""

import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connections

from apps.crons.models import Cron
from apps.crons.services import cron_create, cron_update, crons_tick
from apps.graphs.registry import default_assistant_id
from apps.graphs.services import assistants_sync_defaults
from apps.runs.models import Run
from apps.tenancy.models import DEFAULT_TENANT_ID, Membership, Tenant
from apps.tenancy.principal import Principal, local_principal
from apps.tenancy.services import membership_ensure
from apps.threads.models import Thread

pytestmark = pytest.mark.django_db(transaction=True)

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _default_assistants():
    assistants_sync_defaults()


def every_minute(*, thread=None, **data) -> Cron:
    cron = cron_create(
        principal=local_principal(),
        assistant_id=default_assistant_id("agent"),
        thread=thread,
        data={"schedule": "* * * * *", "input": {"messages": []}, **data},
    )
    Cron.objects.filter(pk=cron.pk).update(next_run_date=T0)
    return Cron.objects.get(pk=cron.pk)


def test_a_due_cron_fires_once_per_slot_and_moves_to_the_next():
    cron = every_minute()

    assert crons_tick(now=T0) == 1
    assert crons_tick(now=T0 + timedelta(seconds=30)) == 0
    assert crons_tick(now=T0 + timedelta(minutes=1)) == 1
    assert Run.objects.count() == 2
    assert Cron.objects.get(pk=cron.pk).next_run_date == T0 + timedelta(minutes=2)


def test_a_beat_down_for_an_hour_fires_each_missed_cron_once():
    every_minute()

    assert crons_tick(now=T0 + timedelta(hours=1, seconds=5)) == 1
    assert Run.objects.count() == 1
    assert Cron.objects.get().next_run_date == T0 + timedelta(hours=1, minutes=1)


def test_two_ticks_at_once_never_fire_a_slot_twice():
    for _ in range(5):
        every_minute()
    fired = []
    start = threading.Barrier(2)

    def tick():
        start.wait()
        try:
            fired.append(crons_tick(now=T0))
        finally:
            connections.close_all()

    ticks = [threading.Thread(target=tick) for _ in range(2)]
    for t in ticks:
        t.start()
    for t in ticks:
        t.join()

    assert sum(fired) == 5
    assert Run.objects.count() == 5


def test_a_disabled_cron_does_not_fire():
    cron = every_minute()
    Cron.objects.filter(pk=cron.pk).update(enabled=False)

    assert crons_tick(now=T0 + timedelta(minutes=5)) == 0


def test_a_cron_past_its_end_time_stops():
    cron = every_minute(end_time=T0 + timedelta(seconds=90))

    assert crons_tick(now=T0) == 1
    assert crons_tick(now=T0 + timedelta(minutes=1)) == 1
    assert Cron.objects.get(pk=cron.pk).next_run_date is None
    assert crons_tick(now=T0 + timedelta(minutes=5)) == 0
    assert Run.objects.count() == 2


def test_a_firing_carries_the_cron_id_its_metadata_and_its_creator():
    cron = every_minute(metadata={"source": "cron"})

    crons_tick(now=T0)

    run = Run.objects.get()
    assert run.kwargs["config"]["configurable"]["cron_id"] == str(cron.cron_id)
    assert run.metadata["source"] == "cron"
    assert run.principal["identity"] == "local"
    assert run.temporary is True  # on_run_completed=delete: the thread goes with the run


def test_a_stateless_cron_that_keeps_its_threads_makes_a_kept_thread_each_time():
    every_minute(on_run_completed="keep")

    crons_tick(now=T0)
    crons_tick(now=T0 + timedelta(minutes=1))

    runs = list(Run.objects.all())
    assert [run.temporary for run in runs] == [False, False]
    assert len({run.thread_id for run in runs}) == 2


def test_a_thread_cron_appends_runs_to_its_thread():
    thread = Thread.objects.create(tenant_id=DEFAULT_TENANT_ID)
    every_minute(thread=thread)

    crons_tick(now=T0)
    crons_tick(now=T0 + timedelta(minutes=1))

    assert set(Run.objects.values_list("thread_id", flat=True)) == {thread.pk}


def test_a_cron_whose_assistant_is_gone_advances_without_a_run():
    cron = every_minute()
    Cron.objects.filter(pk=cron.pk).update(assistant_id="00000000-0000-0000-0000-0000000000aa")

    assert crons_tick(now=T0) == 0
    assert Cron.objects.get(pk=cron.pk).next_run_date == T0 + timedelta(minutes=1)


def test_a_schedule_follows_its_time_zone():
    cron = cron_create(
        principal=local_principal(),
        assistant_id=default_assistant_id("agent"),
        thread=None,
        data={"schedule": "0 9 * * *", "timezone": "America/New_York"},
    )

    local_nine = cron.next_run_date.astimezone(ZoneInfo("America/New_York"))
    assert (local_nine.hour, local_nine.minute) == (9, 0)


def test_a_broken_cron_does_not_hold_up_the_others():
    broken, healthy = every_minute(), every_minute()
    Cron.objects.filter(pk=broken.pk).update(payload=["not", "a", "payload"])

    assert crons_tick(now=T0) == 1
    assert Cron.objects.get(pk=broken.pk).next_run_date == T0 + timedelta(minutes=1)
    assert Run.objects.get().kwargs["config"]["configurable"]["cron_id"] == str(healthy.pk)


def test_a_cron_acts_with_its_creators_current_role_and_stops_when_they_leave():
    member = membership_ensure(
        tenant=Tenant.objects.get(pk=DEFAULT_TENANT_ID), username="ada", role="admin", actor="t"
    )
    creator = Principal(
        tenant_id=DEFAULT_TENANT_ID, identity="ada", role="admin", user_id=member.user_id
    )
    cron = cron_create(
        principal=creator,
        assistant_id=default_assistant_id("agent"),
        thread=None,
        data={"schedule": "* * * * *", "input": {}},
    )
    Cron.objects.filter(pk=cron.pk).update(next_run_date=T0)
    Membership.objects.filter(pk=member.pk).update(role="member")

    crons_tick(now=T0)
    member.delete()
    crons_tick(now=T0 + timedelta(minutes=1))

    assert Run.objects.get().principal["role"] == "member"
    assert Cron.objects.get(pk=cron.pk).enabled is False


def test_whoever_changes_a_cron_answers_for_its_runs(api):
    cron = every_minute()
    editor = Principal(tenant_id=DEFAULT_TENANT_ID, identity="bob", role="owner", kind="local")

    cron_update(principal=editor, cron_id=cron.pk, data={"input": {"messages": []}})

    assert Cron.objects.get(pk=cron.pk).principal["identity"] == "bob"
