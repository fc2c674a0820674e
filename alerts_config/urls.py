"""Routes of the alerting API (mounted under /api/v1/)."""

from __future__ import annotations

from django.urls import path

from . import apis

urlpatterns = [
    path("alerts/webhook", apis.AlertWebhookApi.as_view(), name="alerts-webhook"),
]
