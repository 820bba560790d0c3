"""Websocket routes: the thread-centric protocol on the path of its SSE stream."""

from django.urls import path

from apps.streams.consumers import ThreadStreamConsumer

websocket_urlpatterns = [
    path("threads/<str:thread_id>/stream/events", ThreadStreamConsumer.as_asgi()),
    path("threads/<str:thread_id>/stream", ThreadStreamConsumer.as_asgi()),
]
