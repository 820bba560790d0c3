"""The Celery application: broker from ``REDIS_URL`` (or in-memory), tasks from each app."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentserver.settings")

app = Celery("agentserver")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def beat_schedule(project) -> dict:
    """The periodic tasks, with the sweep intervals the project file sets
    (``store.ttl.sweep_interval_minutes``, ``checkpointer.ttl.sweep_interval_minutes``)
    overriding the environment's defaults."""
    from django.conf import settings

    schedule = {name: dict(entry) for name, entry in settings.CELERY_BEAT_SCHEDULE.items()}
    overrides = {
        "memory.sweep_expired_items": ((project.store or {}).get("ttl") or {}),
        "threads.sweep_expired": ((project.checkpointer or {}).get("ttl") or {}),
    }
    for name, ttl in overrides.items():
        if ttl.get("sweep_interval_minutes"):
            schedule[name]["schedule"] = 60.0 * float(ttl["sweep_interval_minutes"])
    return schedule
