"""The thread endpoints (reference §3)."""

from __future__ import annotations

from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.errors import Unprocessable
from apps.core.fields import check_select, selected, validated
from apps.core.pagination import page_rows, paginated_response
from apps.core.params import path_uuid, query_bool, query_list
from apps.threads import selectors, services
from apps.threads.serializers import (
    THREAD_FIELDS,
    ThreadCountSerializer,
    ThreadCreateSerializer,
    ThreadHistorySerializer,
    ThreadPatchSerializer,
    ThreadPruneSerializer,
    ThreadSearchSerializer,
    ThreadStateAtCheckpointSerializer,
    ThreadStateUpdateSerializer,
    thread_json,
)
from apps.threads.state import check_state_select, select_state


def thread_of(thread_id: str):
    return selectors.thread_get(thread_id=path_uuid(thread_id, "thread"))


class ThreadCreateView(APIView):
    def post(self, request: Request) -> Response:
        thread = services.thread_create(**validated(ThreadCreateSerializer, request.data))
        return Response(thread_json(thread))


class ThreadSearchView(APIView):
    def post(self, request: Request) -> Response:
        data = validated(ThreadSearchSerializer, request.data)
        select = check_select(data.get("select"), THREAD_FIELDS)
        extract = selectors.parse_extract(data.get("extract"))
        queryset = selectors.threads_filtered(
            metadata=data.get("metadata"),
            values=data.get("values"),
            ids=data.get("ids"),
            status=data.get("status"),
        )
        rows = []
        for thread in page_rows(queryset, data):
            row = thread_json(thread)
            out = selected(row, select)
            if extract:
                out["extracted"] = selectors.extracted(row, extract)
            rows.append(out)
        return paginated_response(rows, offset=data["offset"], limit=data["limit"])


class ThreadCountView(APIView):
    def post(self, request: Request) -> Response:
        data = validated(ThreadCountSerializer, request.data)
        return Response(selectors.threads_filtered(**data).count())


class ThreadPruneView(APIView):
    def post(self, request: Request) -> Response:
        data = validated(ThreadPruneSerializer, request.data)
        return Response({"pruned_count": services.threads_prune(**data)})


class ThreadDetailView(APIView):
    def get(self, request: Request, thread_id: str) -> Response:
        include = query_list(request.query_params, "include")
        unknown = [item for item in include if item != "ttl"]
        if unknown:
            raise Unprocessable(f"Invalid include values: {unknown}")
        return Response(thread_json(thread_of(thread_id), include_ttl="ttl" in include))

    def patch(self, request: Request, thread_id: str) -> Response:
        thread = thread_of(thread_id)
        thread = services.thread_update(
            thread_id=thread.thread_id, **validated(ThreadPatchSerializer, request.data)
        )
        if request.headers.get("Prefer", "").strip() == "return=minimal":
            return Response(status=204)
        return Response(thread_json(thread))

    def delete(self, request: Request, thread_id: str) -> Response:
        services.thread_delete(thread_id=thread_of(thread_id).thread_id)
        return Response(status=204)


class ThreadCopyView(APIView):
    def post(self, request: Request, thread_id: str) -> Response:
        copy = services.thread_copy(thread_id=thread_of(thread_id).thread_id)
        return Response(thread_json(copy))


class ThreadStateView(APIView):
    def get(self, request: Request, thread_id: str, checkpoint_id: str | None = None) -> Response:
        checkpoint = {"checkpoint_id": checkpoint_id} if checkpoint_id else None
        select = check_state_select(query_list(request.query_params, "select"))
        state = selectors.thread_state(
            thread=thread_of(thread_id),
            checkpoint=checkpoint,
            subgraphs=query_bool(request.query_params, "subgraphs"),
        )
        return Response(select_state(state, select))

    def post(self, request: Request, thread_id: str) -> Response:
        thread = thread_of(thread_id)
        data = validated(ThreadStateUpdateSerializer, request.data)
        checkpoint = data.get("checkpoint") or (
            {"checkpoint_id": data["checkpoint_id"]} if data.get("checkpoint_id") else None
        )
        result = services.thread_update_state(
            thread_id=thread.thread_id,
            values=data.get("values"),
            as_node=data.get("as_node"),
            checkpoint=checkpoint,
        )
        return Response(result)


class ThreadStateAtCheckpointView(APIView):
    def post(self, request: Request, thread_id: str) -> Response:
        thread = thread_of(thread_id)
        data = validated(ThreadStateAtCheckpointSerializer, request.data)
        select = check_state_select(data.get("select"))
        state = selectors.thread_state(
            thread=thread, checkpoint=data["checkpoint"], subgraphs=data["subgraphs"]
        )
        return Response(select_state(state, select))


class ThreadHistoryView(APIView):
    def get(self, request: Request, thread_id: str) -> Response:
        query = {k: v for k, v in request.query_params.items() if k in ("limit", "before")}
        if select := query_list(request.query_params, "select"):
            query["select"] = select
        return self.history(thread_id, query)

    def post(self, request: Request, thread_id: str) -> Response:
        return self.history(thread_id, request.data)

    def history(self, thread_id: str, payload) -> Response:
        thread = thread_of(thread_id)
        data = validated(ThreadHistorySerializer, payload)
        select = check_state_select(data.pop("select", None))
        states = selectors.thread_history(thread=thread, **data)
        return Response([select_state(state, select) for state in states])
