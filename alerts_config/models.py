"""Alert thresholds: one row per rule, optionally narrowed to a model and (feature drift) a feature."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from predictions.models import MLModel

PROMETHEUS_DURATION = re.compile(r"^((\d+)y)?((\d+)w)?((\d+)d)?((\d+)h)?((\d+)m)?((\d+)s)?((\d+)ms)?$")


def validate_prometheus_duration(value: str) -> None:
    """Accept Prometheus durations such as 30s, 5m, 1h30m; refuse empty or malformed ones."""
    if not value or not PROMETHEUS_DURATION.match(value):
        raise ValidationError(f"{value!r} is not a Prometheus duration (e.g. 30s, 5m, 1h30m).")


class Threshold(models.Model):
    """One alert rule's threshold. Feature-drift rows are also the drift engine's "drifted" threshold."""

    class Kind(models.TextChoices):
        LATENCY_P95 = "latency_p95", "p95 latency above (seconds)"
        ERROR_RATE = "error_rate", "error rate above (0..1)"
        FEATURE_DRIFT = "feature_drift", "feature drift score above"
        PREDICTION_DRIFT = "prediction_drift", "prediction drift score above"
        LOW_CONFIDENCE = "low_confidence", "median confidence below (0..1)"
        ACCURACY_BELOW = "accuracy_below", "accuracy below (0..1)"
        F1_BELOW = "f1_below", "macro F1 below (0..1)"
        DRIFT_STALE = "drift_stale", "drift job older than (seconds)"
        SERVICE_DOWN = "service_down", "service down (scrape fails)"

    class Severity(models.TextChoices):
        INFO = "info", "info"
        WARNING = "warning", "warning"
        CRITICAL = "critical", "critical"

    kind = models.CharField(max_length=30, choices=Kind.choices)
    model = models.ForeignKey(MLModel, null=True, blank=True, on_delete=models.CASCADE, help_text="Empty: every model.")
    feature_name = models.CharField(max_length=200, blank=True, help_text="Feature drift only; empty: every feature.")
    value = models.FloatField()
    for_duration = models.CharField(max_length=20, default="5m", validators=[validate_prometheus_duration])
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.WARNING)
    summary = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True)
    enabled = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["kind", "model__name", "feature_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "model", "feature_name"], name="unique_threshold_scope", nulls_distinct=False
            ),
        ]

    def __str__(self) -> str:
        scope = self.model.name if self.model_id else "all models"
        if self.feature_name:
            scope += f" / {self.feature_name}"
        return f"{self.get_kind_display()} {self.value} ({scope})"

    UNIT_INTERVAL_KINDS = frozenset(
        {
            Kind.ERROR_RATE,
            Kind.FEATURE_DRIFT,
            Kind.PREDICTION_DRIFT,
            Kind.LOW_CONFIDENCE,
            Kind.ACCURACY_BELOW,
            Kind.F1_BELOW,
        }
    )

    def clean(self) -> None:
        """Refuse values out of range for the kind, and a feature on a kind that has none."""
        errors: dict[str, str] = {}
        if self.kind in self.UNIT_INTERVAL_KINDS and not 0.0 <= self.value <= 1.0:
            errors["value"] = f"A {self.get_kind_display()} threshold must lie in 0..1, not {self.value}."
        if self.kind in (self.Kind.LATENCY_P95, self.Kind.DRIFT_STALE) and not self.value > 0:
            errors["value"] = f"A {self.get_kind_display()} threshold must be greater than 0, not {self.value}."
        if self.feature_name and self.kind != self.Kind.FEATURE_DRIFT:
            errors["feature_name"] = "Only feature-drift thresholds name a feature."
        if errors:
            raise ValidationError(errors)


Q_FEATURE_DRIFT = Q(kind=Threshold.Kind.FEATURE_DRIFT, enabled=True)
