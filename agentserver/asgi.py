"""ASGI entry point: Django (HTTP) and the thread-stream websocket behind Channels' router."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentserver.settings")

from channels.routing import ProtocolTypeRouter, URLRouter
from django.core.asgi import get_asgi_application

http = get_asgi_application()  # sets Django up before the consumers are imported

from apps.streams.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter({"http": http, "websocket": URLRouter(websocket_urlpatterns)})
