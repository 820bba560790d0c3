from django.urls import path

from apps.streams import views

urlpatterns = [
    path("threads/<str:thread_id>/commands", views.thread_commands),
    path("threads/<str:thread_id>/stream", views.thread_stream),
    path("threads/<str:thread_id>/stream/events", views.thread_stream_events),
]
