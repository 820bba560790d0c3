"""Walks up a checkpoint's parent chain, for DeltaChannel history.

A ``DeltaChannel`` stores its value only now and then (a ``_DeltaSnapshot`` blob); in between,
a checkpoint holds nothing for it, and LangGraph rebuilds the value from the nearest stored
value up the parent chain plus the writes stored on the way. ``delta_history`` reads that, and
``maintenance.prune`` keeps the same chain alive. Everything here runs on a database thread.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from operator import itemgetter
from typing import Any, NamedTuple

import orjson
from django.db import connection
from langgraph.checkpoint.base import DeltaChannelHistory, PendingWrite, writes_sort_key
from langgraph.checkpoint.serde.base import SerializerProtocol

from apps.checkpoints import storage

# Rows read per round trip, newest first. A walk usually ends within one page: LangGraph
# snapshots a DeltaChannel every few updates.
PAGE_SIZE = 256


class Walk(NamedTuple):
    """Where each channel's walk went: ``chains[ch]`` lists the checkpoint ids visited,
    newest first, ending at the seed's checkpoint when there is one; ``seeds[ch]`` is
    ``("inline", value)`` or ``("blob", version)``, absent when the walk found no value."""

    target_id: str
    chains: dict[str, list[str]]
    seeds: dict[str, tuple[str, Any]]


def walk(
    serde: SerializerProtocol,
    thread_id: str,
    checkpoint_ns: str,
    checkpoint_id: str | None,
    channels: Sequence[str],
    *,
    from_parent: bool,
) -> Walk | None:
    """Walk each channel up from the target checkpoint (the latest without an id), or from
    its parent, to the nearest checkpoint storing a value for it. None if no target.

    A value is stored when it sits inline in the checkpoint or as a blob at the checkpoint's
    version of the channel. Each channel stops on its own; a walk also stops at the root or
    at a parent that no longer exists. Ancestors have smaller ids than their children (uuid6
    ids sort in time order), so pages go down from the target and never need to go back up.
    """
    nodes: dict[str, tuple[str | None, dict, dict]] = {}  # id -> (parent, versions, inline)
    probed: dict[tuple[str, str], bool] = {}  # (channel, version) -> a blob is stored
    chains: dict[str, list[str]] = {ch: [] for ch in channels}
    seeds: dict[str, tuple[str, Any]] = {}
    cursors: dict[str, str | None] = {}
    walking = set(channels)
    target, bound, inclusive = checkpoint_id, checkpoint_id, True
    while True:
        page = _page(thread_id, checkpoint_ns, bound, inclusive)
        if not page:  # nothing older: the walks still going end at a missing parent
            return Walk(target, chains, seeds) if target in nodes else None
        for cid, parent, type_, payload, versions in page:
            inline = serde.loads_typed((type_, bytes(payload)))["channel_values"]
            nodes[cid] = (parent, orjson.loads(versions), inline)
        target = target or page[0][0]
        if target not in nodes:
            return None
        if not cursors:
            cursors = dict.fromkeys(channels, nodes[target][0] if from_parent else target)
        _probe(thread_id, checkpoint_ns, [nodes[row[0]] for row in page], walking, probed)
        oldest = page[-1][0]
        for ch in list(walking):
            cid = cursors[ch]
            while cid in nodes and ch not in seeds:
                parent, versions, inline = nodes[cid]
                chains[ch].append(cid)
                if ch in inline:
                    seeds[ch] = ("inline", inline[ch])
                elif (version := versions.get(ch)) is not None and probed.get((ch, str(version))):
                    seeds[ch] = ("blob", str(version))
                cid = parent
            cursors[ch] = cid
            # An id not loaded though newer than everything loaded was deleted: the walk ends.
            if ch in seeds or cid is None or cid > oldest:
                walking.discard(ch)
        if not walking or len(page) < PAGE_SIZE:
            return Walk(target, chains, seeds)
        bound, inclusive = oldest, False


def _page(thread_id: str, checkpoint_ns: str, bound: str | None, inclusive: bool) -> list[tuple]:
    text = "::text" if connection.vendor == "postgresql" else ""
    sql = (
        f"SELECT checkpoint_id, parent_checkpoint_id, type, checkpoint, channel_versions{text} "
        f"FROM {storage.CHECKPOINTS} WHERE thread_id = %s AND checkpoint_ns = %s"
    )
    params: list[Any] = [thread_id, checkpoint_ns]
    if bound is not None:
        sql += " AND checkpoint_id <= %s" if inclusive else " AND checkpoint_id < %s"
        params.append(bound)
    sql += " ORDER BY checkpoint_id DESC LIMIT %s"
    return storage.execute(sql, [*params, PAGE_SIZE], fetch=True)


def _probe(
    thread_id: str,
    checkpoint_ns: str,
    nodes: list[tuple[str | None, dict, dict]],
    channels: set[str],
    probed: dict[tuple[str, str], bool],
) -> None:
    """Record, in one query, which blobs the page's checkpoints have for the channels."""
    wanted = set()
    for _, versions, inline in nodes:
        for ch in channels:
            version = versions.get(ch)
            if ch not in inline and version is not None and (ch, str(version)) not in probed:
                wanted.add((thread_id, checkpoint_ns, ch, str(version)))
    found = storage.existing_blobs(wanted)
    for key in wanted:
        probed[key[2:]] = key in found


def delta_history(
    serde: SerializerProtocol,
    thread_id: str,
    checkpoint_ns: str,
    checkpoint_id: str | None,
    channels: Sequence[str],
) -> Mapping[str, DeltaChannelHistory]:
    """``get_delta_channel_history``: per channel, the writes stored on the target's ancestors
    from its parent up to and including the seed's checkpoint, oldest first (each
    checkpoint's in ``writes_sort_key`` order), and the seed value when the walk found one.

    About 4 queries for a walk within one page: the page, the blob probe, the writes of all
    the chains, the seed blobs. Values are deserialized here, on the database thread.
    """
    found = walk(serde, thread_id, checkpoint_ns, checkpoint_id, channels, from_parent=True)
    if found is None:
        return {ch: {"writes": []} for ch in channels}
    scope = (thread_id, checkpoint_ns)
    on_chain = {(*scope, cid) for chain in found.chains.values() for cid in chain}
    stored: dict[tuple[str, str], list] = defaultdict(list)
    for _, _, cid, task_path, task_id, idx, ch, type_, blob in storage.select_writes(
        on_chain, channels=list(channels)
    ):
        stored[(cid, ch)].append(
            (writes_sort_key(task_path, task_id, idx), task_id, (type_, bytes(blob)))
        )
    blobs = storage.select_blobs(
        (*scope, ch, version) for ch, (kind, version) in found.seeds.items() if kind == "blob"
    )
    result: dict[str, DeltaChannelHistory] = {}
    for ch in channels:
        writes: list[PendingWrite] = []
        for cid in reversed(found.chains[ch]):
            for _, task_id, typed in sorted(stored.get((cid, ch), []), key=itemgetter(0)):
                writes.append((task_id, ch, serde.loads_typed(typed)))
        entry: DeltaChannelHistory = {"writes": writes}
        kind, seed = found.seeds.get(ch, (None, None))
        if kind == "inline":
            entry["seed"] = seed
        elif kind == "blob" and (typed := blobs.get((*scope, ch, seed))) is not None:
            entry["seed"] = serde.loads_typed(typed)
        result[ch] = entry
    return result
