"""Every API request is authenticated before its view runs; the meta endpoints, the API
docs and the admin (Django sessions) are not API requests."""

from __future__ import annotations

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from apps.core.errors import ApiError
from apps.tenancy.authentication import aauthenticate, authenticate

PUBLIC_PATHS = frozenset({"/", "/ok", "/info", "/docs", "/openapi.json"})


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(settings.ADMIN_PREFIX)


class PrincipalMiddleware:
    """Set ``request.principal``, or answer 401/403 with ``{"detail": ...}``."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response) -> None:
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest):
        if iscoroutinefunction(self):
            return self._acall(request)
        if not is_public(request.path_info):
            try:
                request.principal = authenticate(request)
            except ApiError as exc:
                return refusal(exc)
        return self.get_response(request)

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        if not is_public(request.path_info):
            try:
                request.principal = await aauthenticate(request)
            except ApiError as exc:
                return refusal(exc)
        return await self.get_response(request)


def refusal(exc: ApiError) -> JsonResponse:
    response = JsonResponse({"detail": exc.detail}, status=exc.status_code)
    for name, value in getattr(exc, "headers", {}).items():
        response[name] = value
    if exc.status_code == 401 and "WWW-Authenticate" not in response:
        response["WWW-Authenticate"] = "Bearer"
    return response
