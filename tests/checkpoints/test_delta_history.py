"""get_delta_channel_history: the seed and the writes a DeltaChannel is rebuilt from."""

import random

import pytest
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.serde.types import _DeltaSnapshot

from apps.checkpoints import history
from tests.checkpoints.chains import Chain

pytestmark = pytest.mark.django_db(transaction=True)


def history_of(saver, head, *channels):
    return saver.get_delta_channel_history(config=head, channels=list(channels))


def test_history_starts_at_the_parent_so_the_heads_own_writes_are_left_out(saver):
    chain = Chain(saver)
    root = chain.put({"items": _DeltaSnapshot(["a"])})
    chain.write(root, [("items", ["b"])], "t1")
    middle = chain.put(changed=("items",))
    chain.write(middle, [("items", ["c"])], "t2")
    head = chain.put(changed=("items",))
    chain.write(head, [("items", ["pending"])], "t3")

    found = history_of(saver, head, "items")

    assert found == {
        "items": {
            "seed": _DeltaSnapshot(["a"]),
            "writes": [("t1", "items", ["b"]), ("t2", "items", ["c"])],
        }
    }
    assert isinstance(found["items"]["seed"], _DeltaSnapshot)


def test_walk_stops_at_the_nearest_snapshot_and_keeps_the_writes_stored_at_it(saver):
    chain = Chain(saver)
    old = chain.put({"items": _DeltaSnapshot(["old"])})
    chain.write(old, [("items", ["too old"])], "t0")
    snapshot = chain.put({"items": _DeltaSnapshot(["old", "new"])})
    chain.write(snapshot, [("items", ["x"]), ("other", "ignored")], "t1")
    after = chain.put(changed=("items",))
    chain.write(after, [("items", ["y"])], "t2")
    head = chain.put(changed=("items",))

    assert history_of(saver, head, "items") == {
        "items": {
            "seed": _DeltaSnapshot(["old", "new"]),
            "writes": [("t1", "items", ["x"]), ("t2", "items", ["y"])],
        }
    }


def test_a_plain_value_stored_before_the_channel_became_a_delta_seeds_the_walk(saver):
    chain = Chain(saver)
    migrated = chain.put({"items": ["from", "before"]})
    chain.write(migrated, [("items", ["z"])], "t1")
    head = chain.put(changed=("items",))

    assert history_of(saver, head, "items") == {
        "items": {"seed": ["from", "before"], "writes": [("t1", "items", ["z"])]}
    }


def test_an_inline_primitive_value_seeds_the_walk(saver):
    chain = Chain(saver)
    chain.put({"title": "draft"})
    head = chain.put(changed=("title",))

    assert history_of(saver, head, "title") == {"title": {"seed": "draft", "writes": []}}


def test_without_a_stored_value_the_walk_reaches_the_root_and_has_no_seed(saver):
    chain = Chain(saver)
    root = chain.put(changed=("items",))
    chain.write(root, [("items", ["a"])], "t1")
    middle = chain.put(changed=("items",))
    chain.write(middle, [("items", ["b"])], "t2")
    head = chain.put(changed=("items",))

    assert history_of(saver, head, "items") == {
        "items": {"writes": [("t1", "items", ["a"]), ("t2", "items", ["b"])]}
    }


def test_each_channel_stops_at_its_own_nearest_stored_value(saver):
    chain = Chain(saver)
    first = chain.put({"a": _DeltaSnapshot([1]), "b": _DeltaSnapshot([10])})
    chain.write(first, [("a", [2]), ("b", [20])], "t1")
    second = chain.put({"a": _DeltaSnapshot([1, 2])}, changed=("a", "b"))
    chain.write(second, [("a", [3]), ("b", [30])], "t2")
    head = chain.put(changed=("a", "b"))

    assert history_of(saver, head, "a", "b") == {
        "a": {"seed": _DeltaSnapshot([1, 2]), "writes": [("t2", "a", [3])]},
        "b": {"seed": _DeltaSnapshot([10]), "writes": [("t1", "b", [20]), ("t2", "b", [30])]},
    }


def test_no_channels_give_an_empty_history(saver):
    chain = Chain(saver)
    chain.put({"items": _DeltaSnapshot([])})
    head = chain.put(changed=("items",))

    assert history_of(saver, head) == {}


def test_writes_of_one_checkpoint_come_in_task_path_then_task_id_then_index_order(saver):
    chain = Chain(saver)
    parent = chain.put({"items": _DeltaSnapshot([])})
    # The task ids sort the other way round from their paths: the path decides.
    chain.write(parent, [("items", ["second"]), ("items", ["third"])], "a-task", "~pull, 2")
    chain.write(parent, [("items", ["first"])], "z-task", "~pull, 1")
    chain.write(parent, [("items", ["input"])], "m-task", "")
    head = chain.put(changed=("items",))

    writes = history_of(saver, head, "items")["items"]["writes"]

    assert [value for _, _, value in writes] == [["input"], ["first"], ["second"], ["third"]]


def test_a_fork_replays_only_the_writes_on_its_own_path(saver):
    chain = Chain(saver)
    root = chain.put({"items": _DeltaSnapshot([])})
    chain.write(root, [("items", ["shared"])], "t1")
    branch_point = chain.put(changed=("items",))
    chain.write(branch_point, [("items", ["left"])], "t2")
    chain.put(changed=("items",))
    fork = chain.put(changed=("items",), parent=branch_point)
    chain.write(fork, [("items", ["right"])], "t3")
    head = chain.put(changed=("items",), parent=fork)

    writes = history_of(saver, head, "items")["items"]["writes"]

    assert [value for _, _, value in writes] == [["shared"], ["left"], ["right"]]
    assert history_of(saver, fork, "items")["items"]["writes"] == [
        ("t1", "items", ["shared"]),
        ("t2", "items", ["left"]),
    ]


def test_an_unknown_checkpoint_has_an_empty_history_for_each_channel(saver):
    chain = Chain(saver)
    chain.put({"items": _DeltaSnapshot([])})
    unknown = {"configurable": {**chain.config["configurable"], "checkpoint_id": "nope"}}

    assert history_of(saver, unknown, "items", "other") == {
        "items": {"writes": []},
        "other": {"writes": []},
    }


def test_without_a_checkpoint_id_the_history_is_the_latest_checkpoints(saver):
    chain = Chain(saver)
    root = chain.put({"items": _DeltaSnapshot(["a"])})
    chain.write(root, [("items", ["b"])], "t1")
    chain.put(changed=("items",))

    assert history_of(saver, chain.config, "items") == {
        "items": {"seed": _DeltaSnapshot(["a"]), "writes": [("t1", "items", ["b"])]}
    }


def test_the_walk_continues_across_pages_of_checkpoints(saver, monkeypatch):
    monkeypatch.setattr(history, "PAGE_SIZE", 3)
    chain = Chain(saver)
    chain.put({"items": _DeltaSnapshot([0])})
    for step in range(1, 11):
        chain.write(chain.head, [("items", [step])], f"t{step}")
        chain.put(changed=("items",))

    found = history_of(saver, chain.head, "items")["items"]

    assert found["seed"] == _DeltaSnapshot([0])
    assert [value for _, _, value in found["writes"]] == [[step] for step in range(1, 11)]


async def test_async_history_equals_sync_history(saver):
    chain = Chain(saver)
    root = chain.put({"items": _DeltaSnapshot(["a"])})
    chain.write(root, [("items", ["b"])], "t1")
    head = chain.put(changed=("items",))

    found = await saver.aget_delta_channel_history(config=head, channels=["items"])

    assert found == history_of(saver, head, "items")


def test_history_matches_the_base_class_walk_on_a_branching_thread(saver):
    rnd = random.Random(20)
    chain = Chain(saver)
    heads = [chain.put({"a": _DeltaSnapshot([]), "b": "start"})]
    for step in range(40):
        parent = rnd.choice(heads[-5:])
        values = {}
        if rnd.random() < 0.2:
            values["a"] = _DeltaSnapshot([step])
        if rnd.random() < 0.1:
            values["b"] = f"plain {step}"
        moved = tuple(ch for ch in ("a", "b") if ch not in values and rnd.random() < 0.7)
        head = chain.put(values, changed=(*values, *moved), parent=parent)
        for task in range(rnd.randint(0, 2)):
            chain.write(head, [(rnd.choice("ab"), step), ("a", -step)], f"t{step}-{task}")
        heads.append(head)

    for head in heads:
        expected = BaseCheckpointSaver.get_delta_channel_history(
            saver, config=head, channels=["a", "b"]
        )
        assert history_of(saver, head, "a", "b") == expected


def test_history_of_a_long_chain_takes_as_few_queries_as_a_short_one(saver, queries_of):
    def chain_of(length):
        chain = Chain(saver)
        chain.put({"items": _DeltaSnapshot([])})
        for step in range(length):
            chain.write(chain.head, [("items", [step])], f"t{step}")
            chain.put(changed=("items",))
        return chain.head

    short, long = chain_of(3), chain_of(60)

    assert queries_of(lambda: history_of(saver, long, "items")) == queries_of(
        lambda: history_of(saver, short, "items")
    )
    assert len(history_of(saver, long, "items")["items"]["writes"]) == 60
