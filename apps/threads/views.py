"""The thread endpoints (reference §3)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.asyncviews import async_api
from apps.core.errors import Unprocessable
from apps.core.fields import check_select, selected, validated
from apps.core.pagination import page_rows, paginated_response
from apps.core.params import path_uuid, query_bool, query_list
from apps.runs.serializers import STREAM_MODES
from apps.streams.eventlog import event_log
from apps.streams.following import readable_thread
from apps.streams.names import thread_stream
from apps.streams.sse import event_stream_response, mode_filter, parse_last_event_id, tail
from apps.tenancy.authorization import authorize
from apps.tenancy.principal import Principal
from apps.threads import selectors, services
from apps.threads.models import Thread
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


def thread_of(request: Request, thread_id: str, action: str = "read", value=None) -> Thread:
    """The thread, when the caller may do ``action`` on it (reference resource ``threads``)."""
    thread_uuid = path_uuid(thread_id, "thread")
    principal = authorize(
        request.principal, "threads", action, {"thread_id": thread_uuid, **(value or {})}
    )
    return selectors.thread_get(principal=principal, thread_id=thread_uuid)


class ThreadCreateView(APIView):
    def post(self, request: Request) -> Response:
        data = validated(ThreadCreateSerializer, request.data)
        value = {key: data.get(key) for key in ("thread_id", "metadata", "if_exists", "ttl")}
        value["metadata"] = value["metadata"] or {}
        principal = authorize(request.principal, "threads", "create", value)
        # The auth handler may have changed the value (e.g. tagged the metadata with an owner).
        data.update({key: value[key] for key in ("metadata", "ttl")})
        return Response(thread_json(services.thread_create(principal=principal, **data)))


def _searching(request: Request, data: dict) -> Principal:
    return authorize(request.principal, "threads", "search", dict(data))


class ThreadSearchView(APIView):
    def post(self, request: Request) -> Response:
        data = validated(ThreadSearchSerializer, request.data)
        select = check_select(data.get("select"), THREAD_FIELDS)
        extract = selectors.parse_extract(data.get("extract"))
        queryset = selectors.threads_filtered(
            principal=_searching(request, data),
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
        principal = _searching(request, data)
        return Response(selectors.threads_filtered(principal=principal, **data).count())


class ThreadPruneView(APIView):
    def post(self, request: Request) -> Response:
        data = validated(ThreadPruneSerializer, request.data)
        principal = authorize(request.principal, "threads", "delete", dict(data))
        return Response({"pruned_count": services.threads_prune(principal=principal, **data)})


class ThreadDetailView(APIView):
    def get(self, request: Request, thread_id: str) -> Response:
        include = query_list(request.query_params, "include")
        unknown = [item for item in include if item != "ttl"]
        if unknown:
            raise Unprocessable(f"Invalid include values: {unknown}")
        thread = thread_of(request, thread_id)
        return Response(thread_json(thread, include_ttl="ttl" in include))

    def patch(self, request: Request, thread_id: str) -> Response:
        data = validated(ThreadPatchSerializer, request.data)
        value = {"metadata": data.get("metadata") or {}}
        thread = thread_of(request, thread_id, "update", value)
        if data.get("metadata") is not None:
            data["metadata"] = value["metadata"]
        thread = services.thread_update(thread_id=thread.thread_id, **data)
        if request.headers.get("Prefer", "").strip() == "return=minimal":
            return Response(status=204)
        return Response(thread_json(thread))

    def delete(self, request: Request, thread_id: str) -> Response:
        services.thread_delete(thread_id=thread_of(request, thread_id, "delete").thread_id)
        return Response(status=204)


class ThreadCopyView(APIView):
    def post(self, request: Request, thread_id: str) -> Response:
        source = thread_of(request, thread_id)
        value = {"metadata": dict(source.metadata)}
        principal = authorize(request.principal, "threads", "create", value)
        copy = services.thread_copy(principal=principal, source=source, metadata=value["metadata"])
        return Response(thread_json(copy))


class ThreadStateAtIdView(APIView):
    """``GET /threads/{id}/state/{checkpoint_id}`` (read only: updates go to ``/state``)."""

    def get(self, request: Request, thread_id: str, checkpoint_id: str | None = None) -> Response:
        checkpoint = {"checkpoint_id": checkpoint_id} if checkpoint_id else None
        select = check_state_select(query_list(request.query_params, "select"))
        state = selectors.thread_state(
            thread=thread_of(request, thread_id),
            checkpoint=checkpoint,
            subgraphs=query_bool(request.query_params, "subgraphs"),
        )
        return Response(select_state(state, select))


class ThreadStateView(ThreadStateAtIdView):
    """``GET /threads/{id}/state`` and ``POST`` (a state update)."""

    def post(self, request: Request, thread_id: str) -> Response:
        thread = thread_of(request, thread_id, "update")
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
        thread = thread_of(request, thread_id)
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
        return self.history(request, thread_id, query)

    def post(self, request: Request, thread_id: str) -> Response:
        return self.history(request, thread_id, request.data)

    def history(self, request: Request, thread_id: str, payload) -> Response:
        thread = thread_of(request, thread_id)
        data = validated(ThreadHistorySerializer, payload)
        select = check_state_select(data.pop("select", None))
        states = selectors.thread_history(thread=thread, **data)
        return Response([select_state(state, select) for state in states])


THREAD_STREAM_KINDS = ("lifecycle", "run_modes", "state_update")


@async_api("GET")
async def thread_join_stream(request: HttpRequest, thread_id: str) -> HttpResponse:
    """``GET /threads/{id}/stream``: everything on the thread, across runs, until the client
    leaves. ``stream_modes`` (the reference server's name) or ``stream_mode`` (the SDKs') pick
    ``lifecycle``, ``run_modes`` (the default) and ``state_update``; a run stream mode among
    them (``values``, ``updates``, ...) narrows the runs' events to those modes. Replays after
    ``Last-Event-ID``, else only what comes next."""
    thread_uuid = path_uuid(thread_id, "thread")
    await readable_thread(request.principal, thread_uuid)
    requested = query_list(request.GET, "stream_modes", "stream_mode")
    kinds = {item for item in requested if item in THREAD_STREAM_KINDS} or {"run_modes"}
    run_modes = [item for item in requested if item not in THREAD_STREAM_KINDS]
    unknown = [mode for mode in run_modes if mode not in STREAM_MODES]
    if unknown:
        raise Unprocessable(
            f"Invalid stream mode {unknown}: use {', '.join(THREAD_STREAM_KINDS)} or a run "
            "stream mode"
        )
    stream = thread_stream(thread_uuid)
    after = parse_last_event_id(request.headers.get("Last-Event-ID"))
    if after is None:
        after = await event_log().last_id(stream) or "0"
    frames = tail(
        stream,
        after=after,
        with_ids=True,
        passes=thread_event_filter(kinds, run_modes),
        forever=True,
    )
    return event_stream_response(frames)


def thread_event_filter(kinds: set[str], modes: list[str]):
    """Which thread-stream events a follower gets: run lifecycle (``metadata``), state
    updates, and the runs' own events (optionally only some stream modes)."""
    run_mode = mode_filter(modes)

    def passes(event: str) -> bool:
        if event == "metadata":
            return bool(kinds & {"lifecycle", "run_modes"})
        if event == "state_update":
            return "state_update" in kinds
        return "run_modes" in kinds and (run_mode is None or run_mode(event))

    return passes
