"""The store's database work: one function per verb, called by DjangoStore on a database
thread (see apps.core.dbthreads) and by the sweep task.

Every verb the store calls takes the ``tenant_id`` it is confined to: it reads, writes and
deletes that tenant's rows only. Namespaces arrive as tuples of validated labels (no ``"."``);
items are addressed by ``(prefix, key)`` within the tenant, where ``prefix`` is the labels
joined with ``"."``.

Namespace rows follow their items: a write adds the row of every namespace it puts into, and
every path that deletes items deletes the namespace rows left empty. Concurrency:
- Deleters lock the namespace rows they may empty (``FOR NO KEY UPDATE``, in id order, so
  two of them cannot deadlock), so of two transactions deleting a namespace's last items the
  second sees the first's deletions and removes the row.
- That lock does not block the ``FOR KEY SHARE`` lock a writer's foreign-key check takes.
  When a writer adds an item to a namespace a deleter is pruning, the deferred foreign key
  fails whichever of the two commits second with an IntegrityError; ``store_items_write``
  and the sweep retry once (every write is idempotent), which re-creates or keeps the row.
SQLite serialises writers (``BEGIN IMMEDIATE``), so none of this can race there.

On PostgreSQL a put batch without deletes or vectors is one statement (the namespace rows
in a CTE), so a lone put costs one round trip.
"""

from __future__ import annotations

import contextlib
import math
import uuid
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import DEFAULT_DB_ALIAS, IntegrityError, connection, connections, models, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from apps.memory import vectors
from apps.memory.filters import (
    NamespaceCondition,
    ValueCondition,
    ValueMatch,
    namespace_scope,
    namespace_text,
)
from apps.memory.models import StoreItem, StoreNamespace, StoreVector

SWEEP_BATCH = 1000
UPSERT_CHUNK = 1000  # rows per upsert statement (9 parameters each; PostgreSQL allows 65535)
ITEM_FIELDS = (
    "tenant",
    "namespace",
    "prefix",
    "key",
    "value",
    "owner",
    "created_at",
    "updated_at",
    "expires_at",
    "ttl_minutes",
)
NAMESPACE_FIELDS = ("namespace_id", "tenant", "prefix", "depth")
UPDATED_FIELDS = ["value", "owner", "updated_at", "expires_at", "ttl_minutes"]


@dataclass(frozen=True)
class ItemWrite:
    """One PutOp after validation. ``value`` None deletes the item. ``vectors`` holds the
    item's ``(field, encoded vector)`` pairs; None leaves its stored vectors as they are."""

    namespace: tuple[str, ...]
    key: str
    value: dict[str, Any] | None
    ttl_minutes: float | None = None
    vectors: list[tuple[str, bytes]] | None = None
    owner: str = ""  # who writes it (the identity of the store's principal)


def store_items_get(
    *,
    tenant_id: uuid.UUID,
    addresses: Sequence[tuple[str, str]],
    omit_expired: bool,
    now: datetime,
) -> dict[tuple[str, str], StoreItem]:
    """The tenant's items at ``(prefix, key)`` addresses, keyed by address; missing ones
    absent."""
    queryset = StoreItem.objects.filter(_addresses(tenant_id, addresses))
    if omit_expired:
        queryset = queryset.filter(_live(now))
    return {(item.prefix, item.key): item for item in queryset}


def store_items_search(
    *,
    tenant_id: uuid.UUID,
    namespace_prefix: tuple[str, ...],
    conditions: Sequence[ValueCondition],
    limit: int,
    offset: int,
    omit_expired: bool,
    now: datetime,
) -> list[StoreItem]:
    """The tenant's items at or under ``namespace_prefix`` (whole labels) matching every
    condition, most recently updated first."""
    queryset = _matching(tenant_id, namespace_prefix, conditions, omit_expired, now)
    return list(queryset.order_by("-updated_at", "prefix", "key")[offset : offset + limit])


def store_items_rank(
    *,
    tenant_id: uuid.UUID,
    namespace_prefix: tuple[str, ...],
    conditions: Sequence[ValueCondition],
    query: Sequence[float],
    limit: int,
    offset: int,
    omit_expired: bool,
    now: datetime,
) -> list[tuple[StoreItem, float | None]]:
    """The tenant's matching items ranked by cosine similarity to the unit vector ``query``,
    an item scoring the best of its vectors; items without vectors follow, unscored, newest
    first. ``offset`` and ``limit`` count items, after that de-duplication.

    Ranks in Python over every matching vector: O(vectors x dims), no pgvector needed.
    """
    candidates = _matching(tenant_id, namespace_prefix, conditions, omit_expired, now)
    best: dict[int, float] = {}
    stored = StoreVector.objects.filter(item__in=candidates.values("pk"))
    for item_id, blob in stored.values_list("item_id", "embedding").iterator(chunk_size=2000):
        score = vectors.similarity(query, blob)
        if score > best.get(item_id, -math.inf):
            best[item_id] = score
    ranked = sorted(best.items(), key=lambda pair: (-pair[1], pair[0]))
    page = ranked[offset : offset + limit]
    rows = StoreItem.objects.in_bulk([item_id for item_id, _ in page])
    results: list[tuple[StoreItem, float | None]] = [
        (rows[item_id], score) for item_id, score in page if item_id in rows
    ]
    wanted = offset + limit - len(ranked)
    if wanted > 0:
        skip = max(0, offset - len(ranked))
        unscored = candidates.filter(~Exists(StoreVector.objects.filter(item=OuterRef("pk"))))
        unscored = unscored.order_by("-updated_at", "prefix", "key")[skip:wanted]
        results += [(item, None) for item in unscored]
    return results


def store_items_refresh_expiry(*, items: Iterable[StoreItem], now: datetime) -> None:
    """Push back the expiry of the given items that have a TTL to ``now`` + their TTL (the
    items a tenant-scoped read returned: they are addressed by primary key)."""
    by_ttl: dict[float, list[int]] = defaultdict(list)
    for item in items:
        if item.ttl_minutes is not None:
            by_ttl[item.ttl_minutes].append(item.pk)
    for ttl_minutes, ids in by_ttl.items():
        StoreItem.objects.filter(pk__in=ids).update(expires_at=now + timedelta(minutes=ttl_minutes))


def store_items_write(*, tenant_id: uuid.UUID, writes: Sequence[ItemWrite], now: datetime) -> None:
    """Apply puts (upserts keeping ``created_at``) and deletes in the tenant, in one
    transaction.

    At most one write per address (the store keeps the last one of a batch). An item's
    vectors are replaced when its write carries vectors and deleted with the item.
    """
    try:
        _write(tenant_id, writes, now)
    except IntegrityError:
        _write(tenant_id, writes, now)


def _write(tenant_id: uuid.UUID, writes: Sequence[ItemWrite], now: datetime) -> None:
    upserts = [write for write in writes if write.value is not None]
    deletes = [(namespace_text(w.namespace), w.key) for w in writes if w.value is None]
    reindexed = [write for write in upserts if write.vectors is not None]
    # A lone PostgreSQL upsert is one statement, atomic by itself in autocommit mode; skipping
    # BEGIN and COMMIT makes a put one round trip.
    lone = (
        connection.vendor == "postgresql"
        and not deletes
        and not reindexed
        and len(upserts) <= UPSERT_CHUNK
    )
    with contextlib.nullcontext() if lone else transaction.atomic():
        if deletes:
            _delete_items(
                StoreItem.objects.filter(_addresses(tenant_id, deletes)),
                {StoreNamespace.row_id(tenant_id, prefix) for prefix, _ in deletes},
            )
        ids = _upsert(tenant_id, upserts, now) if upserts else {}
        if reindexed:
            item_ids = [ids[(namespace_text(w.namespace), w.key)] for w in reindexed]
            StoreVector.objects.filter(item_id__in=item_ids).delete()
            StoreVector.objects.bulk_create(
                StoreVector(tenant_id=tenant_id, item_id=item_id, field=field, embedding=blob)
                for item_id, write in zip(item_ids, reindexed, strict=True)
                for field, blob in write.vectors
            )


def _upsert(
    tenant_id: uuid.UUID, upserts: Sequence[ItemWrite], now: datetime
) -> dict[tuple[str, str], int]:
    """Insert or update the tenant's items (an update keeps ``created_at``) and add the rows
    of their namespaces; return the item ids by ``(prefix, key)``."""
    # Sorted, so concurrent writers lock the same rows in the same order and cannot deadlock.
    namespaces = {
        prefix: StoreNamespace(
            namespace_id=StoreNamespace.row_id(tenant_id, prefix),
            tenant_id=tenant_id,
            prefix=prefix,
            depth=prefix.count(".") + 1,
        )
        for prefix in sorted({namespace_text(write.namespace) for write in upserts})
    }
    rows = sorted(
        (_item_row(namespaces, write, now) for write in upserts), key=lambda r: (r.prefix, r.key)
    )
    if connection.vendor == "postgresql":
        ids = {}
        for start in range(0, len(rows), UPSERT_CHUNK):
            ids.update(_upsert_postgres(rows[start : start + UPSERT_CHUNK], namespaces.values()))
        return ids
    StoreNamespace.objects.bulk_create(namespaces.values(), ignore_conflicts=True)
    saved = StoreItem.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["tenant", "prefix", "key"],
        update_fields=UPDATED_FIELDS,
    )
    return {(row.prefix, row.key): row.pk for row in saved}


def _upsert_postgres(
    rows: Sequence[StoreItem], namespaces: Collection[StoreNamespace]
) -> dict[tuple[str, str], int]:
    """The namespace inserts and the item upserts as one statement (a data-modifying CTE);
    the deferred foreign key is checked at its end, when the namespace rows exist."""
    # The connection itself, not the thread-local proxy: a big batch prepares thousands of
    # parameters, each reading the connection's features and operations.
    db = connections[DEFAULT_DB_ALIAS]
    quote = db.ops.quote_name
    item_fields = [StoreItem._meta.get_field(name) for name in ITEM_FIELDS]
    namespace_fields = [StoreNamespace._meta.get_field(name) for name in NAMESPACE_FIELDS]
    sql = (
        f"WITH namespaces AS (INSERT INTO {quote(StoreNamespace._meta.db_table)}"
        f" ({', '.join(quote(f.column) for f in namespace_fields)})"
        f" VALUES {', '.join(['(%s, %s, %s, %s)'] * len(namespaces))} ON CONFLICT DO NOTHING)"
        f" INSERT INTO {quote(StoreItem._meta.db_table)}"
        f" ({', '.join(quote(f.column) for f in item_fields)})"
        f" VALUES {', '.join(['(' + ', '.join(['%s'] * len(item_fields)) + ')'] * len(rows))}"
        " ON CONFLICT (tenant_id, prefix, key) DO UPDATE SET "
        + ", ".join(f"{quote(name)} = EXCLUDED.{quote(name)}" for name in UPDATED_FIELDS)
        + " RETURNING id, prefix, key"
    )
    params = [
        field.get_db_prep_save(getattr(obj, field.attname), db)
        for objects, fields in ((namespaces, namespace_fields), (rows, item_fields))
        for obj in objects
        for field in fields
    ]
    with db.cursor() as cursor:
        cursor.execute(sql, params)
        return {(prefix, key): item_id for item_id, prefix, key in cursor.fetchall()}


def _item_row(
    namespaces: Mapping[str, StoreNamespace], write: ItemWrite, now: datetime
) -> StoreItem:
    ttl = write.ttl_minutes
    namespace = namespaces[namespace_text(write.namespace)]
    return StoreItem(
        tenant_id=namespace.tenant_id,
        namespace_id=namespace.namespace_id,
        prefix=namespace.prefix,
        key=write.key,
        value=write.value,
        owner=write.owner,
        created_at=now,
        updated_at=now,
        expires_at=now + timedelta(minutes=ttl) if ttl is not None else None,
        ttl_minutes=ttl,
    )


def store_items_delete(*, item_ids: Sequence[int]) -> int:
    """Delete items of any tenant by primary key, with their vectors and the namespaces they
    leave empty (the admin's delete); return how many were deleted."""
    doomed = StoreItem.objects.filter(pk__in=item_ids)
    with transaction.atomic():
        namespace_ids = set(doomed.values_list("namespace_id", flat=True))
        return _delete_items(doomed, namespace_ids)


def _delete_items(doomed: QuerySet[StoreItem], namespace_ids: set[uuid.UUID]) -> int:
    """Delete ``doomed`` items, their vectors, and the namespaces among ``namespace_ids`` they
    leave empty; inside the caller's transaction. Returns the number of items deleted."""
    locked = StoreNamespace.objects.select_for_update(no_key=True).filter(pk__in=namespace_ids)
    list(locked.order_by("pk").values_list("pk", flat=True))
    StoreVector.objects.filter(item__in=doomed.values("pk")).delete()
    deleted, _ = doomed.delete()
    StoreNamespace.objects.filter(pk__in=namespace_ids).filter(
        ~Exists(StoreItem.objects.filter(namespace=OuterRef("pk")))
    ).delete()
    return deleted


def store_items_sweep_expired(
    *, tenant_id: uuid.UUID | None = None, batch_size: int = SWEEP_BATCH
) -> int:
    """Delete every item of the tenant (None: of every tenant, the periodic sweep) whose
    ``expires_at`` has passed, with its vectors and the namespaces it leaves empty; return how
    many items were deleted.

    Works in batches, each its own transaction. On PostgreSQL the batch rows are locked
    (SKIP LOCKED), so a concurrent sweep takes other rows and a concurrent TTL refresh waits
    and then finds the row gone rather than keeping an item whose vectors were deleted.
    """
    now = timezone.now()
    expired = StoreItem.objects.filter(expires_at__lt=now)
    if tenant_id is not None:
        expired = expired.filter(tenant_id=tenant_id)
    deleted = 0
    while True:
        try:
            count = _sweep_batch(expired, batch_size)
        except IntegrityError:  # lost a race with a writer (module docstring); once more
            count = _sweep_batch(expired, batch_size)
        deleted += count
        if count < batch_size:
            return deleted


def _sweep_batch(expired: QuerySet[StoreItem], batch_size: int) -> int:
    with transaction.atomic():
        locked = expired.select_for_update(skip_locked=True).order_by()
        batch = list(locked.values_list("pk", "namespace_id")[:batch_size])
        if not batch:
            return 0
        return _delete_items(
            StoreItem.objects.filter(pk__in=[pk for pk, _ in batch]),
            {namespace_id for _, namespace_id in batch},
        )


def store_namespaces_list(
    *,
    tenant_id: uuid.UUID,
    conditions: Sequence[NamespaceCondition],
    max_depth: int | None,
    limit: int,
    offset: int,
    omit_expired: bool,
    now: datetime,
) -> list[tuple[str, ...]]:
    """The tenant's namespaces matching every condition, sorted by their dotted text (code
    point order), then paged. With ``max_depth`` each is first cut to that many labels and
    duplicates are dropped, which needs every matching namespace (one short row each) in
    Python.

    One hand-written statement: the ORM's query building would cost more than running it.
    """
    namespaces = connection.ops.quote_name(StoreNamespace._meta.db_table)
    where, params = ["n.tenant_id = %s"], [_uuid_param(tenant_id)]
    for condition in conditions:
        sql, condition_params = condition.sql("n.prefix", connection.vendor)
        where.append(f"({sql})")
        params += condition_params
    if omit_expired:
        items = connection.ops.quote_name(StoreItem._meta.db_table)
        where.append(
            f"EXISTS (SELECT 1 FROM {items} i WHERE i.namespace_id = n.namespace_id"
            " AND (i.expires_at IS NULL OR i.expires_at > %s))"
        )
        params.append(connection.ops.adapt_datetimefield_value(now))
    sql = f"SELECT n.prefix FROM {namespaces} n WHERE {' AND '.join(where)} ORDER BY n.prefix"
    if not max_depth:
        sql += " LIMIT %s OFFSET %s"
        params += [limit, offset]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        prefixes = [prefix for (prefix,) in cursor.fetchall()]
    if max_depth:
        heads = sorted({".".join(prefix.split(".")[:max_depth]) for prefix in prefixes})
        prefixes = heads[offset : offset + limit]
    return [tuple(prefix.split(".")) for prefix in prefixes]


def _matching(
    tenant_id: uuid.UUID,
    namespace_prefix: tuple[str, ...],
    conditions: Sequence[ValueCondition],
    omit_expired: bool,
    now: datetime,
) -> QuerySet[StoreItem]:
    queryset = StoreItem.objects.filter(tenant_id=tenant_id)
    if namespace_prefix:
        queryset = queryset.filter(namespace_scope(namespace_prefix))
    if conditions:
        queryset = queryset.filter(*(ValueMatch(condition) for condition in conditions))
    if omit_expired:
        queryset = queryset.filter(_live(now))
    return queryset


def _addresses(tenant_id: uuid.UUID, addresses: Iterable[tuple[str, str]]) -> Q:
    keys_by_prefix: dict[str, list[str]] = defaultdict(list)
    for prefix, key in addresses:
        keys_by_prefix[prefix].append(key)
    condition = Q(pk__in=[])  # no address matches nothing, never everything
    for prefix, keys in keys_by_prefix.items():
        # The tenant in every branch: each is one lookup of the (tenant, prefix, key) index.
        condition |= Q(tenant_id=tenant_id, prefix=prefix, key__in=keys)
    return condition


def _live(now: datetime) -> Q:
    return Q(expires_at__isnull=True) | Q(expires_at__gt=now)


def _uuid_param(value: uuid.UUID) -> object:
    """``value`` as a parameter of hand-written SQL (SQLite stores UUIDs as 32 hex digits)."""
    return models.UUIDField().get_db_prep_value(value, connection)
