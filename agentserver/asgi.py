"""ASGI entry point: Django (HTTP), the thread-stream websocket and the process's lifespan
behind Channels' router."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentserver.settings")

from channels.routing import ProtocolTypeRouter, URLRouter
from django.core.asgi import get_asgi_application
from django.urls import get_resolver

from agentserver.heap import freeze_startup

http = get_asgi_application()  # sets Django up before the consumers are imported

from apps.streams.routing import websocket_urlpatterns  # noqa: E402


async def lifespan(scope, receive, send) -> None:
    """The server process's start and stop (ASGI lifespan): once it has started, every view
    is imported (not at its first request) and what the process built so far is left out of
    garbage collection for good (agentserver/heap.py)."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            get_resolver().url_patterns  # noqa: B018 - imports every view
            freeze_startup()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


application = ProtocolTypeRouter(
    {"http": http, "websocket": URLRouter(websocket_urlpatterns), "lifespan": lifespan}
)
