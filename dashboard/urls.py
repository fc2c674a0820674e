"""The dashboard's URLs (README "Dashboard")."""

from __future__ import annotations

from django.urls import path

from . import views

app_name = "dashboard"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("models/<str:name>/", views.model_detail, name="model"),
    path("models/<str:name>/drift/", views.model_drift, name="model-drift"),
    path("drift-runs/<int:run_id>/", views.drift_run, name="drift-run"),
    path("alerts/", views.alerts, name="alerts"),
    path("login/", views.DashboardLoginView.as_view(), name="login"),
    path("logout/", views.DashboardLogoutView.as_view(), name="logout"),
]
