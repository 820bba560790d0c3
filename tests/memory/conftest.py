from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.core.dbthreads import db_threads
from apps.graphs.registry import registry, use_project
from apps.memory.models import StoreItem, StoreVector
from apps.memory.store import DjangoStore, get_store
from apps.tenancy.models import DEFAULT_TENANT_ID, Tenant
from tests.memory.embeddings import DIMS, embed


@pytest.fixture(autouse=True)
def default_tenant(transactional_db) -> Tenant:
    """The default tenant (made again after each transactional test's flush by the tenancy
    app's post_migrate seeding); the stores of these tests are bound to it unless they say
    otherwise."""
    return Tenant.objects.get(tenant_id=DEFAULT_TENANT_ID)


@pytest.fixture
def other_tenant() -> Tenant:
    return Tenant.objects.create(slug="other", name="Other")


@pytest.fixture
def store() -> DjangoStore:
    return DjangoStore().for_tenant(DEFAULT_TENANT_ID)


@pytest.fixture
def indexed_store() -> DjangoStore:
    """A store that embeds the "text" field of every item with the character-count model."""
    return DjangoStore(index={"dims": DIMS, "embed": embed, "fields": ["text"]}).for_tenant(
        DEFAULT_TENANT_ID
    )


@pytest.fixture
def use_store_config():
    """Serve a project whose ``store`` section is ``config`` (and optionally whose folder is
    ``root``) for the test; return its store bound to the default tenant."""
    original = registry().project

    def use(config: dict | None, *, root: Path | None = None) -> DjangoStore:
        use_project(replace(original, store=config, root=root or original.root))
        return get_store(DEFAULT_TENANT_ID)

    yield use
    use_project(original)


def row(
    namespace: tuple[str, ...], key: str, *, tenant_id: uuid.UUID = DEFAULT_TENANT_ID
) -> StoreItem:
    return StoreItem.objects.get(tenant_id=tenant_id, prefix=".".join(namespace), key=key)


def vector_count(namespace: tuple[str, ...], key: str) -> int:
    return StoreVector.objects.filter(
        item__tenant_id=DEFAULT_TENANT_ID, item__prefix=".".join(namespace), item__key=key
    ).count()


def expire(
    namespace: tuple[str, ...],
    key: str,
    *,
    minutes_ago: float = 1,
    tenant_id: uuid.UUID = DEFAULT_TENANT_ID,
) -> None:
    """Move an item's expiry into the past (the clock is the edge we fake)."""
    StoreItem.objects.filter(tenant_id=tenant_id, prefix=".".join(namespace), key=key).update(
        expires_at=timezone.now() - timedelta(minutes=minutes_ago)
    )


def queries_of(call) -> tuple[object, int]:
    """Run ``call`` on a database thread (as the store does) and count its SQL statements."""

    def counted():
        with CaptureQueriesContext(connection) as captured:
            result = call()
        return result, len(captured.captured_queries)

    return db_threads().run(counted)
