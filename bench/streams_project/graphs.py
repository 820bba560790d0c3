"""The graph bench/streams.py follows: one node streaming tokens from a fake chat model.

talk  streams ``configurable.tokens`` one-character tokens (default 200), pausing
      ``configurable.pause_ms`` milliseconds before each (default 5), like a model that
      writes at a steady rate; every token is one ``messages`` ``content-block-delta`` event.
"""

from __future__ import annotations

from typing import Annotated, Any

from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import AIMessage, AnyMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph import START, StateGraph
from langgraph.graph.message import add_messages
from typing_extensions import TypedDict

ALPHABET = "abcdefghijklmnopqrstuvwxyz"


class State(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]


async def talk_node(state: State, config: RunnableConfig) -> dict[str, Any]:
    settings = config.get("configurable") or {}
    tokens = int(settings.get("tokens", 200))
    pause = float(settings.get("pause_ms", 5)) / 1000
    text = "".join(ALPHABET[n % len(ALPHABET)] for n in range(tokens))
    # FakeListChatModel streams its response one character at a time, sleeping before each.
    model = FakeListChatModel(responses=[text], sleep=pause or None)
    reply = None
    async for chunk in model.astream(state["messages"]):
        reply = chunk if reply is None else reply + chunk
    assert reply is not None
    return {"messages": [AIMessage(content=reply.content, id=reply.id)]}


builder = StateGraph(State)
builder.add_node("talk", talk_node)
builder.add_edge(START, "talk")
talk = builder.compile()
