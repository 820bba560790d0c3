"""Checkpoint chains built by hand, the way the Pregel loop writes them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.base.id import uuid6


class Chain:
    """Appends checkpoints to one (thread, namespace): each put names its parent in the config,
    carries every stored value, and lists only the channels it changed in ``new_versions``."""

    def __init__(self, saver: BaseCheckpointSaver, thread_id: str | None = None, ns: str = ""):
        self.saver = saver
        self.thread_id = thread_id or str(uuid4())
        self.ns = ns
        self.head: RunnableConfig | None = None
        self.versions: dict[str, Any] = {}

    @property
    def config(self) -> RunnableConfig:
        return {"configurable": {"thread_id": self.thread_id, "checkpoint_ns": self.ns}}

    def put(
        self,
        values: dict[str, Any] | None = None,
        *,
        changed: tuple[str, ...] | None = None,
        versions: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        parent: RunnableConfig | None = None,
    ) -> RunnableConfig:
        """Store a child of ``parent`` (default: the last put). The ``changed`` channels (by
        default those in ``values``) get a new version, or the ones ``versions`` gives; a
        changed channel missing from ``values`` is like a DeltaChannel between snapshots."""
        values = values or {}
        changed = versions or {
            ch: self.saver.get_next_version(self.versions.get(ch), None)
            for ch in (values if changed is None else changed)
        }
        self.versions = {**self.versions, **changed}
        checkpoint = {
            "v": 4,
            "id": str(uuid6(clock_seq=-1)),
            "ts": datetime.now(UTC).isoformat(),
            "channel_values": values,
            "channel_versions": dict(self.versions),
            "versions_seen": {},
            "updated_channels": sorted(changed),
        }
        config = self.config
        parent = parent or self.head
        if parent is not None:
            config["configurable"]["checkpoint_id"] = parent["configurable"]["checkpoint_id"]
        metadata = {"source": "loop", "step": -1, "parents": {}, **(metadata or {})}
        self.head = self.saver.put(config, checkpoint, metadata, changed)
        return self.head

    def write(
        self, at: RunnableConfig, writes: list[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        self.saver.put_writes(at, writes, task_id, task_path)
