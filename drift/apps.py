"""App config for reference datasets, drift runs and the drift schedule."""

from __future__ import annotations

from django.apps import AppConfig


class DriftConfigApp(AppConfig):
    """Reference data, drift statistics, drift runs, Celery drift tasks and drift gauges."""

    name = "drift"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Give the data-quality monitors of the predict path (predictions/data_quality.py) the active reference's
        ranges and categories: that app sits below this one and does not import it."""
        from predictions.data_quality import ReferenceSource, reference_source_register

        from .selectors import reference_data_quality_get, reference_dataset_active_key

        reference_source_register(
            ReferenceSource(
                active_key=lambda version_id: reference_dataset_active_key(model_version_id=version_id),
                expectations=lambda key: reference_data_quality_get(reference_id=key[0], uploaded_at=key[1]),
            )
        )
