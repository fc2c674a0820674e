"""App config for thresholds, notification channels, generated alerting config and alert history."""

from __future__ import annotations

from django.apps import AppConfig


class AlertsConfigConfig(AppConfig):
    """Thresholds and channels become Prometheus rules and Alertmanager config; alerts come back as history."""

    name = "alerts_config"
    verbose_name = "Alerting"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Register the system checks of the generated-config directories and the validators."""
        from . import checks  # noqa: F401 - registering is importing
