"""The dashboard owns no data; its one model only carries the "view dashboard" permission."""

from __future__ import annotations

from django.db import models

VIEW_PERMISSION = "dashboard.view_dashboard"


class DashboardAccess(models.Model):
    """No table: the holder of the read-only permission `dashboard.view_dashboard` (give it to users or groups in
    the admin; staff users see the dashboard without it)."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [("view_dashboard", "Can view the monitoring dashboard (read-only)")]
