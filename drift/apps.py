"""App config for reference datasets, drift runs and the drift schedule."""

from __future__ import annotations

from django.apps import AppConfig


class DriftConfigApp(AppConfig):
    """Reference data, drift statistics, drift runs, Celery drift tasks and drift gauges."""

    name = "drift"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Register what apps below this one read from it without importing it: the threshold admin's advice
        (suggested values, backtests; alerts_config.advice) and the active reference's ranges and categories for the
        data-quality monitors of the predict path (predictions/data_quality.py)."""
        from alerts_config.advice import advisor_register
        from predictions.data_quality import ReferenceSource, reference_source_register

        from .advisors import DriftThresholdAdvisor
        from .selectors import reference_data_quality_get, reference_dataset_active_key

        advisor_register(DriftThresholdAdvisor())
        reference_source_register(
            ReferenceSource(
                active_key=lambda version_id: reference_dataset_active_key(model_version_id=version_id),
                expectations=lambda key: reference_data_quality_get(reference_id=key[0], uploaded_at=key[1]),
            )
        )
