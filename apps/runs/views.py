"""The run endpoints (reference §4): create (background, stream, wait), list, get, join,
join stream, cancel, delete, and the stateless forms under /runs.

Streaming and waiting views are async Django views tailing the run's event log; the rest are
DRF views like the other resources."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.asyncviews import async_api, json_body
from apps.core.dbthreads import db_threads
from apps.core.encoding import dumps
from apps.core.errors import NotFound, Unprocessable
from apps.core.fields import check_select, selected, validated
from apps.core.params import path_uuid, query_bool, query_list
from apps.runs import selectors, services
from apps.runs.models import Run
from apps.runs.serializers import (
    RUN_FIELDS,
    RunCancelManySerializer,
    RunCreateSerializer,
    RunListSerializer,
    StatelessRunCreateSerializer,
    run_json,
)
from apps.streams.eventlog import event_log
from apps.streams.names import run_result_stream, run_stream
from apps.streams.sse import event_stream_response, frame, parse_last_event_id, tail, wait_for_end
from apps.tenancy.authentication import auth_disabled
from apps.tenancy.authorization import aauthorize, authorize
from apps.tenancy.principal import Principal
from apps.threads.selectors import thread_get

KEEPALIVE_SECONDS = 5.0
CANCEL_ACTIONS = ("interrupt", "rollback")


def run_location(run: Run) -> str:
    return f"/threads/{run.thread_id}/runs/{run.run_id}"


# --- create -----------------------------------------------------------------------------------


class ThreadRunsView(APIView):
    """``POST /threads/{id}/runs`` creates a background run; ``GET`` lists the thread's runs."""

    def post(self, request: Request, thread_id: str) -> Response:
        data = validated(RunCreateSerializer, request.data)
        run = services.run_create(
            principal=request.principal, thread_id=path_uuid(thread_id, "thread"), payload=data
        )
        return Response(run_json(run), headers={"Content-Location": run_location(run)})

    def get(self, request: Request, thread_id: str) -> Response:
        thread_uuid = path_uuid(thread_id, "thread")
        principal = authorize(request.principal, "threads", "read", {"thread_id": thread_uuid})
        thread = thread_get(principal=principal, thread_id=thread_uuid)
        data = validated(RunListSerializer, request.query_params)
        select = check_select(query_list(request.query_params, "select"), RUN_FIELDS)
        runs = selectors.runs_of_thread(thread=thread, status=data.get("status"))
        page = runs[data["offset"] : data["offset"] + data["limit"]]
        return Response([selected(run_json(run), select) for run in page])


class StatelessRunsView(APIView):
    """``POST /runs``: a background run on a new thread."""

    def post(self, request: Request) -> Response:
        data = validated(StatelessRunCreateSerializer, request.data)
        run = services.run_create(
            principal=request.principal, thread_id=None, payload=data, stateless=True
        )
        return Response(run_json(run), headers={"Content-Location": run_location(run)})


class StatelessRunBatchView(APIView):
    """``POST /runs/batch``: several background runs, each on a new thread."""

    def post(self, request: Request) -> Response:
        if not isinstance(request.data, list) or not request.data:
            raise Unprocessable("The body must be a non-empty JSON array of run create objects")
        payloads = [validated(StatelessRunCreateSerializer, item) for item in request.data]
        runs = [
            services.run_create(
                principal=request.principal, thread_id=None, payload=payload, stateless=True
            )
            for payload in payloads
        ]
        return Response([run_json(run) for run in runs])


async def _create(request: HttpRequest, thread_id: str | None) -> tuple[Run, dict[str, Any]]:
    serializer = StatelessRunCreateSerializer if thread_id is None else RunCreateSerializer
    data = validated(serializer, json_body(request))
    run = await db_threads().arun(
        services.run_create,
        principal=request.principal,
        thread_id=None if thread_id is None else path_uuid(thread_id, "thread"),
        payload=data,
        stateless=thread_id is None,
    )
    return run, data


@async_api("POST")
async def run_stream_create(request: HttpRequest, thread_id: str | None = None) -> HttpResponse:
    """``POST /threads/{id}/runs/stream`` and ``POST /runs/stream``."""
    run, data = await _create(request, thread_id)
    frames = tail(run_stream(run.run_id), after="0", with_ids=data["stream_resumable"])
    body = _on_disconnect(
        frames, run, cancel=data["on_disconnect"] == "cancel", principal=request.principal
    )
    return _sse_response(body, run)


@async_api("POST")
async def run_wait_create(request: HttpRequest, thread_id: str | None = None) -> HttpResponse:
    """``POST /threads/{id}/runs/wait`` and ``POST /runs/wait``."""
    run, data = await _create(request, thread_id)
    body = _on_disconnect(
        _result_body(run, fresh=True),
        run,
        cancel=data["on_disconnect"] == "cancel",
        principal=request.principal,
    )
    return _json_stream_response(body, run)


# --- join -------------------------------------------------------------------------------------


async def _run_of(request: HttpRequest, thread_id: str | None, run_id: str) -> Run:
    """The run, if the caller may read it; or, when its row is gone (a temporary thread was
    removed as the run ended), a stand-in as long as its event log is still kept. The log
    does not say whose run it was, so the stand-in is for single-tenant servers only
    (``AGENTSERVER_AUTH=none``)."""
    run_uuid = path_uuid(run_id, "run")
    thread_uuid = None if thread_id is None else path_uuid(thread_id, "thread")
    principal = await aauthorize(
        request.principal, "threads", "read", {"thread_id": thread_uuid, "run_id": run_uuid}
    )
    try:
        return await db_threads().arun(
            selectors.run_get, principal=principal, run_id=run_uuid, thread_id=thread_uuid
        )
    except NotFound:
        if (
            thread_uuid is None
            or not auth_disabled()
            or await event_log().last_id(run_stream(run_uuid)) is None
        ):
            raise
        return Run(run_id=run_uuid, thread_id=thread_uuid, status="success")


@async_api("GET")
async def run_join(request: HttpRequest, thread_id: str, run_id: str) -> HttpResponse:
    """``GET /threads/{id}/runs/{run_id}/join``: the run's final output, when it has one."""
    run = await _run_of(request, thread_id, run_id)
    canceller = await _canceller(request, run)
    body = _on_disconnect(_result_body(run), run, cancel=canceller is not None, principal=canceller)
    return _json_stream_response(body, run)


@async_api("GET")
async def run_join_stream(
    request: HttpRequest, run_id: str, thread_id: str | None = None
) -> HttpResponse:
    """``GET /threads/{id}/runs/{run_id}/stream`` (and thread-less ``/runs/{id}/stream``):
    replay after ``Last-Event-ID`` (or only what comes next), then follow until the run ends."""
    run = await _run_of(request, thread_id, run_id)
    after = parse_last_event_id(request.headers.get("Last-Event-ID"))
    modes = query_list(request.GET, "stream_mode")
    canceller = await _canceller(request, run)
    stream = run_stream(run.run_id)
    if after is None:
        newest = await event_log().last_id(stream)
        run = await db_threads().arun(Run.objects.filter(pk=run.pk).first)
        if run is None or run.is_terminal:
            # Finished before we looked: nothing live will come, only the end.
            return _sse_response(_ended(run_id, run), run, location=False)
        after = newest or "0"
    frames = tail(stream, after=after, modes=modes, with_ids=run.kwargs.get("resumable", False))
    body = _on_disconnect(frames, run, cancel=canceller is not None, principal=canceller)
    return _sse_response(body, run)


async def _canceller(request: HttpRequest, run: Run) -> Principal | None:
    """With ``?cancel_on_disconnect``, the principal that may cancel ``run`` when the client
    leaves (a 403 now if it may not); None without the flag."""
    if not query_bool(request.GET, "cancel_on_disconnect"):
        return None
    value = {"thread_id": run.thread_id, "run_id": run.run_id, "action": "interrupt"}
    return await aauthorize(request.principal, "threads", "update", value, perm="runs.change_run")


async def _ended(run_id: str, run: Run | None) -> AsyncIterator[bytes]:
    status = run.status if run is not None else "success"
    yield frame("end", dumps({"run_id": run_id, "status": status}))


# --- get, delete, cancel ----------------------------------------------------------------------


class RunDetailView(APIView):
    def get(self, request: Request, thread_id: str, run_id: str) -> Response:
        thread_uuid, run_uuid = path_uuid(thread_id, "thread"), path_uuid(run_id, "run")
        value = {"thread_id": thread_uuid, "run_id": run_uuid}
        principal = authorize(request.principal, "threads", "read", value)
        run = selectors.run_get(principal=principal, run_id=run_uuid, thread_id=thread_uuid)
        return Response(run_json(run))

    def delete(self, request: Request, thread_id: str, run_id: str) -> Response:
        thread_uuid, run_uuid = path_uuid(thread_id, "thread"), path_uuid(run_id, "run")
        value = {"thread_id": thread_uuid, "run_id": run_uuid}
        principal = authorize(request.principal, "threads", "delete", value, perm="runs.delete_run")
        services.run_delete(principal=principal, thread_id=thread_uuid, run_id=run_uuid)
        return Response(status=204)


@async_api("POST")
async def run_cancel(request: HttpRequest, thread_id: str, run_id: str) -> HttpResponse:
    """``POST .../cancel?wait=&action=``: 202 at once, or the final output when waiting."""
    action = _cancel_action(request)
    wait = query_bool(request.GET, "wait")
    thread_uuid, run_uuid = path_uuid(thread_id, "thread"), path_uuid(run_id, "run")
    principal = await aauthorize(
        request.principal,
        "threads",
        "update",
        {"thread_id": thread_uuid, "run_id": run_uuid, "action": action},
        perm="runs.change_run",
    )
    run = await db_threads().arun(
        services.run_cancel,
        principal=principal,
        thread_id=thread_uuid,
        run_id=run_uuid,
        action=action,
    )
    if not wait:
        return HttpResponse(status=202)
    if run is None:  # a pending run rolled back: deleted without ever running
        return JsonResponse({}, status=200)
    return _json_stream_response(_result_body(run), run)


class RunCancelManyView(APIView):
    """``POST /runs/cancel``: by status, or a thread's listed runs."""

    def post(self, request: Request) -> Response:
        action = _cancel_action(request)
        data = validated(RunCancelManySerializer, request.data)
        principal = authorize(
            request.principal,
            "threads",
            "update",
            {**data, "action": action},
            perm="runs.change_run",
        )
        services.runs_cancel_many(principal=principal, action=action, **data)
        return Response(status=204)


def _cancel_action(request) -> str:
    query = getattr(request, "query_params", None) or request.GET
    action = query.get("action") or "interrupt"
    if action not in CANCEL_ACTIONS:
        raise Unprocessable(f"Invalid action {action!r}: use interrupt or rollback")
    return action


# --- responses --------------------------------------------------------------------------------


def _sse_response(body: AsyncIterator[bytes], run: Run | None, *, location=True) -> HttpResponse:
    response = event_stream_response(body)
    if run is not None:
        response["Content-Location"] = run_location(run)
        if location:
            response["Location"] = f"{run_location(run)}/stream"
    return response


def _json_stream_response(body: AsyncIterator[bytes], run: Run) -> HttpResponse:
    response = StreamingHttpResponse(body, content_type="application/json")
    response["Content-Location"] = run_location(run)
    response["Location"] = f"{run_location(run)}/join"
    response["X-Accel-Buffering"] = "no"
    return response


async def _result_body(run: Run, *, fresh: bool = False) -> AsyncIterator[bytes]:
    """Whitespace every few seconds (JSON parsers skip it; proxies see traffic), then the
    run's final output."""
    waiting = asyncio.ensure_future(_result(run, fresh=fresh))
    try:
        while True:
            done, _ = await asyncio.wait({waiting}, timeout=KEEPALIVE_SECONDS)
            if done:
                yield waiting.result()
                return
            yield b"\n"
    finally:
        waiting.cancel()


async def _result(run: Run, *, fresh: bool) -> bytes:
    """The run's /wait body once it ends. ``fresh``: just created, so it cannot have ended
    long ago (no need to look in the database for an expired result)."""
    stream = run_result_stream(run.run_id)
    log = event_log()
    if not fresh and await log.last_id(stream) is None:
        stored = await db_threads().arun(Run.objects.filter(pk=run.pk).first)
        if stored is not None and stored.is_terminal and stored.output is not None:
            return dumps(stored.output)  # ended long ago: the event log has expired
    return (await wait_for_end(stream)).data


async def _on_disconnect(
    body: AsyncIterator[bytes], run: Run, *, cancel: bool, principal: Principal | None
) -> AsyncIterator[bytes]:
    """Pass ``body`` through; if the client leaves before it ends and ``cancel`` is set,
    cancel the run (otherwise the run goes on: the client can join it again)."""
    finished = False
    try:
        async for chunk in body:
            yield chunk
        finished = True
    finally:
        if not finished and cancel:
            with contextlib.suppress(NotFound):
                await db_threads().arun(
                    services.run_cancel,
                    principal=principal,
                    thread_id=run.thread_id,
                    run_id=run.run_id,
                    action="interrupt",
                )
