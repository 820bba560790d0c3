"""Plain async Django views for the streaming endpoints (DRF views are sync only), with the
same error shape as the rest of the API."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework.exceptions import ValidationError

from apps.core.errors import ApiError, Unprocessable
from apps.core.exceptions import validation_message

AsyncView = Callable[..., Awaitable[HttpResponse]]


def async_api(*methods: str) -> Callable[[AsyncView], AsyncView]:
    """Allow ``methods`` only and render ApiError / validation errors as ``{"detail": ...}``."""

    def decorate(view: AsyncView) -> AsyncView:
        @functools.wraps(view)
        async def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method not in methods:
                response = JsonResponse(
                    {"detail": f'Method "{request.method}" not allowed.'}, status=405
                )
                response["Allow"] = ", ".join(methods)
                return response
            try:
                return await view(request, *args, **kwargs)
            except ApiError as exc:
                return JsonResponse({"detail": exc.detail}, status=exc.status_code)
            except ValidationError as exc:
                return JsonResponse({"detail": validation_message(exc.detail)}, status=422)

        wrapper.allowed_methods = methods  # read by the URL-conf-driven authorization tests
        return csrf_exempt(wrapper)

    return decorate


def json_body(request: HttpRequest) -> Any:
    """The request's JSON body; an empty body reads as ``{}``."""
    if not request.body.strip():
        return {}
    try:
        return orjson.loads(request.body)
    except orjson.JSONDecodeError as exc:
        raise Unprocessable(f"Invalid JSON body: {exc}") from None
