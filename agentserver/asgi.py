"""ASGI entry point: Django (HTTP) behind Channels' protocol router."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentserver.settings")

from channels.routing import ProtocolTypeRouter
from django.core.asgi import get_asgi_application

application = ProtocolTypeRouter({"http": get_asgi_application()})
