"""A minimal chat graph that needs no model key: it echoes the last message back."""

from langchain_core.messages import AIMessage
from langgraph.graph import END, START, MessagesState, StateGraph


def respond(state: MessagesState) -> dict:
    last = state["messages"][-1].content if state["messages"] else ""
    return {"messages": [AIMessage(f"You said: {last}")]}


builder = StateGraph(MessagesState)
builder.add_node("respond", respond)
builder.add_edge(START, "respond")
builder.add_edge("respond", END)
graph = builder.compile(name="Echo agent")
