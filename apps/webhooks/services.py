"""Verbs of webhooks: check a run's webhook URL, record a delivery when a run ends, send it.

Every place a run reaches a terminal status calls ``delivery_create`` in the transaction that
ends it; the delivery is sent after commit by the ``webhooks.deliver`` task, which retries with
exponential backoff on 5xx answers, timeouts and connection errors, up to
``AGENTSERVER_WEBHOOK_MAX_ATTEMPTS`` attempts. Delivery is at least once: a receiver
deduplicates by the delivery id header, which every attempt of a delivery repeats.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from apps.core.encoding import dumps, to_jsonable
from apps.graphs.config import ProjectError
from apps.graphs.services import UNSET
from apps.runs.models import Run
from apps.runs.serializers import run_json
from apps.webhooks import project, sender
from apps.webhooks.models import DeliveryStatus, WebhookDelivery
from apps.webhooks.policy import UrlRefused, UrlUnresolvable, url_check
from apps.webhooks.signing import signed_headers

logger = logging.getLogger(__name__)


def max_attempts() -> int:
    return getattr(settings, "AGENTSERVER_WEBHOOK_MAX_ATTEMPTS", 5)


def backoff_seconds(attempt: int) -> float:
    """The wait after failed attempt number ``attempt``: the base, doubled each time."""
    return getattr(settings, "AGENTSERVER_WEBHOOK_BACKOFF_SECONDS", 2) * 2 ** (attempt - 1)


def webhook_url_check(url: str) -> None:
    """Refuse (UrlRefused, a 422 naming the problem) a webhook URL the project's policy and
    the outbound-safety rules do not allow. Resolves the host: run creation calls it before
    writing anything."""
    url_check(url, policy=project.url_policy())


def wants_webhook(run: Run) -> bool:
    """Whether the end of ``run`` is to be delivered; no query, so finishing a run without a
    webhook costs nothing."""
    return bool((run.kwargs or {}).get("webhook")) and not project.webhooks_disabled()


def runs_with_webhook(runs: QuerySet[Run]) -> list[Run]:
    """The runs of ``runs`` whose end is to be delivered, as whole rows (``delivery_create``
    needs them); no query when the project disables webhooks."""
    if project.webhooks_disabled():
        return []
    return list(runs.exclude(kwargs__webhook=None))


def delivery_create(
    *,
    run: Run,
    status: str,
    ended_at: datetime,
    values: Any = None,
    output: Any = None,
    error: dict[str, Any] | None = None,
) -> WebhookDelivery | None:
    """Record the delivery of ``run``'s end (status ``status``) to its webhook and send it after
    commit. Call it in the transaction that ends the run, after the run's row is written; a
    no-op without a statement when the run has no webhook or the project disables webhooks.

    The payload is captured now, whole, so sending never needs the run (a temporary run is
    gone by then). It is the Run object plus ``status``, ``run_started_at``, ``run_ended_at``,
    ``values`` (the thread's values after the run; for a temporary run its final values
    output; null when the run did not compute them) and ``error`` (the error's message) when
    it failed. A run that is rolled back is deleted and never reaches this function: it gets
    no webhook.
    """
    if not wants_webhook(run):
        return None
    if values is UNSET:
        plain = isinstance(output, dict) and not {"__error__", "__interrupt__"} & output.keys()
        values = output if plain else None
    payload = {
        **run_json(run),
        "status": status,
        "updated_at": ended_at,
        "run_started_at": run.started_at,
        "run_ended_at": ended_at,
        "values": values,
    }
    if error is not None:
        payload["error"] = error.get("message") or error.get("error")
    delivery = WebhookDelivery.objects.create(
        tenant_id=run.tenant_id,
        run_id=run.run_id,
        thread_id=run.thread_id,
        url=run.kwargs["webhook"],
        payload=to_jsonable(payload),
    )
    transaction.on_commit(lambda: delivery_dispatch(delivery_id=delivery.delivery_id))
    return delivery


def delivery_dispatch(*, delivery_id: uuid.UUID) -> None:
    """Send the delivery to the workers. Call after commit."""
    from apps.webhooks.tasks import deliver  # the tasks module imports this one

    deliver.delay(str(delivery_id))


def deliveries_sweep(*, now=None) -> int:
    """Dispatch again the pending deliveries nobody has touched for longer than any retry
    waits (their message was lost: the broker was down at enqueue, or a worker vanished);
    returns how many. A duplicate is harmless: attempts are taken by compare-and-set."""
    now = now or timezone.now()
    quiet = timedelta(seconds=max(300.0, 2 * (backoff_seconds(max_attempts()) + 35)))
    stale = list(
        WebhookDelivery.objects.filter(
            status=DeliveryStatus.PENDING, updated_at__lt=now - quiet
        ).values_list("pk", flat=True)
    )
    for delivery_id in stale:
        delivery_dispatch(delivery_id=delivery_id)
    return len(stale)


def delivery_send(*, delivery_id: uuid.UUID) -> float | None:
    """Make the next attempt of a pending delivery. Returns the seconds to wait before the
    next attempt, or None once the delivery is settled (succeeded or failed) or when it is not
    this caller's to make (already settled, or another worker took this attempt).

    The attempt is taken with a compare-and-set on ``attempts``; no transaction is held while
    the request is in flight. The URL is checked again (policy and addresses) before sending.
    A 2xx succeeds; 5xx, timeouts, connection errors and unresolvable hosts are retried while
    attempts remain; anything else (4xx, a redirect, a refused URL, a broken ``webhooks``
    section) fails at once.
    """
    delivery = WebhookDelivery.objects.filter(pk=delivery_id, status=DeliveryStatus.PENDING).first()
    if delivery is None:
        return None
    attempt = delivery.attempts + 1
    taken = WebhookDelivery.objects.filter(
        pk=delivery_id, status=DeliveryStatus.PENDING, attempts=delivery.attempts
    ).update(attempts=attempt, updated_at=timezone.now())
    if not taken:
        return None
    code, problem, retriable = _attempt(delivery)
    now = timezone.now()
    ours = WebhookDelivery.objects.filter(pk=delivery_id, attempts=attempt)
    if problem is None:
        ours.update(
            status=DeliveryStatus.SUCCEEDED,
            response_code=code,
            last_error="",
            delivered_at=now,
            updated_at=now,
        )
        return None
    if retriable and attempt < max_attempts():
        ours.update(response_code=code, last_error=problem, updated_at=now)
        return backoff_seconds(attempt)
    logger.warning(
        "webhook delivery %s of run %s failed: %s", delivery_id, delivery.run_id, problem
    )
    ours.update(
        status=DeliveryStatus.FAILED, response_code=code, last_error=problem, updated_at=now
    )
    return None


def _attempt(delivery: WebhookDelivery) -> tuple[int | None, str | None, bool]:
    """One POST of ``delivery``: (response code, what went wrong or None, whether to retry)."""
    try:
        if project.webhooks_disabled():
            return None, "Webhooks are disabled (http.disable_webhooks)", False
        target = url_check(delivery.url, policy=project.url_policy())
        body = dumps(_body(delivery.payload, fields=project.allowed_fields()))
        # Ours last: a configured header cannot replace the signature or the content type.
        headers = httpx.Headers(project.configured_headers())
        headers.update({"Content-Type": "application/json", "User-Agent": "agentserver-webhooks"})
        headers.update(
            signed_headers(
                body, delivery_id=str(delivery.delivery_id), timestamp=str(int(time.time()))
            )
        )
    except UrlUnresolvable as exc:
        return None, exc.detail, True
    except UrlRefused as exc:
        return None, exc.detail, False
    except ProjectError as exc:
        return None, f"Invalid webhooks configuration: {exc}", False
    try:
        code = sender.post(target, body=body, headers=headers)
    except httpx.TransportError as exc:
        return None, f"{type(exc).__name__}: {exc or 'no detail'}", True
    if 200 <= code < 300:
        return code, None, False
    return code, f"HTTP {code}", code >= 500


def _body(payload: dict[str, Any], *, fields: list[str] | None) -> dict[str, Any]:
    body = {**payload, "webhook_sent_at": timezone.now()}
    if fields is not None:
        body = {key: value for key, value in body.items() if key in fields}
    return body
