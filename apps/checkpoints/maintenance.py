"""Deleting, copying and pruning checkpoints: the saver's maintenance verbs.

Each runs in one transaction (prune: one per thread) on a database thread. Blobs are shared by
every checkpoint at their version, so deleting checkpoints only deletes the blobs that no
checkpoint left in the namespace refers to.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from django.db import connection, transaction
from django.db.models import Max
from langgraph.checkpoint.serde.base import SerializerProtocol

from apps.checkpoints.history import walk
from apps.checkpoints.models import Checkpoint, CheckpointBlob, CheckpointWrite
from apps.checkpoints.storage import BLOBS, CHECKPOINTS, UNIQUE_KEYS, WRITES, Scope, batches


def delete_threads(thread_ids: Sequence[str]) -> None:
    """Remove every checkpoint, blob and write of the threads, in all namespaces, in one
    transaction."""
    with transaction.atomic():
        for model in (Checkpoint, CheckpointBlob, CheckpointWrite):
            for batch in batches(thread_ids):
                model.objects.filter(thread_id__in=batch).delete()


def delete_for_runs(run_ids: Sequence[str]) -> None:
    """Remove the checkpoints whose ``metadata["run_id"]`` is one of ``run_ids``, with their
    writes and the blobs that no checkpoint left in their namespace refers to."""
    with transaction.atomic():
        doomed: dict[Scope, list[tuple[str, dict]]] = defaultdict(list)
        for batch in batches(run_ids):
            for tid, ns, cid, versions in Checkpoint.objects.filter(run_id__in=batch).values_list(
                "thread_id", "checkpoint_ns", "checkpoint_id", "channel_versions"
            ):
                doomed[(tid, ns)].append((cid, versions))
        for (thread_id, ns), checkpoints in doomed.items():
            cids = [cid for cid, _ in checkpoints]
            for model in (CheckpointWrite, Checkpoint):
                for batch in batches(cids, reserved=2):
                    model.objects.filter(
                        thread_id=thread_id, checkpoint_ns=ns, checkpoint_id__in=batch
                    ).delete()
            _forget(thread_id, ns, cids, [versions for _, versions in checkpoints])


def _forget(
    thread_id: str, checkpoint_ns: str, deleted_ids: Sequence[str], deleted_versions: Sequence[dict]
) -> None:
    """After checkpoints of a namespace were deleted: make roots of the checkpoints left whose
    parent was deleted, and delete the blobs only the deleted checkpoints referred to.

    Only the deleted checkpoints' versions are candidates (never "every blob nobody refers
    to"), so the blobs a concurrent put is inserting along with its checkpoint stay.
    """
    scope = Checkpoint.objects.filter(thread_id=thread_id, checkpoint_ns=checkpoint_ns)
    for batch in batches(deleted_ids, reserved=2):
        scope.filter(parent_checkpoint_id__in=batch).update(parent_checkpoint_id=None)
    freed = {(ch, str(v)) for versions in deleted_versions for ch, v in versions.items()}
    for versions in scope.values_list("channel_versions", flat=True):
        freed.difference_update((ch, str(v)) for ch, v in versions.items())
    by_channel: dict[str, list[str]] = defaultdict(list)
    for channel, version in freed:
        by_channel[channel].append(version)
    blobs = CheckpointBlob.objects.filter(thread_id=thread_id, checkpoint_ns=checkpoint_ns)
    for channel, versions in by_channel.items():
        for batch in batches(versions, reserved=3):
            blobs.filter(channel=channel, version__in=batch).delete()


_COPIED = {
    CHECKPOINTS: (
        "checkpoint_ns, checkpoint_id, parent_checkpoint_id, run_id, type, checkpoint, "
        "channel_versions, metadata, created_at",
        "parent_checkpoint_id = excluded.parent_checkpoint_id, run_id = excluded.run_id, "
        "type = excluded.type, checkpoint = excluded.checkpoint, "
        "channel_versions = excluded.channel_versions, metadata = excluded.metadata",
    ),
    BLOBS: (
        "checkpoint_ns, channel, version, type, blob",
        "type = excluded.type, blob = excluded.blob",
    ),
    WRITES: (
        "checkpoint_ns, checkpoint_id, task_id, task_path, idx, channel, type, blob",
        "task_path = excluded.task_path, channel = excluded.channel, type = excluded.type, "
        "blob = excluded.blob",
    ),
}


def copy_thread(source_thread_id: str, target_thread_id: str) -> None:
    """Copy every row of the source thread to the target, keeping checkpoint ids, namespaces,
    blobs and writes; rows of the target with the same keys are overwritten. An unknown source
    copies nothing."""
    if source_thread_id == target_thread_id:
        return
    with transaction.atomic(), connection.cursor() as cursor:
        for table, (columns, updates) in _COPIED.items():
            # SQLite needs the WHERE to tell the upsert's ON from a join's.
            cursor.execute(
                f"INSERT INTO {table} (thread_id, {columns}) "
                f"SELECT %s, {columns} FROM {table} WHERE thread_id = %s "
                f"ON CONFLICT ({UNIQUE_KEYS[table]}) DO UPDATE SET {updates}",
                [target_thread_id, source_thread_id],
            )


def prune(serde: SerializerProtocol, thread_ids: Sequence[str], strategy: str) -> None:
    """``prune``: ``"delete"`` removes the threads in one transaction; ``"keep_latest"`` keeps
    the latest checkpoint of each namespace with its writes and blobs, one transaction per
    thread.

    Unlike PostgresSaver, which refuses them, threads using a DeltaChannel are pruned too:
    the latest checkpoint also keeps its ancestors up to each delta channel's nearest stored
    value, so its history still rebuilds. Only checkpoints older than the latest are deleted,
    so a run appending to the thread meanwhile loses nothing.
    """
    if strategy == "delete":
        delete_threads(thread_ids)
        return
    for thread_id in thread_ids:
        with transaction.atomic():
            _keep_latest(serde, thread_id)


def _keep_latest(serde: SerializerProtocol, thread_id: str) -> None:
    thread = Checkpoint.objects.filter(thread_id=thread_id)
    heads = thread.values("checkpoint_ns").annotate(head=Max("checkpoint_id"))
    for ns, head in heads.values_list("checkpoint_ns", "head"):
        kept = {head}
        metadata = thread.get(checkpoint_ns=ns, checkpoint_id=head).metadata
        delta = list(metadata.get("counters_since_delta_snapshot") or ())
        if delta and (found := walk(serde, thread_id, ns, head, delta, from_parent=False)):
            kept.update(cid for chain in found.chains.values() for cid in chain)
        older = {"thread_id": thread_id, "checkpoint_ns": ns, "checkpoint_id__lt": head}
        doomed = Checkpoint.objects.filter(**older).exclude(checkpoint_id__in=kept)
        deleted = list(doomed.values_list("checkpoint_id", "channel_versions"))
        if deleted:
            CheckpointWrite.objects.filter(**older).exclude(checkpoint_id__in=kept).delete()
            doomed.delete()
            _forget(thread_id, ns, *zip(*deleted, strict=True))
