"""The periodic sweeps follow the project's sweep intervals."""

from dataclasses import replace

from agentserver.celery import beat_schedule
from apps.graphs.registry import registry


def test_the_project_file_sets_the_sweep_intervals():
    project = replace(
        registry().project,
        store={"ttl": {"sweep_interval_minutes": 2}},
        checkpointer={"ttl": {"sweep_interval_minutes": 3}},
    )
    schedule = beat_schedule(project)
    assert schedule["memory.sweep_expired_items"]["schedule"] == 120.0
    assert schedule["threads.sweep_expired"]["schedule"] == 180.0


def test_without_project_intervals_the_environment_defaults_apply(settings):
    project = replace(registry().project, store=None, checkpointer=None)
    schedule = beat_schedule(project)
    assert (
        schedule["memory.sweep_expired_items"]["schedule"]
        == (settings.CELERY_BEAT_SCHEDULE["memory.sweep_expired_items"]["schedule"])
    )
