"""From LangGraph stream chunks to the events of the thread-centric protocol
(docs/thread-protocol.md §3).

Most LangGraph stream modes map one to one onto protocol methods (with JSON-able data). Two
things are derived here because LangGraph does not stream them in this shape:

- the ``messages`` content-block lifecycle (§3.1), from ``AIMessageChunk``s and whole messages;
  the rules mirror langchain-core's private ``_compat_bridge``, which we do not import;
- subgraph ``lifecycle`` events (§3.2): ``started`` before the first event at a new namespace,
  a terminal after the parent's ``tasks`` result for the task that ran it.

Root lifecycle and ``input.requested`` belong to the executor, which also calls ``close`` when
the run ends so that no message or subgraph is left open; ``root_lifecycle`` and ``error_text``
shape the root's lifecycle events for it and for the sweeper, which ends runs it gives up.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.messages.ai import add_usage
from langgraph.types import Interrupt

from apps.core.encoding import to_jsonable

Emit = Callable[[str, list[str], dict[str, Any], str | None], None]
Namespace = tuple[str, ...]

# Whole messages of these types are replayed; a ToolMessage is not: it reaches clients through
# the tools channel and the state.
ROLES = {"ai", "human", "system"}
TOOL_CALL_CHUNKS = ("tool_call_chunk", "server_tool_call_chunk")
# The field that grows chunk by chunk, per block type.
GROWING_FIELDS = {
    "text": "text",
    "reasoning": "reasoning",
    "tool_call_chunk": "args",
    "server_tool_call_chunk": "args",
}
# Stripped from content-block-start so a large payload travels once, on the finish.
HEAVY_FIELDS = {"args", "data", "output", "transcript", "value"}


def root_lifecycle(event: str, run_id: str, **data: Any) -> dict[str, Any]:
    """The data of the root ``lifecycle`` event ``event`` (``started``, ``completed``,
    ``failed``, ...) of run ``run_id``."""
    return {"event": event, "run_id": run_id, **data}


def error_text(error: dict[str, str]) -> str:
    """What a ``failed`` lifecycle event says of a run's error: ``"<Type>: <message>"``."""
    return f"{error['error']}: {error['message']}"


class ProtocolTranslator:
    """Turns LangGraph chunks into protocol events for ``emit`` and collects the interrupts.

    Events are emitted in chunk order; a subgraph's ``started`` always precedes its first
    event. Not thread-safe: one translator per run attempt, fed from one task.
    """

    def __init__(self, emit: Emit) -> None:
        self._emit = emit
        self._handlers: dict[str, Callable[[Namespace, Any], None]] = {
            "values": self._values,
            "updates": self._updates,
            "messages": self._messages,
            "tools": self._tools,
            "tasks": self._tasks,
            "checkpoints": self._checkpoints,
            "custom": self._custom,
        }
        self._seen_namespaces: set[Namespace] = set()
        self._open_subgraphs: dict[Namespace, str] = {}  # namespace -> id of the task running it
        self._tool_call_of_task: dict[str, str] = {}
        self._open_messages: dict[str, _Message] = {}  # by langgraph_checkpoint_ns (one task)
        self._interrupts: dict[str, dict[str, Any]] = {}

    def chunk(self, namespace: tuple[str, ...], mode: str, data: Any) -> None:
        """One LangGraph chunk -> zero or more emit() calls, in order."""
        handler = self._handlers.get(mode)
        if handler is not None:
            handler(tuple(namespace), data)

    def close(self, *, error: str | None = None) -> None:
        """The run ended (or stopped): finish every open message (message `error {message}`
        event instead of the finish when `error` is given) and close every open subgraph
        lifecycle (`failed` with that error when given, else `completed`). Idempotent."""
        for key in list(self._open_messages):
            self._finish_message(key, error=error)
        terminal = {"event": "failed", "error": error} if error else {"event": "completed"}
        # Innermost first, the order in which LangGraph would have finished them.
        for namespace in sorted(self._open_subgraphs, key=len, reverse=True):
            self._emit("lifecycle", list(namespace), dict(terminal), None)
        self._open_subgraphs.clear()

    @property
    def interrupts(self) -> list[dict]:
        """Pending interrupts seen, deduped by id, in first-seen order:
        [{"interrupt_id": str, "value": <jsonable>, "namespace": [..]}]"""
        return list(self._interrupts.values())

    # -- modes ------------------------------------------------------------------------------

    def _values(self, namespace: Namespace, data: Any) -> None:
        if isinstance(data, dict):
            data = {key: value for key, value in data.items() if key != "__interrupt__"}
        self._send("values", namespace, to_jsonable(_as_object(data)))

    def _updates(self, namespace: Namespace, data: dict[str, Any]) -> None:
        for node, update in data.items():
            if node == "__interrupt__":
                self._collect_interrupts(namespace, update)
                continue
            values = to_jsonable(_as_object(update))
            self._send("updates", namespace, {"node": node, "values": values}, node)

    def _collect_interrupts(self, namespace: Namespace, interrupts: Iterable[Any]) -> None:
        # A subgraph's interrupt reaches its parents' updates too; the first sighting is the
        # namespace that raised it.
        for item in interrupts:
            if isinstance(item, Interrupt) and item.id not in self._interrupts:
                self._interrupts[item.id] = {
                    "interrupt_id": item.id,
                    "value": to_jsonable(item.value),
                    "namespace": list(namespace),
                }

    def _checkpoints(self, namespace: Namespace, data: dict[str, Any]) -> None:
        metadata = data.get("metadata") or {}
        checkpoint = {"id": data["config"]["configurable"]["checkpoint_id"]}
        parent = (data.get("parent_config") or {}).get("configurable") or {}
        if parent.get("checkpoint_id"):
            checkpoint["parent_id"] = parent["checkpoint_id"]
        checkpoint["step"] = metadata.get("step")
        checkpoint["source"] = metadata.get("source")
        self._send("checkpoints", namespace, checkpoint)

    def _tools(self, namespace: Namespace, data: dict[str, Any]) -> None:
        # LangGraph's payloads already have the protocol's shape (tool-started / -output-delta
        # / -finished / -error); the output is typically a ToolMessage, hence the encoding.
        event = to_jsonable(data)
        event["tool_call_id"] = str(data.get("tool_call_id"))
        self._send("tools", namespace, event)

    def _custom(self, namespace: Namespace, data: Any) -> None:
        name = data.get("name") if isinstance(data, dict) else None
        if isinstance(name, str) and name and "payload" in data:
            self._send("custom", namespace, {"name": name, "payload": to_jsonable(data["payload"])})
        else:
            self._send("custom", namespace, {"payload": to_jsonable(data)})

    def _tasks(self, namespace: Namespace, data: dict[str, Any]) -> None:
        self._send("tasks", namespace, to_jsonable(data), data.get("name"))
        if "result" not in data:
            self._remember_tool_call(data)
            return
        task_id = data.get("id")
        for key in [key for key in self._open_messages if _task_of(key) == task_id]:
            self._finish_message(key)
        for child, trigger in list(self._open_subgraphs.items()):
            if child[:-1] == namespace and trigger == task_id:
                del self._open_subgraphs[child]
                self._emit("lifecycle", list(child), _terminal(data), None)

    def _remember_tool_call(self, task: dict[str, Any]) -> None:
        # A tool call's Send task carries the call; a subgraph it runs names it as its cause.
        task_input = task.get("input")
        tool_call = task_input.get("tool_call") if isinstance(task_input, dict) else None
        if isinstance(tool_call, dict) and isinstance(tool_call.get("id"), str):
            self._tool_call_of_task[task["id"]] = tool_call["id"]

    def _messages(self, namespace: Namespace, data: tuple[BaseMessage, dict[str, Any]]) -> None:
        message, metadata = data
        if isinstance(message, AIMessageChunk):
            self._message_chunk(namespace, message, metadata)
        elif isinstance(message, BaseMessage) and message.type in ROLES:
            self._whole_message(namespace, message, metadata)

    # -- messages -----------------------------------------------------------------------------

    def _message_chunk(
        self, namespace: Namespace, chunk: AIMessageChunk, metadata: dict[str, Any]
    ) -> None:
        key = metadata.get("langgraph_checkpoint_ns", "")
        last = chunk.chunk_position == "last"
        message = self._open_messages.get(key)
        # langchain-core's closing chunk carries its own `lc_run--` id even when the provider
        # named the message: it belongs to the open message, whatever its id.
        if message is not None and message.id != chunk.id and not last:
            self._finish_message(key)
            message = None
        if message is None:
            message = _Message(chunk.id or "", namespace, metadata.get("langgraph_node"))
            self._open_messages[key] = message
            self._send_message(message, [message.start("ai", _start_metadata(chunk, metadata))])
        blocks = [(_block_key(block, i), block) for i, block in enumerate(chunk.content_blocks)]
        self._send_message(message, message.add(blocks))
        message.absorb(chunk)
        if last:
            self._finish_message(key)

    def _whole_message(
        self, namespace: Namespace, whole: BaseMessage, metadata: dict[str, Any]
    ) -> None:
        message = _Message(whole.id or "", namespace, metadata.get("langgraph_node"))
        blocks = list(whole.content_blocks)
        # AIMessage.content_blocks leaves out the invalid tool calls.
        for invalid in getattr(whole, "invalid_tool_calls", None) or []:
            blocks.append({k: v for k, v in invalid.items() if v is not None})
        events = [message.start(whole.type, _start_metadata(whole, metadata))]
        events += message.add(list(enumerate(blocks)))
        message.absorb(whole)
        self._send_message(message, events + message.finish())

    def _finish_message(self, key: str, *, error: str | None = None) -> None:
        message = self._open_messages.pop(key)
        self._send_message(message, message.fail(error) if error else message.finish())

    def _send_message(self, message: _Message, events: list[dict[str, Any]]) -> None:
        for event in events:
            self._send("messages", message.namespace, event, message.node)

    # -- emission -----------------------------------------------------------------------------

    def _send(
        self, method: str, namespace: Namespace, data: dict[str, Any], node: str | None = None
    ) -> None:
        self._start_subgraphs(namespace)
        self._emit(method, list(namespace), data, node)

    def _start_subgraphs(self, namespace: Namespace) -> None:
        for depth in range(1, len(namespace) + 1):
            subgraph = namespace[:depth]
            if subgraph in self._seen_namespaces:
                continue
            self._seen_namespaces.add(subgraph)
            graph_name, _, task_id = subgraph[-1].partition(":")
            started: dict[str, Any] = {"event": "started", "graph_name": graph_name}
            if task_id:
                started["trigger_call_id"] = task_id
            if tool_call_id := self._tool_call_of_task.get(task_id):
                started["cause"] = {"type": "toolCall", "tool_call_id": tool_call_id}
            self._open_subgraphs[subgraph] = task_id
            # The namespace goes in the event's namespace: with only `[]` there, a client
            # would take this for the root run.
            self._emit("lifecycle", list(subgraph), started, None)


class _Message:
    """One message on the wire: its content blocks by source key, usage and metadata so far.

    Produces the §3.1 event dicts; every one carries the message ``id`` so that clients route
    parallel LLM calls of one namespace apart.
    """

    def __init__(self, message_id: str, namespace: Namespace, node: str | None) -> None:
        self.id = message_id
        self.namespace = namespace
        self.node = node
        self._blocks: dict[Any, tuple[int, dict[str, Any]]] = {}  # key -> (wire index, block)
        self._usage: dict[str, Any] | None = None
        self._response_metadata: dict[str, Any] = {}

    def start(self, role: str, metadata: dict[str, Any]) -> dict[str, Any]:
        event = self._event("message-start", role=role)
        if metadata:
            event["metadata"] = metadata
        return event

    def add(self, blocks: list[tuple[Any, dict[str, Any]]]) -> list[dict[str, Any]]:
        """Start the blocks seen for the first time, then send what each slice adds."""
        events = []
        for key, block in blocks:
            if key in self._blocks:
                index, so_far = self._blocks[key]
                self._blocks[key] = (index, _accumulate(so_far, block))
            else:
                index = len(self._blocks)
                self._blocks[key] = (index, dict(block))
                skeleton = to_jsonable(_skeleton(block))
                events.append(self._event("content-block-start", index=index, content=skeleton))
            delta = _delta(block)
            if delta is not None:
                events.append(self._event("content-block-delta", index=index, delta=delta))
        return events

    def absorb(self, message: BaseMessage) -> None:
        """Take the usage and response metadata of a chunk (or of a whole message)."""
        usage = getattr(message, "usage_metadata", None)
        if usage:
            self._usage = add_usage(self._usage, usage)
        self._response_metadata.update(message.response_metadata or {})

    def finish(self) -> list[dict[str, Any]]:
        events = [
            self._event("content-block-finish", index=index, content=to_jsonable(_final(block)))
            for index, block in sorted(self._blocks.values(), key=lambda pair: pair[0])
        ]
        finish = self._event("message-finish")
        if self._usage:
            finish["usage"] = self._usage
        if self._response_metadata:
            finish["metadata"] = to_jsonable(self._response_metadata)
        return [*events, finish]

    def fail(self, message: str) -> list[dict[str, Any]]:
        return [self._event("error", message=message)]

    def _event(self, name: str, **fields: Any) -> dict[str, Any]:
        return {"event": name, **fields, "id": self.id}


def _start_metadata(message: BaseMessage, metadata: dict[str, Any]) -> dict[str, Any]:
    response = message.response_metadata or {}
    fields = {
        "langgraph_node": metadata.get("langgraph_node"),
        # LangChain's tracing params name the model when the first chunk does not.
        "provider": response.get("model_provider") or metadata.get("ls_provider"),
        "model": response.get("model_name") or metadata.get("ls_model_name"),
    }
    return {key: value for key, value in fields.items() if isinstance(value, str | int | float)}


def _block_key(block: dict[str, Any], position: int) -> Any:
    """A block's identity across chunks: its source ``index``, else its type and position
    (two blocks of different types at one position are different blocks)."""
    if block.get("index") is not None:
        return block["index"]
    return ("position", block.get("type"), position)


def _skeleton(block: dict[str, Any]) -> dict[str, Any]:
    """The content of a block's ``content-block-start``: empty where deltas will follow."""
    kind = block.get("type")
    if kind in ("text", "reasoning"):
        skeleton = {k: v for k, v in block.items() if k not in (kind, "index", "annotations")}
        return {**skeleton, kind: ""}
    if kind in TOOL_CALL_CHUNKS:
        skeleton = {"type": kind, "id": block.get("id"), "name": block.get("name"), "args": ""}
        if block.get("index") is not None:
            skeleton["index"] = block["index"]
        return skeleton
    skeleton = {k: v for k, v in block.items() if k not in HEAVY_FIELDS}
    if kind in ("tool_call", "server_tool_call"):
        skeleton["args"] = {}
    elif kind == "non_standard":
        skeleton["value"] = {}
    return skeleton


def _delta(block: dict[str, Any]) -> dict[str, Any] | None:
    kind = block.get("type")
    if kind == "text":
        return {"type": "text-delta", "text": block["text"]} if block.get("text") else None
    if kind == "reasoning":
        reasoning = block.get("reasoning")
        return {"type": "reasoning-delta", "reasoning": reasoning} if reasoning else None
    if kind in TOOL_CALL_CHUNKS:
        return {"type": "tool-call-delta", "args": block["args"]} if block.get("args") else None
    if block.get("data"):
        delta = {"type": "data-delta", "data": block["data"]}
        if block.get("encoding") == "base64":
            delta["encoding"] = "base64"
        return delta
    return None


def _accumulate(so_far: dict[str, Any], block: dict[str, Any]) -> dict[str, Any]:
    """Grow a block by one slice: concatenate its growing field, keep the latest other fields.
    A self-contained block (image, finished tool call…) replaces what was there."""
    kind = block.get("type")
    field = GROWING_FIELDS.get(kind) or ("data" if "data" in block else None)
    if kind != so_far.get("type") or field is None:
        return dict(block)
    merged = {**so_far, **{k: v for k, v in block.items() if v is not None and k != field}}
    merged[field] = (so_far.get(field) or "") + (block.get(field) or "")
    if isinstance(so_far.get("extras"), dict) and isinstance(block.get("extras"), dict):
        merged["extras"] = {**so_far["extras"], **block["extras"]}
    return merged


def _final(block: dict[str, Any]) -> dict[str, Any]:
    """The content of a ``content-block-finish``: tool-call chunks parsed into calls."""
    kind = block.get("type")
    if kind not in TOOL_CALL_CHUNKS:
        return block
    # A client tool call loses its source index, as in AIMessage.tool_calls.
    rewritten = {"type", "id", "name", "args"} | ({"index"} if kind == "tool_call_chunk" else set())
    final = {k: v for k, v in block.items() if k not in rewritten and v is not None}
    raw = block.get("args") or "{}"
    try:
        args = json.loads(raw)
    except json.JSONDecodeError:
        args = None
    if isinstance(args, dict):
        final_type = "tool_call" if kind == "tool_call_chunk" else "server_tool_call"
        name = block.get("name") or ""
        final.update(type=final_type, id=block.get("id") or "", name=name, args=args)
    else:
        final.update(type="invalid_tool_call", id=block.get("id"), name=block.get("name"))
        final.update(args=raw, error="Failed to parse tool call arguments as JSON")
    return final


def _as_object(value: Any) -> dict[str, Any]:
    """A state or update as a JSON object: a dict as is, None empty, anything else wrapped."""
    if value is None:
        return {}
    return value if isinstance(value, dict) else {"value": value}


def _terminal(result: dict[str, Any]) -> dict[str, Any]:
    """The lifecycle terminal of a subgraph, from the result of the task that ran it."""
    if result.get("interrupts"):
        return {"event": "interrupted"}
    error = result.get("error")
    if error:
        text = f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else error
        return {"event": "failed", "error": str(text)}
    return {"event": "completed"}


def _task_of(checkpoint_ns: str) -> str:
    """The id of the task a ``langgraph_checkpoint_ns`` (``a:<id>|b:<id>``) belongs to."""
    return checkpoint_ns.rpartition("|")[2].partition(":")[2]
