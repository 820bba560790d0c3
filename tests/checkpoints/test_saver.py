"""DjangoSaver behaviour beyond the conformance suite: storage layout, versions, races."""

import asyncio
import copy
import enum
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from langgraph.checkpoint.base import ERROR, INTERRUPT
from langgraph.checkpoint.serde.types import _DeltaSnapshot

from apps.checkpoints.models import Checkpoint, CheckpointBlob, CheckpointWrite
from tests.checkpoints.chains import Chain

pytestmark = pytest.mark.django_db(transaction=True)


class Colour(enum.StrEnum):
    RED = "red"


def stored_blobs(chain: Chain) -> set[tuple[str, str]]:
    return set(
        CheckpointBlob.objects.filter(thread_id=chain.thread_id).values_list("channel", "version")
    )


# --- versions -------------------------------------------------------------------------------


def test_next_versions_are_zero_padded_strings_that_sort_in_their_order(saver):
    versions = [None]
    for _ in range(12):
        versions.append(saver.get_next_version(versions[-1], None))

    counters = [v.split(".")[0] for v in versions[1:]]
    assert counters == [f"{n:032}" for n in range(1, 13)]
    assert sorted(versions[1:]) == versions[1:]


def test_next_version_continues_from_numeric_and_string_versions(saver):
    assert saver.get_next_version(7, None).startswith(f"{8:032}.")
    assert saver.get_next_version(f"{41:032}.0.5", None).startswith(f"{42:032}.")


def test_numeric_versions_are_stored_and_returned_as_they_were_given(saver):
    chain = Chain(saver)
    chain.put({"a": [1], "b": {"k": "v"}}, versions={"a": 1, "b": 2.5})
    chain.put({"a": [1, 2], "b": {"k": "v"}}, versions={"a": 2})

    latest = saver.get_tuple(chain.config).checkpoint

    assert latest["channel_versions"] == {"a": 2, "b": 2.5}
    assert latest["channel_values"] == {"a": [1, 2], "b": {"k": "v"}}


# --- storage layout -------------------------------------------------------------------------


def test_a_channel_that_did_not_change_is_stored_once_for_all_its_checkpoints(saver):
    chain = Chain(saver)
    chain.put({"big": ["unchanged"] * 50, "counter": [0]})
    for n in range(1, 5):
        chain.put({"big": ["unchanged"] * 50, "counter": [n]}, changed=("counter",))

    channels = [channel for channel, _ in stored_blobs(chain)]

    assert channels.count("counter") == 5
    assert saver.get_tuple(chain.config).checkpoint["channel_values"]["big"] == ["unchanged"] * 50


def test_only_the_channels_in_new_versions_are_written_as_blobs(saver):
    chain = Chain(saver)
    chain.put({"a": [1], "b": [1]})
    chain.put({"a": [2], "b": ["not stored: b did not change"]}, changed=("a",))

    assert sorted(channel for channel, _ in stored_blobs(chain)) == ["a", "a", "b"]
    assert saver.get_tuple(chain.config).checkpoint["channel_values"] == {"a": [2], "b": [1]}


def test_primitive_values_stay_in_the_row_and_keep_their_exact_type(saver):
    chain = Chain(saver)
    values = {"s": "text", "i": 3, "f": 1.5, "t": True, "n": None, "enum": Colour.RED}
    chain.put(values)

    loaded = saver.get_tuple(chain.config).checkpoint["channel_values"]

    assert loaded == values
    assert type(loaded["enum"]) is Colour
    assert {channel for channel, _ in stored_blobs(chain)} == {"enum"}


def test_run_id_of_the_metadata_is_copied_to_its_indexed_column(saver):
    chain = Chain(saver)
    chain.put({"a": "x"}, metadata={"run_id": "run-1"})

    assert Checkpoint.objects.get(thread_id=chain.thread_id).run_id == "run-1"


# --- writes ---------------------------------------------------------------------------------


def test_pending_writes_come_in_task_path_task_id_and_index_order(saver):
    chain = Chain(saver)
    at = chain.put({"a": "x"})
    chain.write(at, [("a", 1), ("a", 2)], "b-task", "~pull, 2")
    chain.write(at, [("a", 0)], "a-task", "~pull, 2")
    chain.write(at, [("a", -1)], "z-task", "~pull, 1")

    pending = saver.get_tuple(at).pending_writes

    assert pending == [
        ("z-task", "a", -1),
        ("a-task", "a", 0),
        ("b-task", "a", 1),
        ("b-task", "a", 2),
    ]
    assert CheckpointWrite.objects.filter(task_id="z-task").get().task_path == "~pull, 1"


def test_a_retried_task_keeps_its_first_regular_writes(saver):
    chain = Chain(saver)
    at = chain.put({"a": "x"})
    chain.write(at, [("a", "first")], "task")
    chain.write(at, [("a", "retry")], "task")

    assert saver.get_tuple(at).pending_writes == [("task", "a", "first")]


def test_special_channel_writes_overwrite_the_stored_ones(saver):
    chain = Chain(saver)
    at = chain.put({"a": "x"})
    chain.write(at, [(ERROR, "first failure")], "task")
    chain.write(at, [(ERROR, "second failure"), (INTERRUPT, "ask")], "task")

    assert saver.get_tuple(at).pending_writes == [
        ("task", INTERRUPT, "ask"),
        ("task", ERROR, "second failure"),
    ]


def test_concurrent_put_writes_from_many_threads_store_each_write_once(saver):
    chain = Chain(saver)
    at = chain.put({"a": "x"})
    start = threading.Barrier(8)

    def write(n: int) -> None:
        start.wait(timeout=30)
        # Two threads per task id: the same keys race, regular and special alike.
        saver.put_writes(at, [("a", n), ("b", n)], f"task-{n % 4}", f"~pull, {n % 4}")
        saver.put_writes(at, [(ERROR, n)], f"task-{n % 4}")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(write, range(8)))

    pending = saver.get_tuple(at).pending_writes
    assert len(pending) == 12
    assert {(task, channel) for task, channel, _ in pending} == {
        (f"task-{t}", channel) for t in range(4) for channel in ("a", "b", ERROR)
    }


async def test_concurrent_async_put_writes_store_each_write_once(saver):
    chain = Chain(saver)
    at = chain.put({"a": "x"})

    await asyncio.gather(
        *(saver.aput_writes(at, [("a", n), (ERROR, n)], f"task-{n % 5}") for n in range(20))
    )

    pending = (await saver.aget_tuple(at)).pending_writes
    assert sorted((task, channel) for task, channel, _ in pending) == sorted(
        (f"task-{t}", channel) for t in range(5) for channel in ("a", ERROR)
    )


def test_concurrent_puts_of_the_same_checkpoint_never_conflict(saver):
    chain = Chain(saver)
    parent = chain.put({"a": [0]})
    checkpoint = saver.get_tuple(parent).checkpoint
    start = threading.Barrier(6)

    def put(n: int) -> None:
        start.wait(timeout=30)
        child = {
            **checkpoint,
            "id": "1f000000-0000-6000-8000-000000000001",
            "channel_values": {"a": [1]},
        }
        child["channel_versions"] = {"a": "2"}
        saver.put(parent, child, {"step": n}, {"a": "2"})

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(put, range(6)))

    assert Checkpoint.objects.filter(thread_id=chain.thread_id).count() == 2
    assert stored_blobs(chain) == {("a", chain.versions["a"]), ("a", "2")}


# --- reads ----------------------------------------------------------------------------------


def test_an_unknown_thread_has_no_checkpoint(saver):
    assert saver.get_tuple({"configurable": {"thread_id": "nobody", "checkpoint_ns": ""}}) is None


def test_list_without_config_covers_every_thread_newest_first(saver):
    first, second = Chain(saver), Chain(saver)
    a = first.put({"a": "x"}, metadata={"tag": first.thread_id})
    b = second.put({"a": "y"}, metadata={"tag": first.thread_id})

    listed = [t.config for t in saver.list(None, filter={"tag": first.thread_id})]

    assert listed == [b, a]


def test_list_filters_on_nested_metadata_and_strings(saver):
    chain = Chain(saver)
    chain.put({"a": "x"}, metadata={"source": "input", "parents": {"": "p1"}, "n": 1})
    wanted = chain.put({"a": "y"}, metadata={"source": "loop", "parents": {"": "p2"}, "n": 1})

    listed = list(saver.list(chain.config, filter={"parents": {"": "p2"}, "n": 1}))

    assert [t.config for t in listed] == [wanted]
    assert list(saver.list(chain.config, filter={"n": "1"})) == []


def test_get_tuple_takes_one_query(saver, queries_of):
    chain = Chain(saver)
    for n in range(5):
        at = chain.put({"a": [n], "b": "inline"})
        chain.write(at, [("a", n)], f"task-{n}")

    assert queries_of(lambda: saver.get_tuple(chain.config)) == 1
    assert queries_of(lambda: saver.get_tuple(at)) == 1


def test_list_takes_three_queries_whatever_the_number_of_checkpoints(saver, queries_of):
    chain = Chain(saver)
    for n in range(30):
        at = chain.put({"a": [n], "b": "inline"})
        chain.write(at, [("a", n)], f"task-{n}")

    assert queries_of(lambda: list(saver.list(chain.config, limit=2))) == 3
    assert queries_of(lambda: list(saver.list(chain.config))) == 3


# --- deletes, copies, prunes -----------------------------------------------------------------


def test_deleting_a_run_drops_the_blobs_only_it_used(saver):
    chain = Chain(saver)
    kept = chain.put({"a": [1]}, metadata={"run_id": "keep"})
    chain.put({"a": [1], "b": [2]}, changed=("b",), metadata={"run_id": "drop"})

    saver.delete_for_runs(["drop"])

    assert {channel for channel, _ in stored_blobs(chain)} == {"a"}
    assert saver.get_tuple(chain.config).checkpoint["channel_values"] == {"a": [1]}
    assert saver.get_tuple(chain.config).config == kept


def test_a_copied_thread_keeps_its_state_when_the_source_is_deleted(saver):
    source = Chain(saver)
    at = source.put({"a": [1], "s": "inline"})
    source.write(at, [("a", [2])], "task", "~pull, 1")
    target = f"{source.thread_id}-copy"

    saver.copy_thread(source.thread_id, target)
    saver.delete_thread(source.thread_id)

    copied = saver.get_tuple({"configurable": {"thread_id": target, "checkpoint_ns": ""}})
    assert copied.checkpoint["id"] == at["configurable"]["checkpoint_id"]
    assert copied.checkpoint["channel_values"] == {"a": [1], "s": "inline"}
    assert copied.pending_writes == [("task", "a", [2])]


def test_prune_keeps_the_latest_checkpoint_its_writes_and_the_blobs_it_refers_to(saver):
    chain = Chain(saver)
    chain.put({"kept": ["since the start"], "a": [0]})
    for n in range(1, 4):
        at = chain.put({"kept": ["since the start"], "a": [n]}, changed=("a",))
        chain.write(at, [("a", [n])], f"task-{n}")
    latest = saver.get_tuple(chain.config)

    saver.prune([chain.thread_id], strategy="keep_latest")

    assert [t.checkpoint["id"] for t in saver.list(chain.config)] == [latest.checkpoint["id"]]
    assert saver.get_tuple(chain.config).checkpoint == latest.checkpoint
    assert saver.get_tuple(chain.config).pending_writes == latest.pending_writes
    assert saver.get_tuple(chain.config).parent_config is None
    assert len(stored_blobs(chain)) == 2
    assert CheckpointWrite.objects.filter(thread_id=chain.thread_id).count() == 1


def test_prune_keeps_the_ancestors_a_delta_channel_is_rebuilt_from(saver):
    chain = Chain(saver)
    delta = {"counters_since_delta_snapshot": {"items": [2, 2]}}
    chain.put({"items": _DeltaSnapshot(["old"])}, metadata=delta)
    snapshot = chain.put({"items": _DeltaSnapshot(["old", "snap"])}, metadata=delta)
    chain.write(snapshot, [("items", ["a"])], "t1")
    middle = chain.put(changed=("items",), metadata=delta)
    chain.write(middle, [("items", ["b"])], "t2")
    head = chain.put(changed=("items",), metadata=delta)
    before = saver.get_delta_channel_history(config=head, channels=["items"])

    saver.prune([chain.thread_id])

    assert len(list(saver.list(chain.config))) == 3
    assert saver.get_delta_channel_history(config=head, channels=["items"]) == before


def test_prune_with_delete_removes_the_threads_entirely(saver):
    chain = Chain(saver)
    at = chain.put({"a": [1]})
    chain.write(at, [("a", 1)], "task")

    saver.prune([chain.thread_id], strategy="delete")

    assert not Checkpoint.objects.filter(thread_id=chain.thread_id).exists()
    assert not stored_blobs(chain)
    assert not CheckpointWrite.objects.filter(thread_id=chain.thread_id).exists()


def test_prune_refuses_a_single_thread_id_string_and_unknown_strategies(saver):
    with pytest.raises(TypeError):
        saver.prune("thread")
    with pytest.raises(ValueError, match="strategy"):
        saver.prune(["thread"], strategy="everything")


# --- copies of the saver --------------------------------------------------------------------


def test_a_saver_with_a_stricter_allowlist_is_a_working_shallow_copy(saver):
    strict = saver.with_allowlist([("tests.checkpoints.test_saver", "Colour")])
    clone = copy.copy(saver)
    chain = Chain(strict)
    chain.put({"colour": Colour.RED})

    assert clone.get_tuple(chain.config).checkpoint["channel_values"] == {"colour": Colour.RED}
