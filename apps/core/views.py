"""Meta endpoints: health and server info."""

from __future__ import annotations

from importlib.metadata import version

from django.db import connection
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.params import query_bool
from apps.tenancy.authentication import auth_scheme


class OkView(APIView):
    def get(self, request: Request) -> Response:
        if query_bool(request.query_params, "check_db"):
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            return Response({"ok": True, "services": {"database": "ok"}})
        return Response({"ok": True})


class InfoView(APIView):
    def get(self, request: Request) -> Response:
        return Response(
            {
                "version": version("agentserver"),
                "langgraph_py_version": version("langgraph"),
                "flags": {
                    "assistants": True,
                    "crons": True,
                    "langsmith": False,
                    "langsmith_tracing_replicas": False,
                    "langsmith_tracing_session_on_runs": False,
                },
                "host": {
                    "kind": "self-hosted",
                    "project_id": None,
                    "host_revision_id": None,
                    "revision_id": None,
                    "tenant_id": None,
                },
                # How requests authenticate: "apikey", "custom" (the project's auth.py) or
                # "none" (authentication off: every caller is the default tenant's owner).
                "auth": {"scheme": auth_scheme()},
            }
        )
