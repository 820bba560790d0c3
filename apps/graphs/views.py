"""The assistants endpoints (reference §2)."""

from __future__ import annotations

from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.errors import Unprocessable
from apps.core.fields import check_select, selected, validated
from apps.core.pagination import page_rows, paginated_response
from apps.core.params import path_uuid, query_bool
from apps.graphs import selectors, services
from apps.graphs.introspection import (
    graph_drawing,
    graph_schemas,
    inspect_assistant_graph,
    subgraph_schemas,
)
from apps.graphs.serializers import (
    ASSISTANT_FIELDS,
    AssistantCountSerializer,
    AssistantCreateSerializer,
    AssistantLatestSerializer,
    AssistantPatchSerializer,
    AssistantSearchSerializer,
    AssistantVersionsSerializer,
    assistant_json,
)
from apps.tenancy.authorization import authorize


def _reading(request: Request, assistant_id: str):
    """The assistant (by id), when the caller may read it."""
    assistant_uuid = path_uuid(assistant_id, "assistant")
    value = {"assistant_id": assistant_uuid}
    principal = authorize(request.principal, "assistants", "read", value)
    return selectors.assistant_get(principal=principal, assistant_id=assistant_uuid)


def _changing(request: Request, assistant_id: str, action: str, value: dict):
    """The assistant and the caller's principal, when it may ``action`` (update/delete) it:
    its role allows it, or a guardian object permission on this assistant does."""
    assistant = _reading(request, assistant_id)
    value = {"assistant_id": assistant.assistant_id, **value}
    principal = authorize(request.principal, "assistants", action, value, obj=assistant)
    services.check_changeable(principal, assistant)
    return assistant, principal


class AssistantCreateView(APIView):
    def post(self, request: Request) -> Response:
        data = validated(AssistantCreateSerializer, request.data)
        data["metadata"] = data.get("metadata") or {}
        principal = authorize(request.principal, "assistants", "create", data)
        assistant = services.assistant_create(principal=principal, **data)
        return Response(assistant_json(assistant))


class AssistantSearchView(APIView):
    def post(self, request: Request) -> Response:
        data = validated(AssistantSearchSerializer, request.data)
        select = check_select(data.get("select"), ASSISTANT_FIELDS)
        principal = authorize(request.principal, "assistants", "search", dict(data))
        queryset = selectors.assistants_filtered(
            principal=principal,
            metadata=data.get("metadata"),
            graph_id=data.get("graph_id"),
            name=data.get("name"),
        )
        rows = [selected(assistant_json(a), select) for a in page_rows(queryset, data)]
        return paginated_response(rows, offset=data["offset"], limit=data["limit"])


class AssistantCountView(APIView):
    def post(self, request: Request) -> Response:
        data = validated(AssistantCountSerializer, request.data)
        principal = authorize(request.principal, "assistants", "search", dict(data))
        return Response(selectors.assistants_filtered(principal=principal, **data).count())


class AssistantDetailView(APIView):
    def get(self, request: Request, assistant_id: str) -> Response:
        return Response(assistant_json(_reading(request, assistant_id)))

    def patch(self, request: Request, assistant_id: str) -> Response:
        data = validated(AssistantPatchSerializer, request.data)
        assistant, _ = _changing(request, assistant_id, "update", data)
        assistant = services.assistant_update(assistant_id=assistant.assistant_id, **data)
        return Response(assistant_json(assistant))

    def delete(self, request: Request, assistant_id: str) -> Response:
        assistant, principal = _changing(request, assistant_id, "delete", {})
        delete_threads = query_bool(request.query_params, "delete_threads")
        if delete_threads:
            # Its threads go too: that takes the right to delete them, as DELETE /threads does.
            value = {"assistant_id": assistant.assistant_id}
            principal = authorize(request.principal, "threads", "delete", value)
        services.assistant_delete(
            principal=principal,
            assistant_id=assistant.assistant_id,
            delete_threads=delete_threads,
        )
        return Response(status=204)


class AssistantGraphView(APIView):
    def get(self, request: Request, assistant_id: str) -> Response:
        value = {"assistant_id": assistant_id}
        principal = authorize(request.principal, "assistants", "read", value)
        assistant = selectors.assistant_resolve(principal=principal, assistant_id=assistant_id)
        xray = xray_param(request.query_params.get("xray"))
        return Response(inspect_assistant_graph(assistant, lambda g: graph_drawing(g, xray=xray)))


class AssistantSchemasView(APIView):
    def get(self, request: Request, assistant_id: str) -> Response:
        assistant = _reading(request, assistant_id)
        schemas = inspect_assistant_graph(assistant, graph_schemas)
        return Response({"graph_id": assistant.graph_id, **schemas})


class AssistantSubgraphsView(APIView):
    def get(self, request: Request, assistant_id: str, namespace: str | None = None) -> Response:
        assistant = _reading(request, assistant_id)
        recurse = query_bool(request.query_params, "recurse")
        return Response(
            inspect_assistant_graph(
                assistant, lambda g: subgraph_schemas(g, namespace=namespace, recurse=recurse)
            )
        )


class AssistantVersionsView(APIView):
    def post(self, request: Request, assistant_id: str) -> Response:
        assistant_id = path_uuid(assistant_id, "assistant")
        data = validated(AssistantVersionsSerializer, request.data)
        value = {"assistant_id": assistant_id, **data}
        principal = authorize(request.principal, "assistants", "read", value)
        versions = selectors.assistant_versions(
            principal=principal, assistant_id=assistant_id, metadata=data.get("metadata")
        )
        offset, limit = data["offset"], data["limit"]
        rows = [assistant_json(v) for v in versions[offset : offset + limit]]
        if not rows:
            return Response({"detail": f"Assistant {assistant_id} not found"}, status=404)
        return Response(rows)


class AssistantLatestView(APIView):
    def post(self, request: Request, assistant_id: str) -> Response:
        assistant, _ = _changing(request, assistant_id, "update", {})
        # The SDKs send a JSON body; the reference's OpenAPI documents a query parameter.
        payload = request.data if "version" in request.data else request.query_params
        version = validated(AssistantLatestSerializer, payload)["version"]
        assistant = services.assistant_set_latest(
            assistant_id=assistant.assistant_id, version=version
        )
        return Response(assistant_json(assistant))


def xray_param(raw: str | None) -> bool | int:
    if raw is None or raw == "":
        return False
    lowered = raw.strip().lower()
    if lowered in {"true", "false"}:
        return lowered == "true"
    try:
        depth = int(lowered)
    except ValueError:
        raise Unprocessable("Invalid xray value: use true, false or a positive integer") from None
    if depth <= 0:
        raise Unprocessable("Invalid xray value: the depth must be a positive integer")
    return depth
