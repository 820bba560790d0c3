"""``DjangoSaver``: LangGraph's checkpointer on the operator's database, through Django.

LangGraph calls a saver from short-lived executor threads and from event loops; every database
access here is handed to ``apps.core.dbthreads`` so it runs on a long-lived thread whose
connection persists. Channel values are (de)serialized on the caller's side of that hand-off.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    DeltaChannelHistory,
    get_checkpoint_id,
    get_serializable_checkpoint_metadata,
    writes_sort_key,
)
from langgraph.checkpoint.serde.base import SerializerProtocol

from apps.checkpoints import history, maintenance, storage
from apps.core import encoding
from apps.core.dbthreads import db_threads

# Values of exactly these types stay inline in the checkpoint row, like PostgresSaver's
# primitives; exact types, so a str or int subclass (an Enum) keeps its class via the serde.
INLINE_TYPES = frozenset({type(None), str, int, float, bool})


class DjangoSaver(BaseCheckpointSaver[str]):
    """A ``BaseCheckpointSaver`` storing checkpoints in the Django database (SQLite or
    PostgreSQL): the ``Checkpoint``, ``CheckpointBlob`` and ``CheckpointWrite`` models.

    Every method has a native sync and async form; both run the same function on a database
    thread. Channel versions are zero-padded strings (``get_next_version``); a put stores
    blobs only for the channels in ``new_versions``. All writes are upserts, so calls that
    LangGraph's threads make concurrently never conflict. The saver holds no state besides
    its serializer, so ``copy.copy`` (``with_allowlist``) is safe.
    """

    def __init__(self, *, serde: SerializerProtocol | None = None) -> None:
        super().__init__(serde=serde)

    # --- reads -----------------------------------------------------------------------------

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """The checkpoint of ``config`` (by id, or the latest of its thread and namespace)."""
        stored = db_threads().run(storage.load_checkpoint, *_address(config))
        return self._tuple(stored) if stored else None

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        stored = await db_threads().arun(storage.load_checkpoint, *_address(config))
        return self._tuple(stored) if stored else None

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        """Checkpoints newest first: of every thread when ``config`` is None, else of its
        thread (and namespace and id when given); ``filter`` matches metadata keys."""
        criteria = _criteria(config, filter, before, limit)
        for stored in db_threads().run(storage.list_checkpoints, **criteria):
            yield self._tuple(stored)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        criteria = _criteria(config, filter, before, limit)
        for stored in await db_threads().arun(storage.list_checkpoints, **criteria):
            yield self._tuple(stored)

    def get_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, DeltaChannelHistory]:
        """Per channel, the writes from the target's parent up to the nearest stored value,
        oldest first, and that value as ``seed``; see ``history.delta_history``."""
        if not channels:
            return {}
        return db_threads().run(history.delta_history, self.serde, *_address(config), channels)

    async def aget_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, DeltaChannelHistory]:
        if not channels:
            return {}
        return await db_threads().arun(
            history.delta_history, self.serde, *_address(config), channels
        )

    # --- writes ----------------------------------------------------------------------------

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Store the checkpoint, child of ``config``'s checkpoint id, with the blobs of the
        channels in ``new_versions``, in one transaction; putting the same id again
        overwrites it. Returns the config of the stored checkpoint."""
        row, blobs, stored_config = self._dump_checkpoint(
            config, checkpoint, metadata, new_versions
        )
        db_threads().run(storage.put_checkpoint, row, blobs)
        return stored_config

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        row, blobs, stored_config = self._dump_checkpoint(
            config, checkpoint, metadata, new_versions
        )
        await db_threads().arun(storage.put_checkpoint, row, blobs)
        return stored_config

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Store a task's writes for ``config``'s checkpoint in one statement, idempotent per
        (task_id, idx); a batch of only special channels (errors, interrupts) overwrites."""
        if writes:
            rows, overwrite = self._dump_writes(config, writes, task_id, task_path)
            db_threads().run(storage.put_writes, rows, overwrite=overwrite)

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        if writes:
            rows, overwrite = self._dump_writes(config, writes, task_id, task_path)
            await db_threads().arun(storage.put_writes, rows, overwrite=overwrite)

    def delete_thread(self, thread_id: str) -> None:
        """Remove the thread's checkpoints, blobs and writes in every namespace."""
        db_threads().run(maintenance.delete_threads, [str(thread_id)])

    async def adelete_thread(self, thread_id: str) -> None:
        await db_threads().arun(maintenance.delete_threads, [str(thread_id)])

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        """Remove the checkpoints whose ``metadata["run_id"]`` is listed, with their writes
        and the blobs nothing else refers to."""
        if run_ids := [str(r) for r in run_ids]:
            db_threads().run(maintenance.delete_for_runs, run_ids)

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        if run_ids := [str(r) for r in run_ids]:
            await db_threads().arun(maintenance.delete_for_runs, run_ids)

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Copy every checkpoint (same ids, all namespaces), blob and write to the target."""
        db_threads().run(maintenance.copy_thread, str(source_thread_id), str(target_thread_id))

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        await db_threads().arun(
            maintenance.copy_thread, str(source_thread_id), str(target_thread_id)
        )

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        """Keep only the latest checkpoint per namespace (``"keep_latest"``, DeltaChannel
        history included) or nothing (``"delete"``); see ``maintenance.prune``."""
        if thread_ids := _prune_args(thread_ids, strategy):
            db_threads().run(maintenance.prune, self.serde, thread_ids, strategy)

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        if thread_ids := _prune_args(thread_ids, strategy):
            await db_threads().arun(maintenance.prune, self.serde, thread_ids, strategy)

    def get_next_version(self, current: str | int | float | None, channel: None) -> str:
        """The official savers' scheme: a zero-padded counter, so versions sort as text, and a
        random fraction, so two forks reaching the same counter do not share a blob key."""
        if current is None:
            counter = 0
        elif isinstance(current, str):
            counter = int(current.split(".")[0])
        else:
            counter = int(current)
        return f"{counter + 1:032}.{random.random():016}"

    # --- (de)serialization, on the caller's thread ---------------------------------------

    def _dump_checkpoint(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> tuple[list[Any], list[tuple], RunnableConfig]:
        thread_id, checkpoint_ns, parent_id = _address(config)
        inline, others = {}, {}
        for channel, value in checkpoint["channel_values"].items():
            (inline if type(value) in INLINE_TYPES else others)[channel] = value
        # The versions go to their own JSON column, where SQL can join them to their blobs.
        payload = {k: v for k, v in checkpoint.items() if k != "channel_versions"}
        payload["channel_values"] = inline
        metadata = get_serializable_checkpoint_metadata(config, metadata)
        run_id = metadata.get("run_id")
        row = [
            thread_id,
            checkpoint_ns,
            checkpoint["id"],
            parent_id,
            None if run_id is None else str(run_id),
            *self.serde.dumps_typed(payload),
            encoding.dumps(checkpoint["channel_versions"]).decode(),
            encoding.dumps(metadata).decode(),
        ]
        blobs = sorted(
            (thread_id, checkpoint_ns, ch, str(version), *self.serde.dumps_typed(others[ch]))
            for ch, version in new_versions.items()
            if ch in others
        )
        stored = {"thread_id": thread_id, "checkpoint_ns": checkpoint_ns}
        return row, blobs, {"configurable": {**stored, "checkpoint_id": checkpoint["id"]}}

    def _dump_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str,
    ) -> tuple[list[tuple], bool]:
        thread_id, checkpoint_ns, checkpoint_id = _address(config)
        overwrite = all(channel in WRITES_IDX_MAP for channel, _ in writes)
        rows: dict[int, tuple] = {}
        for position, (channel, value) in enumerate(writes):
            idx = WRITES_IDX_MAP.get(channel, position)
            # One statement cannot touch a key twice; keep the row that executing them one by
            # one would leave: the last when overwriting, else the first.
            if overwrite or idx not in rows:
                typed = self.serde.dumps_typed(value)
                rows[idx] = (thread_id, checkpoint_ns, checkpoint_id, task_id, task_path, idx,
                             channel, *typed)  # fmt: skip
        return [rows[idx] for idx in sorted(rows)], overwrite

    def _tuple(self, stored: storage.StoredCheckpoint) -> CheckpointTuple:
        checkpoint = self.serde.loads_typed(stored.checkpoint)
        values = checkpoint["channel_values"]
        for channel, typed in stored.blobs.items():
            values[channel] = self.serde.loads_typed(typed)
        checkpoint["channel_versions"] = stored.channel_versions
        address = {"thread_id": stored.thread_id, "checkpoint_ns": stored.checkpoint_ns}
        parent = stored.parent_checkpoint_id
        writes = sorted(stored.writes, key=lambda w: writes_sort_key(w.task_path, w.task_id, w.idx))
        return CheckpointTuple(
            config={"configurable": {**address, "checkpoint_id": stored.checkpoint_id}},
            checkpoint=checkpoint,
            metadata=stored.metadata,
            parent_config={"configurable": {**address, "checkpoint_id": parent}}
            if parent
            else None,
            pending_writes=[
                (w.task_id, w.channel, self.serde.loads_typed(w.value)) for w in writes
            ],
        )


def _address(config: RunnableConfig) -> tuple[str, str, str | None]:
    configurable = config["configurable"]
    return (
        str(configurable["thread_id"]),
        configurable.get("checkpoint_ns", ""),
        get_checkpoint_id(config),
    )


def _criteria(
    config: RunnableConfig | None,
    filter: dict[str, Any] | None,
    before: RunnableConfig | None,
    limit: int | None,
) -> dict[str, Any]:
    configurable = (config or {}).get("configurable", {})
    thread_id = configurable.get("thread_id")
    return {
        "thread_id": None if thread_id is None else str(thread_id),
        "checkpoint_ns": configurable.get("checkpoint_ns"),
        "checkpoint_id": configurable.get("checkpoint_id") or None,
        "metadata_filter": filter,
        "before_id": get_checkpoint_id(before) if before else None,
        "limit": limit,
    }


def _prune_args(thread_ids: Sequence[str], strategy: str) -> list[str]:
    if isinstance(thread_ids, str):
        raise TypeError("thread_ids must be a sequence of thread ids, not a str")
    if strategy not in ("keep_latest", "delete"):
        raise ValueError(f"Unknown prune strategy: {strategy!r}")
    return [str(t) for t in thread_ids]
