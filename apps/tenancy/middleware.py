"""Every API request is authenticated before its view runs; the meta endpoints, the API
docs and the admin (Django sessions) are not API requests."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from apps.core.errors import ApiError
from apps.core.middleware import GuardMiddleware
from apps.tenancy.authentication import aauthenticate, authenticate

PUBLIC_PATHS = frozenset({"/", "/ok", "/info", "/docs", "/openapi.json"})


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith((settings.ADMIN_PREFIX, "/ui/"))


class PrincipalMiddleware(GuardMiddleware):
    """Set ``request.principal``, or answer 401/403 with ``{"detail": ...}``."""

    def guard(self, request: HttpRequest) -> HttpResponse | None:
        if not is_public(request.path_info):
            try:
                request.principal = authenticate(request)
            except ApiError as exc:
                return refusal(exc)
        return None

    async def aguard(self, request: HttpRequest) -> HttpResponse | None:
        if not is_public(request.path_info):
            try:
                request.principal = await aauthenticate(request)
            except ApiError as exc:
                return refusal(exc)
        return None


def refusal(exc: ApiError) -> JsonResponse:
    response = JsonResponse({"detail": exc.detail}, status=exc.status_code)
    for name, value in getattr(exc, "headers", {}).items():
        response[name] = value
    if exc.status_code == 401 and "WWW-Authenticate" not in response:
        response["WWW-Authenticate"] = "Bearer"
    return response
