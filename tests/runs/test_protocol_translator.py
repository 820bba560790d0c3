"""The protocol translator turns real LangGraph streams into events the SDK's decoders accept.

Every test runs a small graph for real (fake chat models only), with all seven stream modes and
subgraphs, feeds each chunk to a ``ProtocolTranslator`` and looks at what it emitted, often
through ``langgraph_sdk``'s own decoders.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import aclosing
from typing import Any, NamedTuple

import pytest
from langchain_core.language_models.chat_model_stream import AsyncChatModelStream
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, SystemMessage
from langchain_core.outputs import ChatGenerationChunk
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.config import get_stream_writer
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode
from langgraph.types import interrupt
from langgraph_sdk.stream.decoders import MessagesDecoder, SubgraphsDecoder, ToolCallsDecoder

from apps.runs.protocol import ProtocolTranslator

MODES = ["values", "updates", "messages", "tools", "tasks", "checkpoints", "custom"]


class Event(NamedTuple):
    method: str
    namespace: list[str]
    data: dict[str, Any]
    node: str | None


class StreamingModel(GenericFakeChatModel):
    """Streams each scripted reply word by word, then its tool calls in two slices each, under
    the reply's own (provider) id; langchain-core adds its closing ``lc_run--`` chunk."""

    def _stream(self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any):
        reply = next(self.messages)
        words = reply.text.split(" ") if reply.text else []
        for position, word in enumerate(words):
            text = word if position == 0 else f" {word}"
            yield ChatGenerationChunk(message=AIMessageChunk(content=text, id=reply.id))
        for position, call in enumerate(reply.tool_calls):
            args = call["args"] if isinstance(call["args"], str) else json.dumps(call["args"])
            for piece, first in ((args[:5], True), (args[5:], False)):
                tool_chunk = {
                    "id": call["id"] if first else None,
                    "name": call["name"] if first else None,
                    "args": piece,
                    "index": position,
                }
                chunk = AIMessageChunk(content="", id=reply.id, tool_call_chunks=[tool_chunk])
                yield ChatGenerationChunk(message=chunk)
        if reply.usage_metadata:
            usage = AIMessageChunk(content="", id=reply.id, usage_metadata=reply.usage_metadata)
            yield ChatGenerationChunk(message=usage)


def replying(*replies: AIMessage) -> StreamingModel:
    return StreamingModel(messages=iter(replies))


def tool_call(call_id: str, name: str, args: dict[str, Any]) -> dict[str, Any]:
    return {"id": call_id, "name": name, "args": args, "type": "tool_call"}


def reply_with_raw_arguments(message_id: str, call_id: str, raw_args: str) -> AIMessage:
    """A reply whose model streams tool-call arguments that are not JSON (no AIMessage holds
    such a call, hence ``model_construct``)."""
    call = {"id": call_id, "name": "lookup", "args": raw_args, "type": "tool_call"}
    return AIMessage.model_construct(content="", id=message_id, tool_calls=[call])


class Run:
    """What one run through the translator emitted."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.translator = ProtocolTranslator(lambda *event: self.events.append(Event(*event)))

    def of(self, method: str, namespace: list[str] | None = None) -> list[Event]:
        return [
            e
            for e in self.events
            if e.method == method and (namespace is None or e.namespace == namespace)
        ]

    def messages(self, namespace: list[str] | None = None) -> list[dict[str, Any]]:
        return [e.data for e in self.of("messages", namespace)]

    def sdk_messages(self, namespace: list[str] | None = None) -> list[AsyncChatModelStream]:
        """The chat-model streams the SDK's ``thread.messages`` would yield from our events."""
        decoder = MessagesDecoder(
            namespace=namespace or [],
            stream_factory=lambda *, namespace, node, message_id: AsyncChatModelStream(
                namespace=namespace, node=node, message_id=message_id
            ),
        )
        return [stream for event in self.wire() for stream in decoder.feed(event)]

    async def feed(self, graph: Any, payload: Any, *, stop_after: str | None = None) -> None:
        config = {"configurable": {"thread_id": "thread-1"}}
        stream = graph.astream(payload, config, stream_mode=MODES, subgraphs=True)
        async with aclosing(stream):
            async for namespace, mode, data in stream:
                self.translator.chunk(namespace, mode, data)
                if mode == stop_after:
                    return

    def wire(self) -> Iterator[dict[str, Any]]:
        for e in self.events:
            yield {"method": e.method, "params": {"namespace": e.namespace, "data": e.data}}


async def run(graph: Any, payload: Any, *, stop_after: str | None = None) -> Run:
    """Stream ``graph`` with every protocol mode into a translator, then close it; with
    ``stop_after``, abandon the stream after the first chunk of that mode (as a cancel would)
    and leave ``close`` to the test."""
    result = Run()
    await result.feed(graph, payload, stop_after=stop_after)
    if stop_after is None:
        result.translator.close()
    return result


async def failing_run(graph: Any, payload: Any) -> Run:
    """Stream ``graph``, which must raise a ValueError, into a translator left open."""
    result = Run()
    with pytest.raises(ValueError):
        await result.feed(graph, payload)
    return result


def single_node(node: Any, *, checkpointer: Any = None) -> Any:
    graph = StateGraph(MessagesState).add_node("agent", node).add_edge(START, "agent")
    return graph.compile(checkpointer=checkpointer)


def hello() -> dict[str, Any]:
    return {"messages": [HumanMessage("Hello there", id="user-1")]}


class Handle:
    """Stands in for the SDK's subgraph and tool-call handles: remembers how it ended."""

    def __init__(self, **identity: Any) -> None:
        self.trigger_call_id = identity.get("trigger_call_id")
        self.identity = identity
        self.outcome: tuple[Any, ...] | None = None

    def _push_event(self, event: Any) -> None:
        pass

    def _push_delta(self, delta: Any) -> None:
        pass

    def _finish(self, *outcome: Any) -> None:
        self.outcome = outcome

    def _fail(self, error: BaseException) -> None:
        self.outcome = ("error", str(error))


# -- messages ---------------------------------------------------------------------------------


async def test_streamed_text_and_tool_call_reach_the_sdk_as_one_message():
    weather = tool_call("call_1", "lookup", {"city": "Paris"})
    usage = {"input_tokens": 3, "output_tokens": 4, "total_tokens": 7}
    model = replying(
        AIMessage("Let me check", id="msg-1", tool_calls=[weather], usage_metadata=usage)
    )

    async def agent(state):
        return {"messages": [await model.ainvoke(state["messages"])]}

    result = await run(single_node(agent), hello())

    [stream] = result.sdk_messages()
    assert stream.done
    assert stream.node == "agent"
    assert await stream.text == "Let me check"
    assert await stream.tool_calls == [
        {"type": "tool_call", "id": "call_1", "name": "lookup", "args": {"city": "Paris"}}
    ]
    output = await stream.output
    assert output.id == "msg-1"
    assert output.usage_metadata == usage


async def test_streamed_message_follows_the_content_block_lifecycle_under_the_provider_id():
    weather = tool_call("call_1", "lookup", {"city": "Paris"})
    model = replying(AIMessage("Let me check", id="msg-1", tool_calls=[weather]))

    async def agent(state):
        return {"messages": [await model.ainvoke(state["messages"])]}

    result = await run(single_node(agent), hello())

    lifecycle = [(m["event"], m.get("index")) for m in result.messages()]
    assert lifecycle == [
        ("message-start", None),
        ("content-block-start", 0),
        ("content-block-delta", 0),
        ("content-block-delta", 0),
        ("content-block-delta", 0),
        ("content-block-start", 1),
        ("content-block-delta", 1),
        ("content-block-delta", 1),
        ("content-block-finish", 0),
        ("content-block-finish", 1),
        ("message-finish", None),
    ]
    # langchain-core's closing chunk is named lc_run--…; the message keeps the provider's id.
    assert {m["id"] for m in result.messages()} == {"msg-1"}
    start, text_start, *_ = result.messages()
    assert start["role"] == "ai"
    assert start["metadata"]["langgraph_node"] == "agent"
    assert text_start["content"] == {"type": "text", "text": ""}
    tool_start = result.messages()[5]
    assert tool_start["content"] == {
        "type": "tool_call_chunk",
        "id": "call_1",
        "name": "lookup",
        "args": "",
        "index": 0,
    }
    tool_deltas = [
        m["delta"]["args"]
        for m in result.messages()
        if m["event"] == "content-block-delta" and m["index"] == 1
    ]
    assert "".join(tool_deltas) == '{"city": "Paris"}'
    assert {e.node for e in result.of("messages")} == {"agent"}


async def test_unparseable_tool_call_arguments_finish_as_an_invalid_tool_call():
    model = replying(reply_with_raw_arguments("msg-1", "call_1", '{"city": "Par'))

    async def agent(state):
        await model.ainvoke(state["messages"])
        return {}

    result = await run(single_node(agent), hello())

    [finish] = [m for m in result.messages() if m["event"] == "content-block-finish"]
    assert finish["content"]["type"] == "invalid_tool_call"
    assert finish["content"]["args"] == '{"city": "Par'
    [stream] = result.sdk_messages()
    output = await stream.output
    assert output.tool_calls == []
    assert [call["id"] for call in output.invalid_tool_calls] == ["call_1"]


async def test_two_model_calls_in_one_node_are_two_messages():
    model = replying(AIMessage("First answer", id="msg-1"), AIMessage("Second answer", id="msg-2"))

    async def agent(state):
        first = await model.ainvoke(state["messages"])
        second = await model.ainvoke(state["messages"])
        return {"messages": [first, second]}

    result = await run(single_node(agent), hello())

    streams = result.sdk_messages()
    assert [s.message_id for s in streams] == ["msg-1", "msg-2"]
    assert [await s.text for s in streams] == ["First answer", "Second answer"]


async def test_a_message_cut_short_by_its_node_is_finished_by_the_task_result():
    model = replying(AIMessage("Never mind the rest", id="msg-1"))

    async def agent(state):
        async with aclosing(model.astream(state["messages"])) as chunks:
            async for _chunk in chunks:
                break  # the model's stream is abandoned: no closing chunk
        return {}

    result = await run(single_node(agent), hello())

    task_result = next(e for e in result.of("tasks") if "result" in e.data)
    after_result = result.events[result.events.index(task_result) + 1 :]
    assert [(e.method, e.data["event"]) for e in after_result[:2]] == [
        ("messages", "content-block-finish"),
        ("messages", "message-finish"),
    ]
    [stream] = result.sdk_messages()
    assert await stream.text == "Never"


async def test_a_whole_ai_message_is_replayed_as_a_complete_lifecycle():
    answer = AIMessage("Sure", id="ai-1", tool_calls=[tool_call("call_1", "lookup", {"q": 1})])

    def agent(state):
        return {"messages": [answer]}

    result = await run(single_node(agent), hello())

    events = result.messages()
    assert [m["event"] for m in events] == [
        "message-start",
        "content-block-start",
        "content-block-delta",
        "content-block-start",
        "content-block-finish",
        "content-block-finish",
        "message-finish",
    ]
    assert events[3]["content"] == {
        "type": "tool_call",
        "id": "call_1",
        "name": "lookup",
        "args": {},
    }
    assert events[5]["content"]["args"] == {"q": 1}
    [stream] = result.sdk_messages()
    assert await stream.text == "Sure"
    assert [call["args"] for call in await stream.tool_calls] == [{"q": 1}]


async def test_human_and_system_messages_are_replayed_with_their_role():
    def agent(state):
        return {"messages": [SystemMessage("Be brief", id="sys-1"), HumanMessage("Hi", id="hu-1")]}

    result = await run(single_node(agent), hello())

    starts = [m for m in result.messages() if m["event"] == "message-start"]
    assert [(m["role"], m["id"]) for m in starts] == [("system", "sys-1"), ("human", "hu-1")]
    assert [await s.text for s in result.sdk_messages()] == ["Be brief", "Hi"]


# -- tools ------------------------------------------------------------------------------------


@tool
def lookup(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


@tool
def explode(city: str) -> str:
    """Always fails."""
    raise ValueError("no weather today")


def tool_graph(tools: list[Any]) -> Any:
    call = AIMessage(
        "", id="ai-1", tool_calls=[tool_call("call_1", tools[0].name, {"city": "Oslo"})]
    )
    graph = StateGraph(MessagesState)
    graph.add_node("agent", lambda state: {"messages": [call]})
    graph.add_node("tools", ToolNode(tools, handle_tool_errors=False))
    return graph.add_edge(START, "agent").add_edge("agent", "tools").compile()


async def test_a_tool_call_is_started_and_finished_with_its_tool_message_as_output():
    result = await run(tool_graph([lookup]), hello())

    started, finished = (e.data for e in result.of("tools"))
    assert started == {
        "event": "tool-started",
        "tool_call_id": "call_1",
        "tool_name": "lookup",
        "input": {"city": "Oslo"},
    }
    assert finished["event"] == "tool-finished"
    assert finished["output"]["content"] == "sunny in Oslo"
    assert finished["output"]["tool_call_id"] == "call_1"
    decoder = ToolCallsDecoder([], Handle)
    [handle] = [h for event in result.wire() for h in decoder.feed(event)]
    assert handle.outcome == (finished["output"],)


async def test_tool_messages_are_not_sent_on_the_messages_channel():
    result = await run(tool_graph([lookup]), hello())

    starts = [m for m in result.messages() if m["event"] == "message-start"]
    assert [m["id"] for m in starts] == ["ai-1"]


async def test_a_failing_tool_is_reported_as_a_tool_error():
    result = await failing_run(tool_graph([explode]), hello())

    _started, failed = (e.data for e in result.of("tools"))
    assert failed == {
        "event": "tool-error",
        "tool_call_id": "call_1",
        "message": "no weather today",
    }


# -- subgraphs, interrupts --------------------------------------------------------------------


def parent_of(child_node: Any, *, checkpointer: Any = None) -> Any:
    child = StateGraph(MessagesState).add_node("inner", child_node).add_edge(START, "inner")
    parent = StateGraph(MessagesState).add_node("child", child.compile())
    return parent.add_edge(START, "child").compile(checkpointer=checkpointer)


def child_namespace(result: Run) -> list[str]:
    [started] = [e for e in result.of("lifecycle") if e.data["event"] == "started"]
    return started.namespace


async def test_a_subgraph_starts_before_its_first_event_and_completes_after_its_task_result():
    def inner(state):
        return {"messages": [AIMessage("inside", id="in-1")]}

    result = await run(parent_of(inner), hello())

    namespace = child_namespace(result)
    [task_start] = [e for e in result.of("tasks", []) if "result" not in e.data]
    assert namespace == [f"child:{task_start.data['id']}"]
    at_child = [e for e in result.events if e.namespace == namespace]
    assert at_child[0].data == {
        "event": "started",
        "graph_name": "child",
        "trigger_call_id": task_start.data["id"],
    }
    assert at_child[-1].data == {"event": "completed"}
    task_result = next(e for e in result.of("tasks", []) if "result" in e.data)
    assert result.events.index(at_child[-1]) == result.events.index(task_result) + 1
    assert [await s.text for s in result.sdk_messages(namespace)] == ["inside"]
    decoder = SubgraphsDecoder((), Handle)
    [handle] = [h for event in result.wire() for h in decoder.feed(event)]
    assert handle.identity["graph_name"] == "child"
    assert handle.outcome == ("completed", None)


async def test_nested_subgraphs_start_outermost_first():
    result = Run()

    result.translator.chunk(("outer:1", "inner:2"), "custom", "hi")

    assert result.events == [
        Event(
            "lifecycle",
            ["outer:1"],
            {"event": "started", "graph_name": "outer", "trigger_call_id": "1"},
            None,
        ),
        Event(
            "lifecycle",
            ["outer:1", "inner:2"],
            {"event": "started", "graph_name": "inner", "trigger_call_id": "2"},
            None,
        ),
        Event("custom", ["outer:1", "inner:2"], {"payload": "hi"}, None),
    ]


async def test_a_subgraph_started_by_a_tool_call_task_names_the_call_as_its_cause():
    result = Run()
    task = {
        "id": "task-9",
        "name": "research",
        "input": {"tool_call": {"id": "call_9"}},
        "triggers": (),
    }

    result.translator.chunk((), "tasks", task)
    result.translator.chunk(("research:task-9",), "custom", "working")

    assert result.of("lifecycle")[0].data["cause"] == {"type": "toolCall", "tool_call_id": "call_9"}


async def test_a_failing_subgraph_ends_failed_with_the_error():
    def inner(state):
        raise ValueError("broken inside")

    result = await failing_run(parent_of(inner), hello())
    result.translator.close(error="the run failed")

    terminals = [e.data for e in result.of("lifecycle") if e.data["event"] != "started"]
    assert terminals == [{"event": "failed", "error": "ValueError: broken inside"}]


async def test_an_interrupt_in_a_subgraph_is_collected_once_where_it_was_raised():
    def inner(state):
        answer = interrupt({"question": "Go on?"})
        return {"messages": [HumanMessage(answer)]}

    result = await run(parent_of(inner, checkpointer=InMemorySaver()), hello())

    namespace = child_namespace(result)
    [pending] = result.translator.interrupts
    assert pending["value"] == {"question": "Go on?"}
    assert pending["namespace"] == namespace
    assert isinstance(pending["interrupt_id"], str)
    assert result.of("lifecycle", namespace)[-1].data == {"event": "interrupted"}
    assert all("__interrupt__" not in e.data for e in result.of("values"))
    assert all(e.data["node"] != "__interrupt__" for e in result.of("updates"))


# -- values, updates, checkpoints, custom -----------------------------------------------------


async def test_values_updates_and_checkpoints_carry_the_protocol_shapes():
    def agent(state):
        return {"messages": [AIMessage("Hi", id="ai-1")]}

    graph = StateGraph(MessagesState).add_node("agent", agent).add_node("noop", lambda state: None)
    graph = (
        graph.add_edge(START, "agent")
        .add_edge("agent", "noop")
        .compile(checkpointer=InMemorySaver())
    )

    result = await run(graph, hello())

    assert [m["id"] for m in result.of("values")[-1].data["messages"]] == ["user-1", "ai-1"]
    agent_update, noop_update = result.of("updates")
    assert agent_update.node == "agent"
    assert agent_update.data["node"] == "agent"
    assert agent_update.data["values"]["messages"][0]["content"] == "Hi"
    assert noop_update.data == {"node": "noop", "values": {}}
    checkpoints = [e.data for e in result.of("checkpoints")]
    assert checkpoints[0]["source"] == "input"
    assert checkpoints[0]["step"] == -1
    assert "parent_id" not in checkpoints[0]
    assert [c["parent_id"] for c in checkpoints[1:]] == [c["id"] for c in checkpoints[:-1]]
    assert [c["step"] for c in checkpoints] == [-1, 0, 1, 2]


async def test_values_and_updates_that_are_not_dicts_are_wrapped():
    result = Run()

    result.translator.chunk((), "values", ["a"])
    result.translator.chunk((), "updates", {"agent": ["a"]})

    assert [e.data for e in result.events] == [
        {"value": ["a"]},
        {"node": "agent", "values": {"value": ["a"]}},
    ]


async def test_custom_events_are_named_only_when_they_carry_a_name_and_a_payload():
    def agent(state):
        write = get_stream_writer()
        write({"name": "progress", "payload": {"percent": 50}})
        write("plain text")
        write({"name": "", "payload": 1})
        write({"name": "no-payload"})
        return {}

    result = await run(single_node(agent), hello())

    assert [e.data for e in result.of("custom")] == [
        {"name": "progress", "payload": {"percent": 50}},
        {"payload": "plain text"},
        {"payload": {"name": "", "payload": 1}},
        {"payload": {"name": "no-payload"}},
    ]


async def test_every_event_is_plain_json():
    weather = tool_call("call_1", "lookup", {"city": "Paris"})
    model = replying(AIMessage("Let me check", id="msg-1", tool_calls=[weather]))

    async def agent(state):
        return {"messages": [await model.ainvoke(state["messages"])]}

    graph = StateGraph(MessagesState).add_node("agent", agent).add_node("tools", ToolNode([lookup]))
    graph = graph.add_edge(START, "agent").add_edge("agent", "tools").compile()

    result = await run(graph, hello())

    for event in result.events:
        assert json.loads(json.dumps(event.data)) == event.data


# -- close ------------------------------------------------------------------------------------


def streaming_child(model: StreamingModel) -> Any:
    async def inner(state):
        return {"messages": [await model.ainvoke(state["messages"])]}

    return parent_of(inner)


async def test_close_with_an_error_fails_open_messages_and_subgraphs():
    model = replying(AIMessage("Partial answer", id="msg-1"))
    result = await run(streaming_child(model), hello(), stop_after="messages")
    namespace = child_namespace(result)

    result.translator.close(error="cancelled")

    assert result.events[-2:] == [
        Event(
            "messages",
            namespace,
            {"event": "error", "message": "cancelled", "id": "msg-1"},
            "inner",
        ),
        Event("lifecycle", namespace, {"event": "failed", "error": "cancelled"}, None),
    ]
    [stream] = result.sdk_messages(namespace)
    with pytest.raises(RuntimeError, match="cancelled"):
        await stream.text


async def test_close_without_an_error_finishes_open_messages_and_completes_subgraphs():
    model = replying(AIMessage("Partial answer", id="msg-1"))
    result = await run(streaming_child(model), hello(), stop_after="messages")
    namespace = child_namespace(result)

    result.translator.close()

    assert [e.data["event"] for e in result.events[-3:]] == [
        "content-block-finish",
        "message-finish",
        "completed",
    ]
    [stream] = result.sdk_messages(namespace)
    assert await stream.text == "Partial"


async def test_close_twice_emits_nothing_the_second_time():
    model = replying(AIMessage("Partial answer", id="msg-1"))
    result = await run(streaming_child(model), hello(), stop_after="messages")
    result.translator.close(error="cancelled")
    emitted = len(result.events)

    result.translator.close(error="cancelled")

    assert len(result.events) == emitted
