"""Sending a delivery to a real receiver on loopback: signed, retried with exponential backoff
on 5xx, timeouts and connection errors, failed at once on 4xx, and checked again before each
attempt."""

from datetime import timedelta

import pytest

from apps.runs.models import RunStatus
from apps.runs.services import run_finish
from apps.webhooks import sender
from apps.webhooks.models import WebhookDelivery
from apps.webhooks.services import deliveries_sweep, delivery_send
from tests.e2e.conftest import free_port
from tests.webhooks.conftest import LOOPBACK_ALLOWED, a_run, claimed, signature_of

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("assistants", "loopback_allowed"),
]


@pytest.fixture(autouse=True)
def _three_attempts(settings):
    settings.AGENTSERVER_WEBHOOK_MAX_ATTEMPTS = 3
    settings.AGENTSERVER_WEBHOOK_BACKOFF_SECONDS = 2


def a_delivery_to(url: str) -> WebhookDelivery:
    """The delivery recorded when a run with this webhook succeeds."""
    run = claimed(a_run(url))
    run_finish(run=run, status=RunStatus.SUCCESS, output={}, error=None, values={"steps": ["a"]})
    return WebhookDelivery.objects.get(run_id=run.run_id)


def attempts_until_settled(delivery: WebhookDelivery) -> list[float | None]:
    """What each attempt asked for (seconds until the next one), until one settles it."""
    waits = [delivery_send(delivery_id=delivery.delivery_id)]
    while waits[-1] is not None:
        waits.append(delivery_send(delivery_id=delivery.delivery_id))
    return waits


def test_a_delivery_posts_the_signed_payload_once(receiver, monkeypatch, use_webhooks):
    monkeypatch.setenv("LG_WEBHOOK_TOKEN", "t0ken")
    use_webhooks(
        {**LOOPBACK_ALLOWED, "headers": {"Authorization": "Bearer ${{env.LG_WEBHOOK_TOKEN}}"}}
    )
    delivery = a_delivery_to(receiver.url())

    assert attempts_until_settled(delivery) == [None]
    assert delivery_send(delivery_id=delivery.delivery_id) is None  # settled: not sent again

    [request] = receiver.requests_to(delivery.url)
    assert signature_of(request)
    assert not signature_of(request, secret="another secret")
    assert request.headers["X-Agentserver-Delivery"] == str(delivery.delivery_id)
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Authorization"] == "Bearer t0ken"
    body = request.json
    assert body["run_id"] == str(delivery.run_id)
    assert body["status"] == "success"
    assert body["values"] == {"steps": ["a"]}
    assert body["webhook_sent_at"] >= body["run_ended_at"]
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_code) == ("succeeded", 1, 200)
    assert delivery.delivered_at is not None


def test_a_5xx_is_retried_with_exponential_backoff(receiver):
    delivery = a_delivery_to(receiver.answer(receiver.url(), 500, 503, 200))

    assert attempts_until_settled(delivery) == [2, 4, None]

    requests = receiver.requests_to(delivery.url)
    assert len(requests) == 3
    assert {r.headers["X-Agentserver-Delivery"] for r in requests} == {str(delivery.delivery_id)}
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("succeeded", 3, "")


def test_a_4xx_fails_at_once(receiver):
    delivery = a_delivery_to(receiver.answer(receiver.url(), 404))

    assert attempts_until_settled(delivery) == [None]

    assert len(receiver.requests_to(delivery.url)) == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("failed", 1)
    assert (delivery.response_code, delivery.last_error) == (404, "HTTP 404")


def test_a_receiver_that_is_down_fails_after_the_last_attempt():
    delivery = a_delivery_to(f"http://127.0.0.1:{free_port()}/hook")

    assert attempts_until_settled(delivery) == [2, 4, None]

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_code) == ("failed", 3, None)
    assert "ConnectError" in delivery.last_error


def test_a_receiver_that_times_out_is_retried(receiver, monkeypatch):
    monkeypatch.setattr(sender, "REQUEST_TIMEOUT_SECONDS", 0.2)
    delivery = a_delivery_to(receiver.hold(receiver.url()))

    assert delivery_send(delivery_id=delivery.delivery_id) == 2

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    assert "ReadTimeout" in delivery.last_error


def test_the_url_is_checked_again_before_sending(receiver, use_webhooks):
    delivery = a_delivery_to(receiver.url())
    use_webhooks(None)  # loopback no longer allowed

    assert attempts_until_settled(delivery) == [None]

    assert receiver.requests_to(delivery.url) == []
    delivery.refresh_from_db()
    assert delivery.status == "failed"
    assert "127.0.0.1, a loopback address" in delivery.last_error


def test_allowed_fields_restrict_the_payload(receiver, use_webhooks):
    use_webhooks({**LOOPBACK_ALLOWED, "allowed_fields": ["run_id", "status", "webhook_sent_at"]})
    delivery = a_delivery_to(receiver.url())

    attempts_until_settled(delivery)

    [request] = receiver.requests_to(delivery.url)
    assert set(request.json) == {"run_id", "status", "webhook_sent_at"}
    assert signature_of(request)


def test_a_header_reading_outside_the_env_prefix_fails_the_delivery(
    receiver, monkeypatch, use_webhooks
):
    monkeypatch.setenv("DATABASE_PASSWORD", "hunter2")
    use_webhooks({**LOOPBACK_ALLOWED, "headers": {"X-Leak": "${{ env.DATABASE_PASSWORD }}"}})
    delivery = a_delivery_to(receiver.url())

    assert attempts_until_settled(delivery) == [None]

    assert receiver.requests_to(delivery.url) == []
    delivery.refresh_from_db()
    assert delivery.status == "failed"
    assert "does not start with webhooks.env_prefix (LG_WEBHOOK_)" in delivery.last_error


def test_webhooks_disabled_after_the_run_ended_are_not_sent(receiver, use_webhooks):
    delivery = a_delivery_to(receiver.url())
    use_webhooks(LOOPBACK_ALLOWED, http={"disable_webhooks": True})

    assert attempts_until_settled(delivery) == [None]

    assert receiver.requests_to(delivery.url) == []
    delivery.refresh_from_db()
    assert delivery.status == "failed"
    assert "disable_webhooks" in delivery.last_error


def test_a_delivery_whose_message_was_lost_is_sent_by_the_sweeper(receiver):
    delivery = a_delivery_to(receiver.url())
    long_after = delivery.updated_at + timedelta(hours=1)

    assert deliveries_sweep(now=delivery.updated_at) == 0  # fresh: its message is on its way
    assert deliveries_sweep(now=long_after) == 1
    attempts_until_settled(delivery)

    assert len(receiver.requests_to(delivery.url)) == 1
    assert deliveries_sweep(now=long_after) == 0  # settled
