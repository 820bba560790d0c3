"""Reads of threads and their state (current, at a checkpoint, history)."""

from __future__ import annotations

import re
import uuid
from typing import Any

from asgiref.sync import async_to_sync
from django.db.models import QuerySet

from apps.core.errors import NotFound, Unprocessable
from apps.core.jsonfilters import json_contains
from apps.tenancy.principal import Principal
from apps.threads.models import Thread
from apps.threads.state import EMPTY_STATE, snapshot_json, thread_config, thread_graph

THREAD_SORT_FIELDS = ("thread_id", "status", "created_at", "updated_at", "state_updated_at")
EXTRACT_ROOTS = ("values", "metadata", "config", "interrupts")
MAX_EXTRACT_PATHS = 10
_PATH_TOKEN = re.compile(r"([^.\[\]]+)|\[(-?\d+)\]")


def thread_get(*, principal: Principal, thread_id: uuid.UUID) -> Thread:
    """The thread, if ``principal`` may see it (else 404, whoever's it is)."""
    thread = Thread.objects.visible_to(principal).filter(thread_id=thread_id).first()
    if thread is None:
        raise NotFound(f"Thread {thread_id} not found")
    return thread


def threads_filtered(
    *,
    principal: Principal,
    metadata: dict[str, Any] | None = None,
    values: dict[str, Any] | None = None,
    ids: list[uuid.UUID] | None = None,
    status: str | None = None,
) -> QuerySet[Thread]:
    queryset = Thread.objects.visible_to(principal)
    queryset = queryset.filter(json_contains(Thread, "metadata", metadata or {}))
    queryset = queryset.filter(json_contains(Thread, "values", values or {}))
    if ids is not None:
        queryset = queryset.filter(thread_id__in=ids)
    if status:
        queryset = queryset.filter(status=status)
    return queryset


def thread_state(
    *, thread: Thread, checkpoint: dict[str, Any] | None = None, subgraphs: bool = False
) -> dict[str, Any]:
    """The thread's state (latest, or at ``checkpoint``); an empty state before any run."""
    if not thread.graph_id:
        if checkpoint and checkpoint.get("checkpoint_id"):
            raise NotFound(f"Checkpoint not found for thread {thread.thread_id}")
        return dict(EMPTY_STATE)

    async def read() -> dict[str, Any]:
        config = thread_config(thread, checkpoint)
        async with thread_graph(thread, config) as graph:
            snapshot = await graph.aget_state(config, subgraphs=subgraphs)
        if snapshot.created_at is not None:  # None: no checkpoint was found
            return snapshot_json(snapshot)
        if checkpoint and checkpoint.get("checkpoint_id"):
            raise NotFound(f"Checkpoint not found for thread {thread.thread_id}")
        return dict(EMPTY_STATE)

    return async_to_sync(read)()


def thread_history(
    *,
    thread: Thread,
    limit: int = 10,
    before: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    checkpoint: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The thread's checkpoints as ThreadStates, newest first."""
    if not thread.graph_id:
        return []

    async def read() -> list[dict[str, Any]]:
        config = thread_config(thread, checkpoint)
        before_config = thread_config(thread, before) if before else None
        async with thread_graph(thread, config) as graph:
            return [
                snapshot_json(snapshot)
                async for snapshot in graph.aget_state_history(
                    config, filter=metadata or None, before=before_config, limit=limit
                )
            ]

    return async_to_sync(read)()


def parse_extract(extract: dict[str, str] | None) -> dict[str, list[str | int]] | None:
    """Validate ``extract`` (alias → ``values.messages[-1]``-style path) into token lists."""
    if not extract:
        return None
    if len(extract) > MAX_EXTRACT_PATHS:
        raise Unprocessable(f"extract: at most {MAX_EXTRACT_PATHS} paths are allowed")
    parsed = {}
    for alias, path in extract.items():
        if not isinstance(path, str) or not path:
            raise Unprocessable(f"extract.{alias}: the path must be a non-empty string")
        tokens: list[str | int] = []
        position = 0
        for match in _PATH_TOKEN.finditer(path):
            if match.start() not in (position, position + 1):
                break
            tokens.append(match.group(1) if match.group(1) is not None else int(match.group(2)))
            position = match.end()
        if not tokens or tokens[0] not in EXTRACT_ROOTS or position != len(path):
            raise Unprocessable(
                f"extract.{alias}: invalid path {path!r}; it must start with one of "
                f"{', '.join(EXTRACT_ROOTS)} and use dot or [index] notation"
            )
        parsed[alias] = tokens
    return parsed


def extracted(row: dict[str, Any], paths: dict[str, list[str | int]]) -> dict[str, Any]:
    """Each alias's value in ``row`` (a Thread's JSON), or None where the path leads nowhere."""
    result = {}
    for alias, tokens in paths.items():
        value: Any = row
        for token in tokens:
            try:
                value = value[token]
            except (KeyError, IndexError, TypeError):
                value = None
                break
        result[alias] = value
    return result
