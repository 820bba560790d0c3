"""Verbs on crons: create, update, delete, and the scheduler's tick that fires the due ones."""

from __future__ import annotations

import dataclasses
import logging
import uuid
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.core.errors import ApiError, BadRequest, NotFound
from apps.core.fields import validated
from apps.core.reserved import clean_metadata
from apps.crons.models import Cron, OnRunCompleted
from apps.crons.schedules import check_schedule, check_timezone, next_slot
from apps.crons.serializers import RUN_FIELDS
from apps.runs.serializers import RunCreateSerializer, StatelessRunCreateSerializer
from apps.tenancy.models import Membership
from apps.tenancy.principal import Principal
from apps.threads.models import Thread
from apps.webhooks.services import webhook_url_check

logger = logging.getLogger(__name__)

TICK_BATCH = 100  # crons fired per transaction of a tick


def cron_create(
    *, principal: Principal, assistant_id: uuid.UUID, thread: Thread | None, data: dict[str, Any]
) -> Cron:
    """A cron of ``principal``'s tenant that fires ``data``'s run payload on ``thread`` (or on
    a fresh thread each time). Its schedule, time zone and run fields are checked first (422);
    it fires first at the next slot after now."""
    if thread is not None and data.get("on_run_completed") is not None:
        raise BadRequest("on_run_completed applies to stateless crons only (no thread)")
    schedule = check_schedule(data["schedule"])
    zone = check_timezone(data.get("timezone"))
    payload = _run_payload(data, thread=thread)
    _check_run_payload(assistant_id, payload, stateless=thread is None)
    now = timezone.now()
    return Cron.objects.create(
        tenant_id=principal.tenant_id,
        owner=principal.identity,
        principal=principal.to_json(),
        assistant_id=assistant_id,
        thread=thread,
        schedule=schedule,
        timezone=zone,
        payload=payload,
        metadata=clean_metadata(data.get("metadata")),
        enabled=data.get("enabled", True),
        on_run_completed=(data.get("on_run_completed") or OnRunCompleted.DELETE)
        if thread is None
        else None,
        end_time=data.get("end_time"),
        next_run_date=_within_end(next_slot(schedule, zone, now), data.get("end_time")),
    )


def cron_update(*, principal: Principal, cron_id: uuid.UUID, data: dict[str, Any]) -> Cron:
    """Apply a patch: given fields replace, ``metadata`` merges, ``end_time: null`` clears the
    end; a change of schedule, time zone, end or enabled recomputes the next slot from now.
    The cron then acts for ``principal``: whoever configures it last answers for its runs."""
    if not data:
        raise BadRequest("Nothing to update: the body names no cron field")
    with transaction.atomic():
        cron = Cron.objects.select_for_update().filter(pk=cron_id).first()
        if cron is None:
            raise NotFound(f"Cron {cron_id} not found")
        cron.principal, cron.owner = principal.to_json(), principal.identity
        if "on_run_completed" in data and cron.thread_id is not None:
            raise BadRequest("on_run_completed applies to stateless crons only (no thread)")
        if "schedule" in data:
            cron.schedule = check_schedule(data["schedule"])
        if "timezone" in data:
            cron.timezone = check_timezone(data["timezone"])
        if "end_time" in data:
            cron.end_time = data["end_time"]
        if data.get("enabled") is not None:
            cron.enabled = data["enabled"]
        if data.get("metadata") is not None:
            cron.metadata = {**cron.metadata, **clean_metadata(data["metadata"])}
        if data.get("on_run_completed") is not None:
            cron.on_run_completed = data["on_run_completed"]
        changed = {key: value for key, value in data.items() if key in RUN_FIELDS}
        if changed:
            payload = {**cron.payload, **changed}
            payload = {key: value for key, value in payload.items() if value is not None}
            _check_run_payload(cron.assistant_id, payload, stateless=cron.thread_id is None)
            cron.payload = payload
        if {"schedule", "timezone", "end_time", "enabled"} & data.keys():
            cron.next_run_date = _within_end(
                next_slot(cron.schedule, cron.timezone, timezone.now()), cron.end_time
            )
        cron.save()
    return cron


def cron_delete(*, cron_id: uuid.UUID) -> None:
    Cron.objects.filter(pk=cron_id).delete()


def crons_tick(*, now: datetime | None = None) -> int:
    """Fire every cron due at ``now`` once and advance it to its first slot after ``now``;
    returns how many fired.

    A cron is claimed by locking its row (others' locked rows are skipped) and advancing it in
    the transaction that creates its run: two ticks at once, a restarted beat or a slow tick
    never fire a slot twice, and a beat that was down for hours fires each cron once, not
    once per missed slot.
    """
    now = now or timezone.now()
    fired = 0
    while True:
        with transaction.atomic():
            due = list(
                Cron.objects.due(now)
                .select_for_update(skip_locked=True)
                .order_by("next_run_date", "pk")[:TICK_BATCH]
            )
            for cron in due:
                try:
                    with transaction.atomic():
                        fired += _fire(cron, now)
                except Exception:
                    # One broken cron must not hold up the others: it moves on, unfired (or,
                    # if even its schedule is broken, it is disabled).
                    logger.exception("cron %s failed to fire", cron.cron_id)
                    try:
                        _advance(cron, now)
                    except Exception:
                        Cron.objects.filter(pk=cron.pk).update(enabled=False, updated_at=now)
        if len(due) < TICK_BATCH:
            return fired


def _fire(cron: Cron, now: datetime) -> bool:
    """Advance ``cron`` past ``now`` and create its run (inside the caller's transaction; a
    run that cannot be created is logged and the cron still advances)."""
    slot = cron.next_run_date
    _advance(cron, now)
    if cron.end_time is not None and slot > cron.end_time:
        return False
    principal = _acting(cron)
    if principal is None:
        logger.warning("cron %s disabled: its creator may no longer act", cron.cron_id)
        Cron.objects.filter(pk=cron.pk).update(enabled=False, updated_at=now)
        return False
    from apps.runs.services import run_create

    try:
        with transaction.atomic():
            run_create(
                principal=principal,
                thread_id=cron.thread_id,
                payload=_firing(cron),
                stateless=cron.thread_id is None,
            )
    except ApiError as exc:
        logger.warning("cron %s could not start its run: %s", cron.cron_id, exc.detail)
        return False
    return True


def _advance(cron: Cron, now: datetime) -> None:
    cron.next_run_date = _within_end(next_slot(cron.schedule, cron.timezone, now), cron.end_time)
    Cron.objects.filter(pk=cron.pk).update(next_run_date=cron.next_run_date, updated_at=now)


def _acting(cron: Cron) -> Principal | None:
    """The principal a firing acts for: the cron's, with the role its member has now. None
    when that member left the tenant or the user was deactivated (a user of the project's
    own auth is taken as recorded: there is no one to ask)."""
    principal = Principal.from_json(cron.principal)
    if principal.user_id is None:
        return principal
    role = (
        Membership.objects.filter(
            tenant_id=principal.tenant_id, user_id=principal.user_id, user__is_active=True
        )
        .values_list("role", flat=True)
        .first()
    )
    if role is None:
        return None
    return dataclasses.replace(principal, role=role, scopes=("authenticated", role))


def _firing(cron: Cron) -> dict[str, Any]:
    """The run-create payload of one firing: the stored run fields, the cron's metadata under
    the payload's, and ``configurable.cron_id``."""
    raw = {"assistant_id": str(cron.assistant_id), **cron.payload}
    config = raw.get("config") or {}
    raw["config"] = {
        **config,
        "configurable": {**(config.get("configurable") or {}), "cron_id": str(cron.cron_id)},
    }
    raw["metadata"] = {**cron.metadata, **(raw.get("metadata") or {})}
    if cron.thread_id is None:
        raw["on_completion"] = cron.on_run_completed or OnRunCompleted.DELETE
        raw.pop("multitask_strategy", None)
        return validated(StatelessRunCreateSerializer, raw)
    return validated(RunCreateSerializer, raw)


def _run_payload(data: dict[str, Any], *, thread: Thread | None) -> dict[str, Any]:
    payload = {key: data[key] for key in RUN_FIELDS if data.get(key) is not None}
    if thread is None:
        payload.pop("multitask_strategy", None)  # the Python SDK sends it for stateless too
    return payload


def _check_run_payload(assistant_id: uuid.UUID, payload: dict[str, Any], *, stateless: bool):
    """The payload as a run create would check it (a bad field or a webhook the policy
    refuses is a 422 now, not at every firing)."""
    serializer = StatelessRunCreateSerializer if stateless else RunCreateSerializer
    validated(serializer, {"assistant_id": str(assistant_id), **payload})
    if payload.get("webhook"):
        webhook_url_check(payload["webhook"])


def _within_end(slot: datetime, end_time: datetime | None) -> datetime | None:
    return None if end_time is not None and slot > end_time else slot
