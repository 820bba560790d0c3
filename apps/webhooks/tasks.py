"""Celery task of webhooks: a delivery id in, one service call."""

import uuid

from celery import shared_task

from apps.webhooks.services import deliveries_sweep, delivery_send


@shared_task(bind=True, name="webhooks.deliver", max_retries=None)
def deliver(self, delivery_id: str) -> None:
    """Make the next attempt of a webhook delivery; retry later (Celery's own retry, with the
    service's backoff) while it asks to. The service bounds the attempts and ignores a
    duplicate or late message, so redelivery is harmless."""
    retry_in = delivery_send(delivery_id=uuid.UUID(delivery_id))
    if retry_in is not None:
        raise self.retry(countdown=retry_in)


@shared_task(name="webhooks.sweep")
def sweep() -> int:
    """Beat: re-dispatch deliveries whose message was lost."""
    return deliveries_sweep()
