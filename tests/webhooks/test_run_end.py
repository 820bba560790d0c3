"""Every way a run ends records one webhook delivery with the run's payload, in the transaction
that ends it; a rolled-back run gets none, and a run without a webhook costs no statement."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.runs.models import Run, RunStatus
from apps.runs.services import UNSET, run_cancel, run_finish, runs_sweep
from apps.tenancy.principal import local_principal
from apps.threads.models import Thread
from apps.webhooks.models import WebhookDelivery
from tests.webhooks.conftest import a_run, claimed

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("assistants", "loopback_allowed"),
]

HOOK = "http://127.0.0.1:9/hook"


def the_delivery_of(run) -> WebhookDelivery:
    [delivery] = WebhookDelivery.objects.filter(run_id=run.run_id)
    return delivery


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (RunStatus.SUCCESS, None),
        (RunStatus.ERROR, {"error": "ValueError", "message": "the node failed on purpose"}),
        (RunStatus.TIMEOUT, {"error": "TimeoutError", "message": "The run exceeded its limit"}),
        (RunStatus.INTERRUPTED, None),
    ],
)
def test_a_finished_run_records_its_payload(status, error):
    run = claimed(a_run(HOOK))

    assert run_finish(
        run=run, status=status, output={"steps": ["agent"]}, error=error, values={"steps": ["a"]}
    )

    delivery = the_delivery_of(run)
    assert (delivery.status, delivery.attempts, delivery.url) == ("pending", 0, HOOK)
    assert delivery.tenant_id == run.tenant_id
    assert delivery.thread_id == run.thread_id
    payload = delivery.payload
    assert payload["run_id"] == str(run.run_id)
    assert payload["thread_id"] == str(run.thread_id)
    assert payload["assistant_id"] == str(run.assistant_id)
    assert payload["status"] == status
    assert payload["kwargs"]["webhook"] == HOOK
    assert payload["values"] == {"steps": ["a"]}
    assert payload["run_started_at"] is not None
    assert payload["run_ended_at"] == payload["updated_at"]
    if error:
        assert payload["error"] == error["message"]
    else:
        assert "error" not in payload


def test_a_run_stopped_at_an_interrupt_is_delivered_as_a_success():
    run = claimed(a_run(HOOK))

    run_finish(
        run=run,
        status=RunStatus.SUCCESS,
        output={"__interrupt__": [{"value": "approve?", "id": "i1"}]},
        error=None,
        values={"request": "deploy"},
        interrupts={"task": [{"value": "approve?", "id": "i1"}]},
        has_next=True,
    )

    assert the_delivery_of(run).payload["status"] == "success"
    assert Thread.objects.get(pk=run.thread_id).status == "interrupted"


def test_a_temporary_run_is_captured_before_its_thread_goes():
    run = claimed(a_run(HOOK, stateless=True))

    run_finish(run=run, status=RunStatus.SUCCESS, output={"steps": ["agent", "finish"]}, error=None)

    assert not Thread.objects.filter(pk=run.thread_id).exists()
    assert not Run.objects.filter(pk=run.run_id).exists()
    payload = the_delivery_of(run).payload
    assert payload["status"] == "success"
    assert payload["values"] == {"steps": ["agent", "finish"]}
    assert payload["thread_id"] == str(run.thread_id)


def test_a_failed_temporary_run_has_no_values_but_its_error():
    run = claimed(a_run(HOOK, stateless=True))
    error = {"error": "ValueError", "message": "boom"}

    run_finish(run=run, status=RunStatus.ERROR, output={"__error__": error}, error=error)

    payload = the_delivery_of(run).payload
    assert (payload["status"], payload["values"], payload["error"]) == ("error", None, "boom")


def test_a_pending_run_cancelled_is_delivered_as_interrupted():
    run = a_run(HOOK, after_seconds=3600)

    run_cancel(
        principal=local_principal(), thread_id=run.thread_id, run_id=run.run_id, action="interrupt"
    )

    payload = the_delivery_of(run).payload
    assert payload["status"] == "interrupted"
    assert payload["run_started_at"] is None
    assert payload["values"] is None


def test_a_pending_run_superseded_by_a_new_one_is_delivered():
    first = a_run(HOOK, after_seconds=3600)

    a_run(None, thread_id=first.thread_id, multitask_strategy="interrupt")

    assert the_delivery_of(first).payload["status"] == "interrupted"


def test_a_run_given_up_by_the_sweeper_is_delivered_as_an_error(settings):
    run = claimed(a_run(HOOK))
    Run.objects.filter(pk=run.run_id).update(
        attempt=settings.AGENTSERVER_RUN_MAX_ATTEMPTS,
        lease_expires_at=timezone.now() - timedelta(seconds=1),
    )

    assert runs_sweep()["failed"] == 1

    payload = the_delivery_of(run).payload
    assert payload["status"] == "error"
    assert "given up" in payload["error"]
    assert payload["values"] is None


def test_a_rolled_back_run_gets_no_webhook():
    running = claimed(a_run(HOOK))
    pending = a_run(HOOK, after_seconds=3600)

    run_finish(run=running, status=RunStatus.INTERRUPTED, output=None, error=None, rolled_back=True)
    run_cancel(
        principal=local_principal(),
        thread_id=pending.thread_id,
        run_id=pending.run_id,
        action="rollback",
    )

    assert not Run.objects.exists()
    assert not WebhookDelivery.objects.exists()


def test_a_fenced_out_attempt_records_nothing():
    run = claimed(a_run(HOOK))
    Run.objects.filter(pk=run.run_id).update(attempt=run.attempt + 1)

    assert not run_finish(run=run, status=RunStatus.SUCCESS, output={}, error=None, values={})
    assert not WebhookDelivery.objects.exists()


def test_finishing_a_run_without_a_webhook_costs_no_statement():
    run = claimed(a_run(None))

    with CaptureQueriesContext(connection) as queries:
        run_finish(run=run, status=RunStatus.SUCCESS, output={}, error=None, values={})

    assert not any("webhook" in query["sql"] for query in queries.captured_queries)
    if connection.vendor == "postgresql":
        assert len(queries) == 1  # the one-statement finish
    assert not WebhookDelivery.objects.exists()


def test_disabled_webhooks_record_nothing(use_webhooks):
    run = claimed(a_run(HOOK))
    pending = a_run(HOOK, after_seconds=3600)
    use_webhooks(http={"disable_webhooks": True})

    run_finish(run=run, status=RunStatus.SUCCESS, output={}, error=None, values=UNSET)
    run_cancel(
        principal=local_principal(),
        thread_id=pending.thread_id,
        run_id=pending.run_id,
        action="interrupt",
    )

    assert not WebhookDelivery.objects.exists()
