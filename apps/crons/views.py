"""The cron endpoints (reference §7). Crons are the ``crons`` resource for auth handlers."""

from __future__ import annotations

import uuid

from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.fields import check_select, selected, validated
from apps.core.pagination import page_rows, paginated_response
from apps.core.params import path_uuid
from apps.crons import selectors, services
from apps.crons.models import Cron
from apps.crons.serializers import (
    CRON_FIELDS,
    CronCountSerializer,
    CronCreateSerializer,
    CronFieldsSerializer,
    CronSearchSerializer,
    cron_json,
)
from apps.runs.services.creating import resolve_assistant
from apps.tenancy.authorization import authorize
from apps.threads.selectors import thread_get


def _create(request: Request, thread_id: uuid.UUID | None) -> Response:
    data = validated(CronCreateSerializer, request.data)
    data["metadata"] = data.get("metadata") or {}
    value = {
        "payload": {k: v for k, v in data.items() if k not in ("schedule", "end_time")},
        "schedule": data["schedule"],
        "cron_id": None,
        "thread_id": thread_id,
        "user_id": request.principal.identity,
        "end_time": data.get("end_time"),
    }
    principal = authorize(request.principal, "crons", "create", value)
    data["metadata"] = value["payload"].get("metadata", data["metadata"])
    thread = None
    if thread_id is not None:
        reader = authorize(request.principal, "threads", "read", {"thread_id": thread_id})
        thread = thread_get(principal=reader, thread_id=thread_id)
    assistant = resolve_assistant(principal, data["assistant_id"])
    cron = services.cron_create(
        principal=principal, assistant_id=assistant.assistant_id, thread=thread, data=data
    )
    return Response(cron_json(cron))


class CronCreateView(APIView):
    """``POST /runs/crons``: a cron that runs on a fresh thread each time."""

    def post(self, request: Request) -> Response:
        return _create(request, None)


class ThreadCronCreateView(APIView):
    """``POST /threads/{id}/runs/crons``: a cron that appends runs to the thread."""

    def post(self, request: Request, thread_id: str) -> Response:
        return _create(request, path_uuid(thread_id, "thread"))


class CronSearchView(APIView):
    def post(self, request: Request) -> Response:
        data = validated(CronSearchSerializer, request.data)
        select = check_select(data.get("select"), CRON_FIELDS)
        principal = authorize(request.principal, "crons", "search", dict(data))
        crons = selectors.crons_filtered(
            principal=principal,
            assistant_id=data.get("assistant_id"),
            thread_id=data.get("thread_id"),
            enabled=data.get("enabled"),
            metadata=data.get("metadata"),
        )
        rows = [selected(cron_json(cron), select) for cron in page_rows(crons, data)]
        return paginated_response(rows, offset=data["offset"], limit=data["limit"])


class CronCountView(APIView):
    def post(self, request: Request) -> Response:
        data = validated(CronCountSerializer, request.data)
        principal = authorize(request.principal, "crons", "search", dict(data))
        return Response(selectors.crons_filtered(principal=principal, **data).count())


def _cron(request: Request, cron_id: str, action: str, value: dict | None = None) -> Cron:
    cron_uuid = path_uuid(cron_id, "cron")
    value = {"cron_id": cron_uuid, **(value or {})}
    principal = authorize(request.principal, "crons", action, value)
    return selectors.cron_get(principal=principal, cron_id=cron_uuid)


class CronDetailView(APIView):
    def get(self, request: Request, cron_id: str) -> Response:
        return Response(cron_json(_cron(request, cron_id, "read")))

    def patch(self, request: Request, cron_id: str) -> Response:
        data = validated(CronFieldsSerializer, request.data)
        cron = _cron(request, cron_id, "update", data)
        principal = request.principal
        cron = services.cron_update(principal=principal, cron_id=cron.cron_id, data=data)
        return Response(cron_json(cron))

    def delete(self, request: Request, cron_id: str) -> Response:
        services.cron_delete(cron_id=_cron(request, cron_id, "delete").cron_id)
        return Response(status=204)
