"""Routes of the drift API (mounted under /api/v1/)."""

from __future__ import annotations

from django.urls import path

from . import apis

urlpatterns = [
    path("models/<str:name>/drift", apis.DriftLatestApi.as_view(), name="drift-latest"),
    path("models/<str:name>/drift/history", apis.DriftHistoryApi.as_view(), name="drift-history"),
    path("models/<str:name>/drift/run", apis.DriftRunApi.as_view(), name="drift-run"),
    path("models/<str:name>/drift/run/<str:task_id>", apis.DriftRunStatusApi.as_view(), name="drift-run-status"),
]
