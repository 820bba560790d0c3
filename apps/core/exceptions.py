"""The one DRF exception handler: every error leaves as ``{"detail": ...}`` with its status."""

from __future__ import annotations

import logging

from django.core.exceptions import RequestDataTooBig
from django.http import Http404, JsonResponse
from rest_framework import exceptions as drf
from rest_framework.response import Response

from apps.core.errors import ApiError

logger = logging.getLogger(__name__)


def validation_message(detail, prefix: str = "") -> str:
    """Flatten DRF's nested validation errors into one line that names each field."""
    if isinstance(detail, dict):
        parts = []
        for field, inner in detail.items():
            name = field if field != "non_field_errors" else ""
            path = f"{prefix}.{name}" if prefix and name else (name or prefix)
            parts.append(validation_message(inner, path))
        return "; ".join(parts)
    if isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            text = " ".join(str(item) for item in detail)
            return f"{prefix}: {text}" if prefix else text
        return "; ".join(
            validation_message(item, f"{prefix}[{i}]" if prefix else f"[{i}]")
            for i, item in enumerate(detail)
            if item
        )
    return f"{prefix}: {detail}" if prefix else str(detail)


def exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, ApiError):
        return Response({"detail": exc.detail}, status=exc.status_code)
    if isinstance(exc, RequestDataTooBig):
        return Response({"detail": "Request body too large"}, status=413)
    if isinstance(exc, drf.ValidationError):
        return Response({"detail": validation_message(exc.detail)}, status=422)
    if isinstance(exc, drf.ParseError):
        return Response({"detail": f"Invalid JSON body: {exc.detail}"}, status=422)
    if isinstance(exc, Http404):
        return Response({"detail": str(exc) or "Not found"}, status=404)
    if isinstance(exc, drf.APIException):
        headers = {}
        if isinstance(exc, drf.MethodNotAllowed):
            headers["Allow"] = ", ".join(context["view"].allowed_methods)
        return Response({"detail": str(exc.detail)}, status=exc.status_code, headers=headers)
    return None


def json_not_found(request, exception=None) -> JsonResponse:
    return JsonResponse({"detail": "Not Found"}, status=404)


def json_server_error(request) -> JsonResponse:
    return JsonResponse({"detail": "Internal Server Error"}, status=500)


def json_bad_request(request, exception=None) -> JsonResponse:
    if isinstance(exception, RequestDataTooBig):
        return JsonResponse({"detail": "Request body too large"}, status=413)
    return JsonResponse({"detail": "Bad Request"}, status=400)
