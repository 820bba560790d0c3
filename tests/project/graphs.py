"""Graphs of the test project: small, deterministic, model calls faked."""

from __future__ import annotations

import json
import operator
import time
import uuid
from typing import Annotated

from langchain_core.language_models.fake_chat_models import FakeListChatModel, GenericFakeChatModel
from langchain_core.messages import AIMessageChunk, AnyMessage, ToolMessage
from langchain_core.outputs import ChatGenerationChunk
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import tool
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.graph.message import add_messages
from langgraph.prebuilt import ToolNode, tools_condition
from langgraph.store.base import BaseStore
from langgraph.types import interrupt
from typing_extensions import TypedDict


class ChatState(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]
    steps: Annotated[list[str], operator.add]


model = FakeListChatModel(responses=["Hello from the agent."])


def call_model(state: ChatState) -> dict:
    return {"messages": [model.invoke(state["messages"])], "steps": ["agent"]}


def finish(state: ChatState) -> dict:
    return {"steps": ["finish"]}


_agent = StateGraph(ChatState)
_agent.add_node("agent", call_model)
_agent.add_node("finish", finish)
_agent.add_edge(START, "agent")
_agent.add_edge("agent", "finish")
_agent.add_edge("finish", END)
agent = _agent.compile()


class ApprovalState(TypedDict):
    request: str
    decision: str


def ask(state: ApprovalState) -> dict:
    return {"decision": interrupt({"question": f"Approve {state.get('request')}?"})}


_approval = StateGraph(ApprovalState)
_approval.add_node("ask", ask)
_approval.add_edge(START, "ask")
_approval.add_edge("ask", END)
approval = _approval  # uncompiled on purpose: the registry compiles StateGraphs


class InnerState(TypedDict):
    steps: Annotated[list[str], operator.add]


def inner_step(state: InnerState) -> dict:
    return {"steps": ["inner"]}


_inner = StateGraph(InnerState)
_inner.add_node("inner_step", inner_step)
_inner.add_edge(START, "inner_step")
_inner.add_edge("inner_step", END)

_nested = StateGraph(InnerState)
_nested.add_node("child", _inner.compile())
_nested.add_edge(START, "child")
_nested.add_edge("child", END)
nested = _nested.compile(name="Nested graph")


def make_configured(config: RunnableConfig):
    """A factory: the graph is built per use from the run's config."""
    suffix = config.get("configurable", {}).get("suffix", "!")

    def shout(state: InnerState) -> dict:
        return {"steps": [f"configured{suffix}"]}

    builder = StateGraph(InnerState)
    builder.add_node("shout", shout)
    builder.add_edge(START, "shout")
    builder.add_edge("shout", END)
    return builder.compile()


class LoopState(TypedDict):
    count: int
    target: int
    delay: float


def tick(state: LoopState) -> dict:
    # The work of a step: long enough for a test to cancel or crash the run in the middle.
    time.sleep(state.get("delay", 0.0))
    return {"count": state.get("count", 0) + 1}


def more_ticks(state: LoopState) -> str:
    return "tick" if state["count"] < state.get("target", 1) else END


_slow = StateGraph(LoopState)
_slow.add_node("tick", tick)
_slow.add_edge(START, "tick")
_slow.add_conditional_edges("tick", more_ticks)
slow = _slow.compile()


def explode(state: InnerState) -> dict:
    raise ValueError("the node failed on purpose")


_failing = StateGraph(InnerState)
_failing.add_node("explode", explode)
_failing.add_edge(START, "explode")
failing = _failing.compile()


class PairState(TypedDict):
    answers: Annotated[list[str], operator.add]


def ask_left(state: PairState) -> dict:
    return {"answers": [f"left:{interrupt('left?')}"]}


def ask_right(state: PairState) -> dict:
    return {"answers": [f"right:{interrupt('right?')}"]}


_pair = StateGraph(PairState)
_pair.add_node("ask_left", ask_left)
_pair.add_node("ask_right", ask_right)
_pair.add_edge(START, "ask_left")
_pair.add_edge(START, "ask_right")
parallel_approval = _pair.compile()


def write_custom(state: InnerState) -> dict:
    writer = get_stream_writer()
    writer({"progress": 50})
    writer({"progress": 100})
    return {"steps": ["custom"]}


_custom = StateGraph(InnerState)
_custom.add_node("write_custom", write_custom)
_custom.add_edge(START, "write_custom")
custom = _custom.compile()


class RecordState(TypedDict):
    steps: Annotated[list[str], operator.add]
    delay: float


def _record(node: str, config: RunnableConfig) -> None:
    """Note in a side table that this node executed (crash tests count these)."""
    from django.db import connection

    run_id = config["configurable"]["run_id"]
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS test_node_executions (run_id text, node text)")
        cursor.execute(
            "INSERT INTO test_node_executions (run_id, node) VALUES (%s, %s)", [run_id, node]
        )


def _recording_node(name: str):
    def node(state: RecordState, config: RunnableConfig) -> dict:
        _record(name, config)
        time.sleep(state.get("delay", 0.0))
        return {"steps": [name]}

    return node


_recorder = StateGraph(RecordState)
_previous = START
for _name in ("one", "two", "three", "four", "five", "six"):
    _recorder.add_node(_name, _recording_node(_name))
    _recorder.add_edge(_previous, _name)
    _previous = _name
recorder = _recorder.compile()


class WhoState(TypedDict):
    identity: str
    tenant_id: str
    remembered: int


async def remember_me(state: WhoState, config: RunnableConfig, *, store: BaseStore) -> dict:
    """Note the caller in its own memory namespace (as per-user memory does) and say who ran."""
    user = config["configurable"]["langgraph_auth_user"]
    namespace = ("memories", user.identity)
    await store.aput(namespace, "last_run", {"run_id": config["configurable"]["run_id"]})
    return {
        "identity": config["configurable"]["langgraph_auth_user_id"],
        "tenant_id": user["tenant_id"],
        "remembered": len(await store.asearch(namespace)),
    }


_whoami = StateGraph(WhoState)
_whoami.add_node("remember_me", remember_me)
_whoami.add_edge(START, "remember_me")
whoami = _whoami.compile()


@tool
def lookup(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


class ResearchModel(GenericFakeChatModel):
    """Streams "Let me look that up." word by word and then a ``lookup`` call in two slices,
    under its own (provider) message id; after the tool answered, streams the answer."""

    messages: object = iter(())

    def bind_tools(self, tools, **kwargs):
        return self

    def _stream(self, messages, stop=None, run_manager=None, **kwargs):
        message_id = f"msg-{uuid.uuid4().hex[:12]}"
        answered = isinstance(messages[-1], ToolMessage)
        text = f"The weather: {messages[-1].content}." if answered else "Let me look that up."
        for position, word in enumerate(text.split(" ")):
            piece = word if position == 0 else f" {word}"
            yield ChatGenerationChunk(message=AIMessageChunk(content=piece, id=message_id))
        if answered:
            return
        args = json.dumps({"city": "Paris"})
        for piece, first in ((args[:6], True), (args[6:], False)):
            call = {
                "id": "call-lookup-1" if first else None,
                "name": "lookup" if first else None,
                "args": piece,
                "index": 0,
            }
            chunk = AIMessageChunk(content="", id=message_id, tool_call_chunks=[call])
            yield ChatGenerationChunk(message=chunk)


research_model = ResearchModel()


def research(state: MessagesState) -> dict:
    return {"messages": [research_model.invoke(state["messages"])]}


_researcher = StateGraph(MessagesState)
_researcher.add_node("model", research)
_researcher.add_node("tools", ToolNode([lookup]))
_researcher.add_edge(START, "model")
_researcher.add_conditional_edges("model", tools_condition)
_researcher.add_edge("tools", "model")
researcher = _researcher.compile()

# The researcher as a subgraph: its messages and tool calls stream at its namespace.
_team = StateGraph(MessagesState)
_team.add_node("researcher", researcher)
_team.add_edge(START, "researcher")
team = _team.compile()


def report_progress(state: InnerState) -> dict:
    writer = get_stream_writer()
    for percent in (25, 50, 100):
        writer({"name": "progress", "payload": {"percent": percent}})
    writer({"note": "unnamed"})
    return {"steps": ["progress"]}


_progress = StateGraph(InnerState)
_progress.add_node("report_progress", report_progress)
_progress.add_edge(START, "report_progress")
progress = _progress.compile()
