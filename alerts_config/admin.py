"""Admin for alert thresholds."""

from __future__ import annotations

from django.contrib import admin

from .models import Threshold


@admin.register(Threshold)
class ThresholdAdmin(admin.ModelAdmin):
    """Thresholds; feature-drift rows also set the drift engine's "drifted" flag."""

    list_display = ["kind", "model", "feature_name", "value", "for_duration", "severity", "enabled"]
    list_filter = ["kind", "severity", "enabled", "model"]
