"""Request-level guards that must run before any view reads the body."""

from __future__ import annotations

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse


class BodySizeLimitMiddleware:
    """Refuse bodies over ``DATA_UPLOAD_MAX_MEMORY_SIZE`` with a 413 before a view parses them.

    Django enforces the limit only on ``request.body``; DRF reads the raw stream instead, so
    the limit is applied here once for every endpoint.
    """

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method in {"POST", "PUT", "PATCH", "DELETE"}:
            try:
                # Raises at once for a declared length over the limit, and while reading for a
                # chunked body; DRF then parses from the buffered body.
                request.body  # noqa: B018
            except RequestDataTooBig:
                return JsonResponse({"detail": "Request body too large"}, status=413)
        return self.get_response(request)
