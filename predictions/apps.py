"""App config for the model registry and prediction log."""

from __future__ import annotations

from django.apps import AppConfig


class PredictionsConfig(AppConfig):
    """Model registry, inference, prediction log, feedback, request metrics."""

    name = "predictions"
    default_auto_field = "django.db.models.BigAutoField"
