from __future__ import annotations

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
from tests.memory.embeddings import DIMS, embed


@pytest.fixture
def store() -> DjangoStore:
    return DjangoStore()


@pytest.fixture
def indexed_store() -> DjangoStore:
    """A store that embeds the "text" field of every item with the character-count model."""
    return DjangoStore(index={"dims": DIMS, "embed": embed, "fields": ["text"]})


@pytest.fixture
def use_store_config():
    """Serve a project whose ``store`` section is ``config`` (and optionally whose folder is
    ``root``) for the test; get_store() then returns its store."""
    original = registry().project

    def use(config: dict | None, *, root: Path | None = None) -> DjangoStore:
        use_project(replace(original, store=config, root=root or original.root))
        return get_store()

    yield use
    use_project(original)


def row(namespace: tuple[str, ...], key: str) -> StoreItem:
    return StoreItem.objects.get(prefix_id=".".join(namespace), key=key)


def vector_count(namespace: tuple[str, ...], key: str) -> int:
    return StoreVector.objects.filter(item__prefix_id=".".join(namespace), item__key=key).count()


def expire(namespace: tuple[str, ...], key: str, *, minutes_ago: float = 1) -> None:
    """Move an item's expiry into the past (the clock is the edge we fake)."""
    StoreItem.objects.filter(prefix_id=".".join(namespace), key=key).update(
        expires_at=timezone.now() - timedelta(minutes=minutes_ago)
    )


def queries_of(call) -> tuple[object, int]:
    """Run ``call`` on a database thread (as the store does) and count its SQL statements."""

    def counted():
        with CaptureQueriesContext(connection) as captured:
            result = call()
        return result, len(captured.captured_queries)

    return db_threads().run(counted)
