"""Routes of the registry, prediction and feedback API (mounted under /api/v1/)."""

from __future__ import annotations

from django.urls import path

from . import apis

urlpatterns = [
    path("models", apis.ModelListApi.as_view(), name="model-list"),
    path("models/<str:name>/predict", apis.PredictApi.as_view(), name="model-predict"),
    path("models/<str:name>/versions/<str:version>/predict", apis.VersionPredictApi.as_view(), name="version-predict"),
    path("predictions/<str:prediction_id>/feedback", apis.FeedbackApi.as_view(), name="prediction-feedback"),
    path("feedback", apis.FeedbackBulkApi.as_view(), name="feedback-bulk"),
]
