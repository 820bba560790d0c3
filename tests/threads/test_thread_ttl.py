"""Thread TTL: the sweeper applies each expired thread's strategy."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.tenancy.principal import local_principal
from apps.threads.models import Thread
from apps.threads.services import thread_create, thread_update_state, threads_sweep_expired
from apps.threads.state import checkpointer

LOCAL = local_principal()

pytestmark = pytest.mark.django_db(transaction=True)


def history_length(thread: Thread) -> int:
    return len(list(checkpointer().list({"configurable": {"thread_id": str(thread.thread_id)}})))


def test_an_expired_thread_is_deleted_with_its_checkpoints():
    thread = thread_create(
        principal=LOCAL, metadata={"graph_id": "nested"}, ttl={"ttl": 1, "strategy": "delete"}
    )
    thread_update_state(thread_id=thread.thread_id, values={"steps": ["a"]}, as_node="child")
    assert history_length(thread) == 1

    assert threads_sweep_expired(now=timezone.now()) == 0
    assert threads_sweep_expired(now=timezone.now() + timedelta(minutes=2)) == 1
    assert not Thread.objects.filter(pk=thread.pk).exists()
    assert history_length(thread) == 0


def test_keep_latest_prunes_history_and_restarts_the_clock():
    thread = thread_create(
        principal=LOCAL, metadata={"graph_id": "nested"}, ttl={"ttl": 1, "strategy": "keep_latest"}
    )
    for step in ("a", "b", "c"):
        thread_update_state(thread_id=thread.thread_id, values={"steps": [step]}, as_node="child")
    later = timezone.now() + timedelta(minutes=2)

    assert threads_sweep_expired(now=later) == 1
    assert history_length(thread) == 1
    thread.refresh_from_db()
    assert thread.expires_at > later


def test_the_project_default_ttl_applies_when_none_is_given(settings):
    from apps.graphs.config import load_project
    from apps.graphs.registry import registry, use_project
    from tests.conftest import PROJECT

    project = load_project(PROJECT)
    use_project(type(project)(**{**project.__dict__, "checkpointer": {"ttl": {"default_ttl": 10}}}))
    try:
        thread = thread_create(principal=LOCAL)
        assert thread.ttl_minutes == 10
        assert thread.ttl_strategy == "delete"
    finally:
        use_project(project)
    assert registry().project.checkpoint_ttl.get("default_ttl") is None
