"""URL configuration: the API under /api/v1/, the seed's paths, admin, schema, metrics, health and the dashboard."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from drift.apis import DefaultDriftApi
from predictions.apis import DefaultPredictApi

from . import views

handler400 = "mlmonitor.errors.handler400"
handler403 = "mlmonitor.errors.handler403"
handler404 = "mlmonitor.errors.handler404"
handler500 = "mlmonitor.errors.handler500"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("predictions.urls")),
    path("api/v1/", include("drift.urls")),
    path("api/v1/", include("alerts_config.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("predict", DefaultPredictApi.as_view(), name="seed-predict"),
    path("drift", DefaultDriftApi.as_view(), name="seed-drift"),
    path("metrics", views.metrics_view, name="metrics"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    # Uploaded artifacts and reference files, for staff (the admin links to them).
    path("media/<path:path>", views.media_download, name="media-download"),
    # The monitoring pages; the root URL leads there (or to their login).
    path("dashboard/", include("dashboard.urls")),
    path("", RedirectView.as_view(pattern_name="dashboard:overview", permanent=False), name="root"),
]
