from django.urls import path

from apps.ui import views

urlpatterns = [
    path("ui/chat", views.ui_file, {"name": "chat.html"}),
    path("ui/<str:name>", views.ui_file),
]
