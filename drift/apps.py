"""App config for reference datasets, drift runs and the drift schedule."""

from __future__ import annotations

from django.apps import AppConfig


class DriftConfigApp(AppConfig):
    """Reference data, drift statistics, drift runs, Celery drift tasks and drift gauges."""

    name = "drift"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Give the threshold admin its advice (suggested values, backtests) without alerts_config importing drift."""
        from alerts_config.advice import advisor_register

        from .advisors import DriftThresholdAdvisor

        advisor_register(DriftThresholdAdvisor())
