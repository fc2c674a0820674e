"""App config for the monitoring pages (overview, model charts, drift report, alerts)."""

from __future__ import annotations

from django.apps import AppConfig


class DashboardConfig(AppConfig):
    """Server-rendered monitoring pages drawn with Plotly from assets the app serves itself."""

    name = "dashboard"
    verbose_name = "Dashboard"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Point the admin's "View site" link at the dashboard."""
        from django.contrib import admin

        admin.site.site_url = "/dashboard/"
        admin.site.site_header = "mlmonitor administration"
