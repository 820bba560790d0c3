"""The scheduler's periodic task (Celery beat runs it every AGENTSERVER_CRON_TICK_SECONDS)."""

from __future__ import annotations

from celery import shared_task

from apps.crons.services import crons_tick


@shared_task(name="crons.tick")
def tick() -> int:
    return crons_tick()
