"""The graphs bench/api.py runs against both servers: no model calls, no network.

echo     one node that appends one AI message (the cheapest useful run)
tokens   one node that streams ~20 chunks from a fake chat model (time to first token)
approve  one node that pauses on ``interrupt()`` and finishes once resumed (HITL round trip)
"""

from __future__ import annotations

from typing import Annotated, Any

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, AnyMessage
from langgraph.graph import START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.types import interrupt
from typing_extensions import TypedDict

# GenericFakeChatModel streams words and the spaces between them as separate chunks:
# WORDS words make 2 * WORDS - 1 chunks, each one a `messages` event.
WORDS = 10


class State(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]


def _last_text(state: State) -> str:
    messages = state.get("messages") or []
    return str(messages[-1].content) if messages else ""


async def echo_node(state: State) -> dict[str, Any]:
    return {"messages": [AIMessage(content=f"echo: {_last_text(state)}")]}


async def tokens_node(state: State) -> dict[str, Any]:
    text = " ".join(f"t{n}" for n in range(WORDS))
    model = GenericFakeChatModel(messages=iter([AIMessage(content=text)]))
    reply = None
    async for chunk in model.astream(state["messages"]):
        reply = chunk if reply is None else reply + chunk
    assert reply is not None
    return {"messages": [AIMessage(content=reply.content, id=reply.id)]}


async def approve_node(state: State) -> dict[str, Any]:
    answer = interrupt({"question": f"approve {_last_text(state)!r}?"})
    return {"messages": [AIMessage(content=f"decision: {answer}")]}


def _single(name: str, node: Any) -> Any:
    builder = StateGraph(State)
    builder.add_node(name, node)
    builder.add_edge(START, name)
    return builder.compile()


echo = _single("echo", echo_node)
tokens = _single("tokens", tokens_node)
approve = _single("approve", approve_node)
