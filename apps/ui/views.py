"""The browser chat page (docs/thread-protocol.md §5): plain files read from this package, so
nothing depends on collectstatic. The page holds no secrets; it sends the user's API key
itself over the websocket's ``auth`` frame."""

from __future__ import annotations

from pathlib import Path

from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

FILES = Path(__file__).parent / "static" / "ui"
CONTENT_TYPES = {
    "chat.html": "text/html; charset=utf-8",
    "chat.js": "text/javascript; charset=utf-8",
    "chat.css": "text/css; charset=utf-8",
}
# Only this origin's files; the socket is same-origin too, but CSP needs the ws schemes named.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self' ws: wss:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


@require_GET
def ui_file(request: HttpRequest, name: str) -> HttpResponse:
    """``GET /ui/<name>``: one of the page's files; 404 for any other name."""
    content_type = CONTENT_TYPES.get(name)
    if content_type is None:
        raise Http404(f"No file {name!r} under /ui/")
    response = HttpResponse((FILES / name).read_bytes(), content_type=content_type)
    response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response["X-Content-Type-Options"] = "nosniff"
    response["Referrer-Policy"] = "no-referrer"
    response["Cache-Control"] = "no-cache"
    return response
