from django.urls import path

from apps.crons import views

urlpatterns = [
    path("runs/crons", views.CronCreateView.as_view()),
    path("runs/crons/search", views.CronSearchView.as_view()),
    path("runs/crons/count", views.CronCountView.as_view()),
    path("runs/crons/<str:cron_id>", views.CronDetailView.as_view()),
    path("threads/<str:thread_id>/runs/crons", views.ThreadCronCreateView.as_view()),
]
