"""Graphs of the test project: small, deterministic, model calls faked."""

from __future__ import annotations

import operator
from typing import Annotated

from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import AnyMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
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
