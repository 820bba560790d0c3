"""Request-level guards that must run before any view reads the body."""

from __future__ import annotations

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.module_loading import import_string


class GuardMiddleware:
    """A middleware that may answer a request itself before the view runs, in the ASGI
    server's async chain and in a sync one alike: subclasses say how in ``guard`` (and in
    ``aguard`` when that needs to await)."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response) -> None:
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest):
        if iscoroutinefunction(self):
            return self._acall(request)
        return self.guard(request) or self.get_response(request)

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        return await self.aguard(request) or await self.get_response(request)

    def guard(self, request: HttpRequest) -> HttpResponse | None:
        """The response that ends the request here, or None to go on to the view."""
        raise NotImplementedError

    async def aguard(self, request: HttpRequest) -> HttpResponse | None:
        return self.guard(request)


class BodySizeLimitMiddleware(GuardMiddleware):
    """Refuse bodies over ``DATA_UPLOAD_MAX_MEMORY_SIZE`` with a 413 before a view parses them.

    Django enforces the limit only on ``request.body``; DRF reads the raw stream instead, so
    the limit is applied here once for every endpoint.
    """

    def guard(self, request: HttpRequest) -> HttpResponse | None:
        if request.method in {"POST", "PUT", "PATCH", "DELETE"}:
            try:
                # Raises at once for a declared length over the limit, and while reading for a
                # chunked body (ASGI has buffered it already); DRF then parses from the buffer.
                request.body  # noqa: B018
            except RequestDataTooBig:
                return JsonResponse({"detail": "Request body too large"}, status=413)
        return None


class AdminMiddleware:
    """Run ``settings.ADMIN_MIDDLEWARE`` (sessions, auth, CSRF, messages, ...) for the admin
    only.

    The API authenticates each request itself and needs none of them; in the ASGI server every
    one of these old-style middlewares costs two thread hops per request.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response) -> None:
        self.get_response = get_response
        self.admin = get_response
        for path in reversed(settings.ADMIN_MIDDLEWARE):
            self.admin = import_string(path)(self.admin)
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest):
        if request.path_info.startswith(settings.ADMIN_PREFIX):
            return self.admin(request)
        return self.get_response(request)
