"""A real LangGraph graph running on DjangoSaver: interrupts, resumes, history, DeltaChannel."""

from __future__ import annotations

import operator
from typing import Annotated, TypedDict
from uuid import uuid4

import pytest
from langgraph.channels.delta import DeltaChannel
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt

pytestmark = pytest.mark.django_db(transaction=True)


class Review(TypedDict):
    draft: str
    verdict: str
    log: Annotated[list[str], operator.add]


def write(state: Review) -> dict:
    return {"draft": "a draft", "log": ["written"]}


def ask(state: Review) -> dict:
    verdict = interrupt({"question": f"approve {state['draft']!r}?"})
    return {"verdict": verdict, "log": [f"reviewed: {verdict}"]}


def publish(state: Review) -> dict:
    return {"log": ["published" if state["verdict"] == "yes" else "dropped"]}


def review_graph(saver):
    builder = StateGraph(Review)
    builder.add_node("write", write)
    builder.add_node("ask", ask)
    builder.add_node("publish", publish)
    builder.add_edge(START, "write")
    builder.add_edge("write", "ask")
    builder.add_edge("ask", "publish")
    builder.add_edge("publish", END)
    return builder.compile(checkpointer=saver)


def config() -> dict:
    return {"configurable": {"thread_id": str(uuid4())}}


def test_a_graph_pauses_at_an_interrupt_and_resumes_with_a_command(saver):
    graph, cfg = review_graph(saver), config()

    paused = graph.invoke({"log": []}, cfg)

    assert paused["__interrupt__"][0].value == {"question": "approve 'a draft'?"}
    assert graph.get_state(cfg).next == ("ask",)
    assert graph.invoke(Command(resume="yes"), cfg)["log"] == [
        "written",
        "reviewed: yes",
        "published",
    ]
    assert graph.get_state(cfg).next == ()


def test_state_history_lists_every_checkpoint_newest_first(saver):
    graph, cfg = review_graph(saver), config()
    graph.invoke({"log": []}, cfg)
    graph.invoke(Command(resume="no"), cfg)

    history = list(graph.get_state_history(cfg))

    assert [snapshot.next for snapshot in history] == [
        (),
        ("publish",),
        ("ask",),
        ("write",),
        ("__start__",),
    ]
    assert history[0].values["log"] == ["written", "reviewed: no", "dropped"]
    assert history[-1].values == {"log": []}
    stored = [t.config["configurable"]["checkpoint_id"] for t in saver.list(cfg)]
    assert [s.config["configurable"]["checkpoint_id"] for s in history] == stored


async def test_the_async_api_pauses_resumes_and_lists_history_too(saver):
    graph, cfg = review_graph(saver), config()

    paused = await graph.ainvoke({"log": []}, cfg)
    done = await graph.ainvoke(Command(resume="yes"), cfg)

    assert "__interrupt__" in paused
    assert done["log"] == ["written", "reviewed: yes", "published"]
    assert (await graph.aget_state(cfg)).next == ()
    assert len([s async for s in graph.aget_state_history(cfg)]) == 5


def test_a_fork_of_an_earlier_checkpoint_asks_again_and_branches_the_history(saver):
    graph, cfg = review_graph(saver), config()
    graph.invoke({"log": []}, cfg)
    graph.invoke(Command(resume="no"), cfg)
    before_review = next(s for s in graph.get_state_history(cfg) if s.next == ("ask",))

    fork = graph.update_state(before_review.config, {"draft": "second draft"})
    asked = graph.invoke(None, fork)
    done = graph.invoke(Command(resume="yes"), cfg)

    assert asked["__interrupt__"][0].value == {"question": "approve 'second draft'?"}
    assert done["log"] == ["written", "reviewed: yes", "published"]
    assert len(list(graph.get_state_history(cfg))) == 8


def append(state: list[str], writes: list[list[str]]) -> list[str]:
    return [*state, *(item for write in writes for item in write)]


class Notes(TypedDict):
    notes: Annotated[list[str], DeltaChannel(append, snapshot_frequency=3)]


def take_note(state: Notes) -> dict:
    return {"notes": [f"note {len(state['notes'])}"]}


def notes_graph(saver):
    builder = StateGraph(Notes)
    builder.add_node("take_note", take_note)
    builder.add_edge(START, "take_note")
    builder.add_edge("take_note", END)
    return builder.compile(checkpointer=saver)


def test_a_delta_channel_is_rebuilt_from_its_history_and_survives_pruning(saver):
    graph, cfg = notes_graph(saver), config()
    for _ in range(7):
        graph.invoke({"notes": []}, cfg)
    expected = [f"note {n}" for n in range(7)]

    assert graph.get_state(cfg).values["notes"] == expected
    saver.prune([cfg["configurable"]["thread_id"]])
    assert len(list(saver.list(cfg))) < 7 * 3
    assert graph.get_state(cfg).values["notes"] == expected
    graph.invoke({"notes": []}, cfg)
    assert graph.get_state(cfg).values["notes"] == [*expected, "note 7"]
