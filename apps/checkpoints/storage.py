"""SQL over the checkpoint tables, run on the database threads (``apps.core.dbthreads``).

Functions take and return plain values (ids, ``(type, bytes)`` pairs, JSON-decoded versions
and metadata), never model instances, and never deserialize a value: ``DjangoSaver`` does all
of the (de)serialization on its caller's thread, so a database thread is busy only with I/O.

The hot paths are raw SQL in the dialect PostgreSQL and SQLite share (``ON CONFLICT`` upserts,
row values), prepared once per connection on PostgreSQL (``execute``): a put is one statement
there, so one round trip and one commit in autocommit mode, and get_tuple is one statement on
both. Upserts make every write idempotent, so writers racing on the same keys skip or
overwrite, never raise IntegrityError.
"""

from __future__ import annotations

import contextlib
import functools
import sys
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from itertools import chain
from typing import Any, NamedTuple

import orjson
import psycopg
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.models import QuerySet
from django.db.models.fields.json import KeyTransform

from apps.checkpoints.models import Checkpoint, CheckpointBlob, CheckpointWrite

CHECKPOINTS = Checkpoint._meta.db_table
BLOBS = CheckpointBlob._meta.db_table
WRITES = CheckpointWrite._meta.db_table

TypedBytes = tuple[str, bytes]
Scope = tuple[str, str]  # (thread_id, checkpoint_ns)


class StoredWrite(NamedTuple):
    task_path: str
    task_id: str
    idx: int
    channel: str
    value: TypedBytes


class StoredCheckpoint(NamedTuple):
    """A checkpoint row with the stored values needed to rebuild its ``CheckpointTuple``."""

    thread_id: str
    checkpoint_ns: str
    checkpoint_id: str
    parent_checkpoint_id: str | None
    checkpoint: TypedBytes  # without channel_versions, and with the inline values only
    channel_versions: dict[str, Any]
    metadata: dict[str, Any]
    blobs: dict[str, TypedBytes]  # channel -> its value at this checkpoint's version
    writes: list[StoredWrite]  # in no particular order


# --- writes -------------------------------------------------------------------------------

_CHECKPOINT_COLUMNS = (
    "thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, run_id, type, checkpoint, "
    "channel_versions, metadata"
)
_BLOB_COLUMNS = "thread_id, checkpoint_ns, channel, version, type, blob"
_WRITE_COLUMNS = (
    "thread_id, checkpoint_ns, checkpoint_id, task_id, task_path, idx, channel, type, blob"
)
UNIQUE_KEYS = {
    CHECKPOINTS: "thread_id, checkpoint_ns, checkpoint_id",
    BLOBS: "thread_id, checkpoint_ns, channel, version",
    WRITES: "thread_id, checkpoint_ns, checkpoint_id, task_id, idx",
}


def put_checkpoint(row: Sequence[Any], blobs: Sequence[Sequence[Any]]) -> None:
    """Upsert one checkpoint row (``_CHECKPOINT_COLUMNS``, the two JSON columns as text) and
    insert the blobs of its changed channels (``_BLOB_COLUMNS``), atomically.

    A blob is keyed by its version, so a conflict means the same value is already stored (a
    retried put, a copy): it is skipped. ``blobs`` must be sorted by key so two concurrent puts
    lock shared keys in the same order and cannot deadlock.
    """
    postgres = connection.vendor == "postgresql"
    if not blobs:
        execute(_upsert_sql(postgres), row)
    elif postgres:
        # A data-modifying CTE runs even unreferenced: one statement, so one round trip and
        # one implicit transaction in autocommit mode, like PostgresSaver's pipeline.
        insert = _insert_sql(BLOBS, _BLOB_COLUMNS, len(blobs), "DO NOTHING")
        execute(f"WITH blobs AS ({insert}) {_upsert_sql(postgres)}", [*chain(*blobs), *row])
    else:
        with transaction.atomic():
            _insert(BLOBS, _BLOB_COLUMNS, blobs, "DO NOTHING")
            execute(_upsert_sql(postgres), row)


@functools.cache
def _upsert_sql(postgres: bool) -> str:
    json = "%s::jsonb" if postgres else "%s"
    return (
        f"INSERT INTO {CHECKPOINTS} ({_CHECKPOINT_COLUMNS}) "
        f"VALUES (%s, %s, %s, %s, %s, %s, %s, {json}, {json}) "
        f"ON CONFLICT ({UNIQUE_KEYS[CHECKPOINTS]}) DO UPDATE SET "
        "run_id = excluded.run_id, type = excluded.type, checkpoint = excluded.checkpoint, "
        "channel_versions = excluded.channel_versions, metadata = excluded.metadata"
    )


def put_writes(rows: Sequence[Sequence[Any]], *, overwrite: bool) -> None:
    """Insert one task's writes (``_WRITE_COLUMNS``, sorted by idx). A write already stored
    under the same (checkpoint, task_id, idx) is overwritten when ``overwrite``, else kept:
    either way a retried or concurrent task never duplicates a write nor raises."""
    conflict = (
        "DO UPDATE SET channel = excluded.channel, type = excluded.type, blob = excluded.blob"
        if overwrite
        else "DO NOTHING"
    )
    _insert(WRITES, _WRITE_COLUMNS, rows, conflict)


def _insert(table: str, columns: str, rows: Sequence[Sequence[Any]], conflict: str) -> None:
    """Multi-row INSERTs, as few as the backend's parameter limit allows (one on PostgreSQL);
    several run in one transaction."""
    statements = list(batches(rows, columns.count(",") + 1))
    with transaction.atomic() if len(statements) > 1 else contextlib.nullcontext():
        for batch in statements:
            execute(_insert_sql(table, columns, len(batch), conflict), [*chain(*batch)])


@functools.cache
def _insert_sql(table: str, columns: str, count: int, conflict: str) -> str:
    row = "(" + ", ".join(["%s"] * (columns.count(",") + 1)) + ")"
    return (
        f"INSERT INTO {table} ({columns}) VALUES {', '.join([row] * count)} "
        f"ON CONFLICT ({UNIQUE_KEYS[table]}) {conflict}"
    )


def execute(sql: str, params: Sequence[Any], *, fetch: bool = False) -> list[tuple]:
    """Execute one statement, returning its rows if ``fetch``.

    On PostgreSQL the statement is prepared once per connection: parsing and planning the
    upserts and get_tuple's join cost as much as running them. Django's cursors bind
    parameters client-side and cannot prepare, so this takes a server-binding psycopg cursor
    on the same connection, inside Django's error translation. SQLite's driver already keeps
    its statements prepared.
    """
    db = connections[DEFAULT_DB_ALIAS]  # once: each ``connection.x`` is a thread-local lookup
    if db.vendor != "postgresql":
        with db.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall() if fetch else []
    db.ensure_connection()
    raw = db.connection
    if raw.prepare_threshold is None:
        # Django turns automatic preparation off (for poolers), which also makes psycopg
        # ignore an explicit prepare=True. A threshold no statement reaches keeps automatic
        # preparation off; Django's own cursors bind client-side and never prepare anyway.
        raw.prepare_threshold = sys.maxsize
    started = time.perf_counter()
    with db.wrap_database_errors, psycopg.Cursor(raw) as cursor:
        cursor.execute(sql, params, prepare=True, binary=fetch)
        rows = cursor.fetchall() if fetch else []
    if db.queries_logged:
        # Logged like Django's own queries, so DEBUG and CaptureQueriesContext see them.
        db.queries_log.append({"sql": sql, "time": f"{time.perf_counter() - started:.3f}"})
    return rows


# --- reads --------------------------------------------------------------------------------


def load_checkpoint(
    thread_id: str, checkpoint_ns: str, checkpoint_id: str | None
) -> StoredCheckpoint | None:
    """The checkpoint with this id, or the latest of the (thread, namespace) without one, with
    its blobs and writes: one statement, one round trip."""
    pick = "AND checkpoint_id = %s" if checkpoint_id else "ORDER BY checkpoint_id DESC LIMIT 1"
    # The versions JSON exploded into (channel, version) rows, each looked up in the blobs'
    # unique index. Both planners would rather scan all the thread's blobs and probe the JSON
    # for each: LATERAL ... LIMIT 1 (PostgreSQL) and CROSS JOIN's fixed order (SQLite) forbid it.
    if connection.vendor == "postgresql":
        text = "::text"
        blobs = (
            "c CROSS JOIN LATERAL jsonb_each_text(c.channel_versions) AS v CROSS JOIN LATERAL "
            f"(SELECT * FROM {BLOBS} AS t WHERE t.thread_id = %s AND t.checkpoint_ns = %s "
            "AND t.channel = v.key AND t.version = v.value LIMIT 1) AS b"
        )
    else:
        text = ""
        blobs = (
            f"c CROSS JOIN json_each(c.channel_versions) AS v CROSS JOIN {BLOBS} AS b "
            "WHERE b.thread_id = %s AND b.checkpoint_ns = %s AND b.channel = v.key "
            "AND b.version = CAST(v.value AS TEXT)"
        )
    sql = f"""
        WITH c AS (
            SELECT checkpoint_id, parent_checkpoint_id, type, checkpoint, channel_versions,
                metadata
            FROM {CHECKPOINTS} WHERE thread_id = %s AND checkpoint_ns = %s {pick}
        )
        SELECT 0, checkpoint_id, parent_checkpoint_id, channel_versions{text}, metadata{text},
            CAST(NULL AS INTEGER), type, checkpoint
        FROM c
        UNION ALL
        SELECT 1, b.channel, NULL, NULL, NULL, CAST(NULL AS INTEGER), b.type, b.blob
        FROM {blobs}
        UNION ALL
        SELECT 2, w.task_id, w.channel, w.task_path, NULL, w.idx, w.type, w.blob
        FROM {WRITES} AS w
        WHERE w.thread_id = %s AND w.checkpoint_ns = %s
            AND w.checkpoint_id = (SELECT checkpoint_id FROM c)
    """
    scope = [thread_id, checkpoint_ns]
    params = [*scope, *([checkpoint_id] if checkpoint_id else []), *scope, *scope]
    head, blobs, writes = None, {}, []
    for kind, a, b, c, d, idx, type_, data in execute(sql, params, fetch=True):
        if kind == 0:
            head = (a, b, (type_, bytes(data)), orjson.loads(c), orjson.loads(d))
        elif kind == 1:
            blobs[a] = (type_, bytes(data))
        else:
            writes.append(StoredWrite(c, a, idx, b, (type_, bytes(data))))
    if head is None:
        return None
    return StoredCheckpoint(thread_id, checkpoint_ns, *head, blobs, writes)


def list_checkpoints(
    *,
    thread_id: str | None,
    checkpoint_ns: str | None,
    checkpoint_id: str | None,
    metadata_filter: dict[str, Any] | None,
    before_id: str | None,
    limit: int | None,
) -> list[StoredCheckpoint]:
    """Matching checkpoints, newest first, in three queries whatever their number (SQLite
    splits the two lookups past its parameter limit, every few hundred checkpoints). ``None``
    leaves a criterion out; ``metadata_filter`` is JSON containment (``_metadata_contains``)."""
    rows = Checkpoint.objects.order_by("-checkpoint_id")
    if thread_id is not None:
        rows = rows.filter(thread_id=thread_id)
    if checkpoint_ns is not None:
        rows = rows.filter(checkpoint_ns=checkpoint_ns)
    if checkpoint_id is not None:
        rows = rows.filter(checkpoint_id=checkpoint_id)
    if metadata_filter:
        rows = _metadata_contains(rows, metadata_filter)
    if before_id is not None:
        rows = rows.filter(checkpoint_id__lt=before_id)
    values = rows.values_list(
        "thread_id",
        "checkpoint_ns",
        "checkpoint_id",
        "parent_checkpoint_id",
        "type",
        "checkpoint",
        "channel_versions",
        "metadata",
    )
    found = list(values if limit is None else values[:limit])
    blobs = select_blobs(
        {
            (tid, ns, ch, str(v))
            for tid, ns, _, _, _, _, versions, _ in found
            for ch, v in versions.items()
        }
    )
    writes: dict[tuple[str, str, str], list[StoredWrite]] = defaultdict(list)
    keys = [(tid, ns, cid) for tid, ns, cid, *_ in found]
    for tid, ns, cid, task_path, task_id, idx, channel, type_, blob in select_writes(keys):
        writes[(tid, ns, cid)].append(
            StoredWrite(task_path, task_id, idx, channel, (type_, bytes(blob)))
        )
    return [
        StoredCheckpoint(
            tid,
            ns,
            cid,
            parent,
            (type_, bytes(payload)),
            versions,
            metadata,
            {
                ch: blob
                for ch, v in versions.items()
                if (blob := blobs.get((tid, ns, ch, str(v)))) is not None
            },
            writes.get((tid, ns, cid), []),
        )
        for tid, ns, cid, parent, type_, payload, versions, metadata in found
    ]


def _metadata_contains(rows: QuerySet, wanted: dict[str, Any]) -> QuerySet:
    """Rows whose metadata contains ``wanted``: ``@>`` on PostgreSQL. SQLite has no JSON
    containment, so nested objects are walked into one typed equality per leaf (arrays are then
    compared whole). Keys are expressions, never parsed from ``__`` lookups: any text is safe.
    """
    if connection.vendor == "postgresql":
        return rows.filter(metadata__contains=wanted)
    leaves: dict[str, tuple[KeyTransform, Any]] = {}

    def visit(parent: KeyTransform | str, items: dict[str, Any]) -> None:
        for key, value in items.items():
            node = KeyTransform(str(key), parent)
            if isinstance(value, dict) and value:
                visit(node, value)
            else:
                leaves[f"metadata_{len(leaves)}"] = (node, value)

    visit("metadata", wanted)
    # Filtering on aliases (not on hand-built lookups) lets Django encode each value as JSON.
    rows = rows.alias(**{name: node for name, (node, _) in leaves.items()})
    return rows.filter(**{name: value for name, (_, value) in leaves.items()})


BlobKey = tuple[str, str, str, str]  # (thread_id, checkpoint_ns, channel, version)


def select_blobs(keys: Iterable[BlobKey]) -> dict[BlobKey, TypedBytes]:
    """The stored blobs among ``keys``; missing ones are simply absent."""
    return {
        (tid, ns, channel, version): (type_, bytes(blob))
        for tid, ns, channel, version, type_, blob in _lookup(
            sorted(keys), BLOBS, "t.type, t.blob", _BLOB_MATCH, one=True
        )
    }


def existing_blobs(keys: Iterable[BlobKey]) -> set[BlobKey]:
    """Which of ``keys`` are stored, without reading the blobs."""
    return {row[:4] for row in _lookup(sorted(keys), BLOBS, "t.type", _BLOB_MATCH, one=True)}


def select_writes(
    keys: Iterable[tuple[str, str, str]], channels: Sequence[str] | None = None
) -> list[tuple]:
    """Rows ``(thread_id, checkpoint_ns, checkpoint_id, task_path, task_id, idx, channel, type,
    blob)`` of the writes of the checkpoints with these keys, only to ``channels`` if given."""
    columns = "t.task_path, t.task_id, t.idx, t.channel, t.type, t.blob"
    return _lookup(sorted(keys), WRITES, columns, _WRITE_MATCH, one=False, channels=channels)


_BLOB_MATCH = (
    "t.thread_id = k.column1 AND t.checkpoint_ns = k.column2 AND t.channel = k.column3 "
    "AND t.version = k.column4"
)
_WRITE_MATCH = (
    "t.thread_id = k.column1 AND t.checkpoint_ns = k.column2 AND t.checkpoint_id = k.column3"
)


def _lookup(
    keys: Sequence[tuple],
    table: str,
    columns: str,
    match: str,
    *,
    one: bool,
    channels: Sequence[str] | None = None,
) -> list[tuple]:
    """Rows of ``table`` (alias ``t``) matching each key (``k.column1``...), prefixed with the
    key: a single row per key if ``one``, and only rows to ``channels`` when given.

    On PostgreSQL the keys come as arrays, so the statement text is fixed and prepared once,
    and every key is its own index lookup (LATERAL, fenced by LIMIT or OFFSET so the planner
    cannot flatten it): joined any other way, a thread with stale or average statistics gets
    its whole blob or write history scanned. SQLite gets the keys as VALUES, in as many
    statements as its parameter limit needs.
    """
    if not keys:
        return []
    width = len(keys[0])
    names = [f"column{i + 1}" for i in range(width)]
    selected = ", ".join(f"k.{name}" for name in names) + ", " + columns
    if connection.vendor == "postgresql":
        only = " AND t.channel = ANY(%s::text[])" if channels is not None else ""
        fence = "LIMIT 1" if one else "OFFSET 0"
        arrays = ", ".join(["%s::text[]"] * width)
        sql = (
            f"SELECT {selected} FROM unnest({arrays}) AS k({', '.join(names)}) "
            f"CROSS JOIN LATERAL (SELECT * FROM {table} AS t WHERE {match}{only} {fence}) AS t"
        )
        params = [list(column) for column in zip(*keys, strict=True)]
        if channels is not None:
            params.append(list(channels))
        return execute(sql, params, fetch=True)
    only, extra = "", list(channels or ())
    if channels is not None:
        only = " AND t.channel IN (" + ", ".join(["%s"] * len(channels)) + ")"
    rows: list[tuple] = []
    for batch in batches(keys, width, reserved=len(extra)):
        values = ", ".join(["(" + ", ".join(["%s"] * width) + ")"] * len(batch))
        # CROSS JOIN keeps the keys the outer loop in SQLite's planner.
        sql = f"SELECT {selected} FROM (VALUES {values}) AS k CROSS JOIN {table} AS t "
        sql += f"WHERE {match}{only}"
        rows.extend(execute(sql, [*chain(*batch), *extra], fetch=True))
    return rows


def batches(items: Sequence[Any], width: int = 1, reserved: int = 0) -> Iterator[Sequence[Any]]:
    """``items`` in slices of at most as many as fit the backend's parameter limit, each item
    taking ``width`` parameters next to ``reserved`` others."""
    size = max(1, (_max_params() - reserved) // width)
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _max_params() -> int:
    return connection.features.max_query_params or sys.maxsize
