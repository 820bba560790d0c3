"""Routes: the LangGraph Agent Server API at the root, the admin under /admin/."""

from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularRedocView

from apps.core.views import InfoView, OkView

handler400 = "apps.core.exceptions.json_bad_request"
handler404 = "apps.core.exceptions.json_not_found"
handler500 = "apps.core.exceptions.json_server_error"

urlpatterns = [
    path("", OkView.as_view()),
    path("ok", OkView.as_view(), name="ok"),
    path("info", InfoView.as_view(), name="info"),
    path("openapi.json", SpectacularJSONAPIView.as_view(), name="openapi"),
    path("docs", SpectacularRedocView.as_view(url_name="openapi"), name="docs"),
    path(settings.ADMIN_PREFIX.lstrip("/"), admin.site.urls),
    path("", include("apps.graphs.urls")),
    path("", include("apps.threads.urls")),
    path("", include("apps.memory.urls")),
    path("", include("apps.crons.urls")),
    path("", include("apps.runs.urls")),
    path("", include("apps.streams.urls")),
    path("", include("apps.ui.urls")),
]
