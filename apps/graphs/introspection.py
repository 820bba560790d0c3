"""What the assistant endpoints show of a graph: its drawing, its schemas, its subgraphs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asgiref.sync import async_to_sync
from langgraph.graph.state import CompiledStateGraph
from langgraph.pregel import Pregel
from pydantic import TypeAdapter

from apps.core.errors import Unprocessable
from apps.graphs.registry import registry


def graph_drawing(graph: Pregel, *, xray: bool | int) -> dict[str, Any]:
    """LangChain's ``Graph.to_json()`` without each node's ``data.id``, as the reference does."""
    try:
        drawing = graph.get_graph(xray=xray).to_json()
    except Exception as exc:
        raise Unprocessable(f"Graph cannot be drawn: {exc}") from None
    for node in drawing.get("nodes", []):
        if isinstance(node.get("data"), dict):
            node["data"].pop("id", None)
    return drawing


def graph_schemas(graph: Pregel) -> dict[str, Any]:
    context_schema = _safe(graph.get_context_jsonschema)
    return {
        "input_schema": _safe(graph.get_input_jsonschema),
        "output_schema": _safe(graph.get_output_jsonschema),
        "state_schema": _state_schema(graph),
        "config_schema": context_schema,
        "context_schema": context_schema,
    }


def subgraph_schemas(
    graph: Pregel, *, namespace: str | None, recurse: bool
) -> dict[str, dict[str, Any]]:
    return {
        name: graph_schemas(subgraph)
        for name, subgraph in graph.get_subgraphs(namespace=namespace, recurse=recurse)
        if isinstance(subgraph, Pregel)
    }


def _state_schema(graph: Pregel) -> dict[str, Any] | None:
    if isinstance(graph, CompiledStateGraph):
        return _safe(lambda: TypeAdapter(graph.builder.state_schema).json_schema())
    return None


def _safe(build) -> dict[str, Any] | None:
    # A schema that pydantic cannot express (arbitrary types in state) is shown as null rather
    # than failing the whole response, as the reference server does.
    try:
        return build()
    except Exception:
        return None


def inspect_assistant_graph(assistant, inspect: Callable[[Pregel], Any]) -> Any:
    """Build the assistant's graph (calling a factory with the assistant's config) and return
    ``inspect(graph)``."""
    config = {
        **assistant.config,
        "configurable": {
            **assistant.config.get("configurable", {}),
            **assistant.context,
            "assistant_id": str(assistant.assistant_id),
            "graph_id": assistant.graph_id,
        },
    }

    async def build_and_inspect() -> Any:
        async with registry().graph(assistant.graph_id, config) as graph:
            return inspect(graph)

    return async_to_sync(build_and_inspect)()
