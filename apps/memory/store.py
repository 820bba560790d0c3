"""DjangoStore: LangGraph's ``BaseStore`` (long-term memory) on the Django ORM.

A store reads and writes one tenant's items: the process builds one store from the project's
config (``registry().store``, bound to no tenant) and binds it per request or run with
``for_tenant``, which shares the config and the embeddings.

LangGraph calls a store from short-lived executor threads and from event loops, so every
database access runs on the long-lived threads of ``apps.core.dbthreads``. Embedding calls
(network I/O) happen before that, on the caller's thread or loop, never inside a transaction.
"""

from __future__ import annotations

import asyncio
import copy
import math
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from django.utils import timezone
from langgraph.store.base import (
    BaseStore,
    GetOp,
    IndexConfig,
    InvalidNamespaceError,
    Item,
    ListNamespacesOp,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
    TTLConfig,
    get_text_at_path,
)

from apps.core.dbthreads import db_threads
from apps.core.encoding import to_jsonable
from apps.graphs.registry import registry
from apps.memory import config, services, vectors
from apps.memory.filters import (
    NamespaceCondition,
    ValueCondition,
    namespace_text,
    parse_value_filter,
)
from apps.memory.models import StoreItem

MAX_ADDRESS_BYTES = 2048

try:  # langgraph-checkpoint >= 4.3
    from langgraph.store.base import validate_op_namespace
except ImportError:  # pragma: no cover - older releases validate in the convenience methods only
    validate_op_namespace = None


@dataclass
class _Plan:
    """A validated batch: reads by op index, the last write per address, what to embed."""

    ops: list[Op]
    gets: list[int] = field(default_factory=list)
    searches: dict[int, list[ValueCondition]] = field(default_factory=dict)
    listings: dict[int, list[NamespaceCondition]] = field(default_factory=dict)
    puts: dict[tuple[tuple[str, ...], str], PutOp] = field(default_factory=dict)
    texts: list[tuple[tuple[tuple[str, ...], str], str, str]] = field(default_factory=list)
    vectors: dict[tuple[tuple[str, ...], str], list[tuple[str, bytes]]] = field(
        default_factory=dict
    )
    queries: dict[str, list[float] | None] = field(default_factory=dict)


class DjangoStore(BaseStore):
    """A LangGraph store whose items live in ``StoreItem`` rows (SQLite or PostgreSQL).

    - Tenancy: every op and sweep of a store bound with ``for_tenant`` reads, writes and
      deletes that tenant's items only; the same namespace and key in two tenants are two
      items. A store bound to no tenant refuses every op.
    - ``batch``/``abatch`` return results in op order. Reads in a batch see the data as it
      was before the batch's writes (as InMemoryStore and PostgresStore do); of several
      PutOps for one ``(namespace, key)`` the last wins. Every op's namespace labels are
      validated first, so a bad op fails the batch before anything is written.
    - TTL: writes set ``expires_at``; get and search push it back when ``refresh_ttl`` (None
      means ``ttl_config["refresh_on_read"]``, default True). Expired rows stay readable until
      ``sweep_ttl()`` (or the ``memory.sweep_expired_items`` task) deletes them, unless
      ``ttl_config["omit_expired"]``.
    - Semantic search with an ``index`` config: vectors are computed at put time and ranked
      by cosine similarity in Python (see ``services.store_items_rank``).
    """

    supports_ttl = True

    def __init__(
        self,
        *,
        index: IndexConfig | Mapping[str, Any] | None = None,
        ttl: TTLConfig | Mapping[str, Any] | None = None,
        base_dir: Path | None = None,
    ) -> None:
        """``index``: ``{"dims", "embed", "fields"?}``; ``ttl``: ``{"default_ttl"?,
        "refresh_on_read"?, "omit_expired"?, "sweep_interval_minutes"?}``; ``base_dir``
        resolves a relative ``"file.py:attr"`` embed. Raises ValueError on a bad config."""
        self._index = config.index_settings(index, base_dir=base_dir)
        self.index_config = self._index.config if self._index else None
        self.embeddings = self._index.embeddings if self._index else None
        self.ttl_config = config.ttl_settings(ttl)
        self._tenant_id: uuid.UUID | None = None
        self._owner = ""

    @classmethod
    def from_project_config(
        cls, store_config: Mapping[str, Any] | None, *, base_dir: Path | None = None
    ) -> DjangoStore:
        """Build a store from the ``store`` section of a ``langgraph.json`` (None: defaults)."""
        index, ttl = config.store_sections(store_config)
        return cls(index=index, ttl=ttl, base_dir=base_dir)

    def for_tenant(self, tenant_id: uuid.UUID, *, owner: str = "") -> DjangoStore:
        """This store bound to ``tenant_id``: a shallow copy sharing the index, embeddings
        and TTL config, so it costs no more than one object. Items it writes record ``owner``
        (the identity it acts for) as their writer."""
        if not isinstance(tenant_id, uuid.UUID):
            raise TypeError(f"tenant_id must be a UUID, not {type(tenant_id).__name__}")
        bound = copy.copy(self)
        bound._tenant_id = tenant_id
        bound._owner = owner
        return bound

    @property
    def tenant_id(self) -> uuid.UUID | None:
        """The tenant this store is bound to; None for the unbound process-wide store."""
        return self._tenant_id

    def _tenant(self) -> uuid.UUID:
        if self._tenant_id is None:
            raise RuntimeError("this store is bound to no tenant; use store.for_tenant(tenant_id)")
        return self._tenant_id

    @property
    def _omit_expired(self) -> bool:
        return bool(self.ttl_config and self.ttl_config.get("omit_expired"))

    # BaseStore ------------------------------------------------------------------------------

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        tenant_id = self._tenant()
        plan = self._plan(ops)
        if not plan.ops:
            return []
        if plan.texts:
            embedded = self.embeddings.embed_documents([text for _, _, text in plan.texts])
            self._attach_vectors(plan, embedded)
        for query in plan.queries:
            plan.queries[query] = self._unit(self.embeddings.embed_query(query))
        return db_threads().run(self._execute, tenant_id, plan)

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        tenant_id = self._tenant()
        plan = self._plan(ops)
        if not plan.ops:
            return []
        if plan.texts:
            embedded = await self.embeddings.aembed_documents([text for _, _, text in plan.texts])
            self._attach_vectors(plan, embedded)
        if plan.queries:
            queries = list(plan.queries)
            answers = await asyncio.gather(*(self.embeddings.aembed_query(q) for q in queries))
            for query, vector in zip(queries, answers, strict=True):
                plan.queries[query] = self._unit(vector)
        return await db_threads().arun(self._execute, tenant_id, plan)

    def sweep_ttl(self) -> int:
        """Delete the tenant's expired items now; return how many were deleted."""
        return db_threads().run(services.store_items_sweep_expired, tenant_id=self._tenant())

    async def asweep_ttl(self) -> int:
        sweep = services.store_items_sweep_expired
        return await db_threads().arun(sweep, tenant_id=self._tenant())

    # Planning (caller's thread) -------------------------------------------------------------

    def _plan(self, ops: Iterable[Op]) -> _Plan:
        plan = _Plan(ops=list(ops))
        for index, op in enumerate(plan.ops):
            if validate_op_namespace is not None:
                validate_op_namespace(op)
            if isinstance(op, GetOp):
                _check_key(op.key)
                plan.gets.append(index)
            elif isinstance(op, SearchOp):
                _check_page(op.limit, op.offset)
                plan.searches[index] = parse_value_filter(op.filter)
                if op.query and self.embeddings is not None:
                    plan.queries[op.query] = None
            elif isinstance(op, ListNamespacesOp):
                plan.listings[index] = _namespace_conditions(op)
            elif isinstance(op, PutOp):
                plan.puts[(tuple(op.namespace), op.key)] = self._checked_put(op)
            else:
                raise ValueError(f"unknown store operation: {type(op).__name__}")
        for address, op in plan.puts.items():
            for path in self._index_paths(op):
                for text in get_text_at_path(op.value, path):
                    plan.texts.append((address, path, text))
        return plan

    def _checked_put(self, op: PutOp) -> PutOp:
        if not op.namespace:
            raise InvalidNamespaceError("Namespace cannot be empty.")
        check_address(tuple(op.namespace), op.key)
        if op.value is None:
            return op
        if not isinstance(op.value, Mapping):
            raise ValueError(f"value must be a mapping, not {type(op.value).__name__}")
        if op.ttl is not None and (
            isinstance(op.ttl, bool)
            or not isinstance(op.ttl, int | float)
            or not math.isfinite(op.ttl)
            or op.ttl <= 0
        ):
            raise ValueError(f"ttl must be a positive number of minutes or None, got {op.ttl!r}")
        if (
            op.index is not None
            and op.index is not False
            and (
                not isinstance(op.index, list | tuple)
                or not all(isinstance(path, str) and path for path in op.index)
            )
        ):
            raise ValueError(f"index must be False, None or a list of JSON paths: {op.index!r}")
        try:
            value = to_jsonable(dict(op.value))
        except TypeError as exc:  # orjson: e.g. an integer wider than 64 bits
            raise ValueError(f"value cannot be stored as JSON: {exc}") from None
        return op._replace(value=value)

    def _index_paths(self, op: PutOp) -> Sequence[str]:
        if self._index is None or op.value is None or op.index is False:
            return ()
        return self._index.fields if op.index is None else op.index

    def _attach_vectors(self, plan: _Plan, embedded: Sequence[Sequence[float]]) -> None:
        if len(embedded) != len(plan.texts):
            raise ValueError(
                f"the embedding function returned {len(embedded)} vectors "
                f"for {len(plan.texts)} texts"
            )
        for (address, path, _), vector in zip(plan.texts, embedded, strict=True):
            blob = vectors.encode(vector, dims=self._index.dims)
            plan.vectors.setdefault(address, []).append((path, blob))

    def _unit(self, vector: Sequence[float]) -> list[float]:
        return vectors.unit(vector, dims=self._index.dims)

    # Execution (database thread) ------------------------------------------------------------

    def _execute(self, tenant_id: uuid.UUID, plan: _Plan) -> list[Result]:
        now = timezone.now()
        results: list[Result] = [None] * len(plan.ops)
        if plan.gets:
            self._get(tenant_id, plan, results, now)
        for index, conditions in plan.searches.items():
            op = plan.ops[index]
            results[index] = self._search(tenant_id, op, conditions, plan.queries, now)
        for index, conditions in plan.listings.items():
            op = plan.ops[index]
            results[index] = services.store_namespaces_list(
                tenant_id=tenant_id,
                conditions=conditions,
                max_depth=op.max_depth,
                limit=op.limit,
                offset=op.offset,
                omit_expired=self._omit_expired,
                now=now,
            )
        if plan.puts:
            writes = [
                services.ItemWrite(
                    namespace=namespace,
                    key=key,
                    value=op.value,
                    ttl_minutes=op.ttl,
                    vectors=plan.vectors.get((namespace, key), [])
                    if self._index is not None and op.value is not None
                    else None,
                    owner=self._owner,
                )
                for (namespace, key), op in plan.puts.items()
            ]
            services.store_items_write(tenant_id=tenant_id, writes=writes, now=now)
        return results

    def _get(self, tenant_id: uuid.UUID, plan: _Plan, results: list[Result], now: datetime) -> None:
        addresses = [(namespace_text(plan.ops[i].namespace), plan.ops[i].key) for i in plan.gets]
        found = services.store_items_get(
            tenant_id=tenant_id, addresses=addresses, omit_expired=self._omit_expired, now=now
        )
        refresh: dict[int, StoreItem] = {}
        for index, address in zip(plan.gets, addresses, strict=True):
            row = found.get(address)
            results[index] = _item(row) if row is not None else None
            if row is not None and self._refresh(plan.ops[index].refresh_ttl):
                refresh[row.pk] = row
        services.store_items_refresh_expiry(items=refresh.values(), now=now)

    def _search(
        self,
        tenant_id: uuid.UUID,
        op: SearchOp,
        conditions: list[ValueCondition],
        queries: Mapping[str, list[float] | None],
        now: datetime,
    ) -> list[SearchItem]:
        scope = {
            "tenant_id": tenant_id,
            "namespace_prefix": tuple(op.namespace_prefix),
            "conditions": conditions,
            "limit": op.limit,
            "offset": op.offset,
            "omit_expired": self._omit_expired,
            "now": now,
        }
        query = queries.get(op.query) if op.query else None
        if query is not None:
            ranked = services.store_items_rank(query=query, **scope)
        else:
            ranked = [(row, None) for row in services.store_items_search(**scope)]
        if self._refresh(op.refresh_ttl):
            services.store_items_refresh_expiry(items=[row for row, _ in ranked], now=now)
        return [_item(row, score=score, search=True) for row, score in ranked]

    def _refresh(self, refresh_ttl: bool | None) -> bool:
        if refresh_ttl is not None:
            return refresh_ttl
        return (self.ttl_config or {}).get("refresh_on_read", True)


def _item(row: StoreItem, *, score: float | None = None, search: bool = False) -> Item:
    fields = {
        "namespace": row.labels,
        "key": row.key,
        "value": row.value,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }
    return SearchItem(**fields, score=score) if search else Item(**fields)


def _check_key(key: Any) -> None:
    if not isinstance(key, str):
        raise ValueError(f"key must be a string, not {type(key).__name__}")


def check_address(namespace: tuple[str, ...], key: Any) -> None:
    """Raise ValueError unless ``key`` is a string and the namespace and key fit in one index
    entry (PostgreSQL's B-tree rejects entries over about 2.7 kB)."""
    _check_key(key)
    size = len(namespace_text(namespace).encode()) + len(key.encode())
    if size > MAX_ADDRESS_BYTES:
        raise ValueError(
            f"namespace and key take {size} bytes of UTF-8; at most {MAX_ADDRESS_BYTES} fit"
        )


def _check_page(limit: Any, offset: Any) -> None:
    for name, number in (("limit", limit), ("offset", offset)):
        if isinstance(number, bool) or not isinstance(number, int) or number < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {number!r}")


def _namespace_conditions(op: ListNamespacesOp) -> list[NamespaceCondition]:
    _check_page(op.limit, op.offset)
    if op.max_depth is not None and (
        isinstance(op.max_depth, bool) or not isinstance(op.max_depth, int) or op.max_depth < 1
    ):
        raise ValueError(f"max_depth must be a positive integer or None, got {op.max_depth!r}")
    conditions = []
    for condition in op.match_conditions or ():
        parsed = NamespaceCondition.parse(condition.match_type, tuple(condition.path))
        if parsed is not None:
            conditions.append(parsed)
    return conditions


def get_store(tenant_id: uuid.UUID, *, owner: str = "") -> DjangoStore:
    """The process's store bound to ``tenant_id``. The store is built once per loaded project
    from its ``store`` section (none gives a plain store without index or TTL); relative embed
    files resolve against the project folder. Items it writes record ``owner``."""
    return registry().store.for_tenant(tenant_id, owner=owner)
