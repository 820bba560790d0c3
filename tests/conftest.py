import uuid
from pathlib import Path

import pytest
import redis

from apps.core.dbthreads import db_threads
from apps.graphs.config import load_project
from apps.graphs.registry import use_project

PROJECT = Path(__file__).parent / "project" / "langgraph.json"


@pytest.fixture(scope="session", autouse=True)
def _test_project():
    """In-process tests serve the graphs of tests/project."""
    use_project(load_project(PROJECT))


@pytest.fixture(scope="session", autouse=True)
def _private_celery_queue():
    """The runs that in-process tests dispatch go to a queue of this session, deleted at its
    end: no worker takes them, and Redis is shared with the next runs of the suite."""
    from django.conf import settings

    from agentserver.celery import app

    queue = f"test-unit-{uuid.uuid4().hex[:10]}"
    app.conf.task_default_queue = queue
    yield
    if settings.REDIS_URL:
        with redis.Redis.from_url(settings.REDIS_URL) as client:
            client.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")


@pytest.fixture(scope="session", autouse=True)
def _close_database_threads(django_db_setup, django_db_blocker):
    """The adapters' database threads hold connections; close them before the test database
    is dropped (PostgreSQL refuses to drop a database that has sessions)."""
    yield
    db_threads().close()


@pytest.fixture(autouse=True)
def _authentication_off(settings):
    """Tests act as the default tenant's owner (``AGENTSERVER_AUTH=none``) unless they turn
    authentication on (tests/tenancy)."""
    settings.AGENTSERVER_AUTH = "none"


@pytest.fixture
def api():
    """An in-process API client (DRF's test client: real URL conf, views and database)."""
    from rest_framework.test import APIClient

    return APIClient()
