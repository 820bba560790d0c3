from django.urls import path

from apps.runs import views

urlpatterns = [
    path("threads/<str:thread_id>/runs", views.ThreadRunsView.as_view()),
    path("threads/<str:thread_id>/runs/stream", views.run_stream_create),
    path("threads/<str:thread_id>/runs/wait", views.run_wait_create),
    path("threads/<str:thread_id>/runs/<str:run_id>", views.RunDetailView.as_view()),
    path("threads/<str:thread_id>/runs/<str:run_id>/join", views.run_join),
    path("threads/<str:thread_id>/runs/<str:run_id>/stream", views.run_join_stream),
    path("threads/<str:thread_id>/runs/<str:run_id>/cancel", views.run_cancel),
    path("runs", views.StatelessRunsView.as_view()),
    path("runs/stream", views.run_stream_create),
    path("runs/wait", views.run_wait_create),
    path("runs/batch", views.StatelessRunBatchView.as_view()),
    path("runs/cancel", views.RunCancelManyView.as_view()),
    path("runs/<str:run_id>/stream", views.run_join_stream),
]
