"""Alert thresholds, notification channels, the state of the last publish, and the alert history.

Thresholds and channels are what operators edit in the admin; `services.alerting_publish` turns them into the
Prometheus rules file and `alertmanager.yml`. Alert events are what Alertmanager posts back to the webhook.
"""

from __future__ import annotations

import math
import re
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator, URLValidator
from django.db import models

from mlmonitor.encryption import EncryptedTextField
from predictions.models import MLModel

from .rendering import PROMETHEUS_DURATION, SERVICE_RECEIVER

RECEIVER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def validate_prometheus_duration(value: str) -> None:
    """Accept Prometheus durations such as 30s, 5m, 1h30m; refuse empty or malformed ones."""
    if not value or not PROMETHEUS_DURATION.match(value):
        raise ValidationError(f"{value!r} is not a Prometheus duration (e.g. 0s, 30s, 5m, 1h30m).")


class Severity(models.TextChoices):
    """Alert severities (channels route by a minimum severity, in the order of rendering.SEVERITIES)."""

    INFO = "info", "info"
    WARNING = "warning", "warning"
    CRITICAL = "critical", "critical"


class Threshold(models.Model):
    """One alert rule's threshold. Feature-drift rows are also the drift engine's "drifted" threshold."""

    class Kind(models.TextChoices):
        LATENCY_P95 = "latency_p95", "p95 latency above (seconds)"
        ERROR_RATE = "error_rate", "error rate above (0..1)"
        FEATURE_DRIFT = "feature_drift", "feature drift score above"
        PREDICTION_DRIFT = "prediction_drift", "prediction drift score above"
        LOW_CONFIDENCE = "low_confidence", "median confidence below (0..1)"
        ACCURACY_BELOW = "accuracy_below", "accuracy (realized, from labels) below (0..1)"
        F1_BELOW = "f1_below", "macro F1 (realized, from labels) below (0..1)"
        DRIFT_STALE = "drift_stale", "drift job older than (seconds)"
        SERVICE_DOWN = "service_down", "service down (scrape fails)"
        FEATURE_MISSING_RATE = "feature_missing_rate", "missing-value rate of a feature above (0..1)"
        FEATURE_OUT_OF_RANGE_RATE = "feature_out_of_range_rate", "out-of-range rate of a feature above (0..1)"
        UNSEEN_CATEGORY_RATE = "unseen_category_rate", "unseen-category rate of a feature above (0..1)"
        ESTIMATED_ACCURACY_BELOW = "estimated_accuracy_below", "estimated accuracy (no labels needed) below (0..1)"
        ESTIMATED_F1_BELOW = "estimated_f1_below", "estimated macro F1 (no labels needed) below (0..1)"
        LABELS_STALE = "labels_stale", "no true label received for (seconds) while predictions flow"

    Severity = Severity

    kind = models.CharField(max_length=30, choices=Kind.choices)
    model = models.ForeignKey(MLModel, null=True, blank=True, on_delete=models.CASCADE, help_text="Empty: every model.")
    feature_name = models.CharField(
        max_length=200,
        blank=True,
        help_text="Feature drift and data-quality kinds only; empty: every feature.",
    )
    value = models.FloatField(
        help_text="Rates, confidences, accuracy, F1 (realized or estimated) and drift scores in 0..1; latency in "
        "seconds (> 0); drift job age and label age in seconds (> 0); ignored for service down."
    )
    for_duration = models.CharField(
        "for",
        max_length=20,
        default="5m",
        validators=[validate_prometheus_duration],
        help_text="How long the condition must hold before the alert fires (Prometheus duration: 0s, 30s, 5m, 1h).",
    )
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.WARNING)
    summary = models.CharField(max_length=200, blank=True, help_text="Empty: the kind's default text.")
    description = models.TextField(
        blank=True, help_text="Empty: the kind's default text. Prometheus templates such as {{ $value }} work."
    )
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
        scope = self.model.name if self.model is not None else "all models"
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
            Kind.FEATURE_MISSING_RATE,
            Kind.FEATURE_OUT_OF_RANGE_RATE,
            Kind.UNSEEN_CATEGORY_RATE,
            Kind.ESTIMATED_ACCURACY_BELOW,
            Kind.ESTIMATED_F1_BELOW,
        }
    )
    BELOW_KINDS = frozenset(
        {
            Kind.LOW_CONFIDENCE,
            Kind.ACCURACY_BELOW,
            Kind.F1_BELOW,
            Kind.ESTIMATED_ACCURACY_BELOW,
            Kind.ESTIMATED_F1_BELOW,
        }
    )
    SECONDS_KINDS = frozenset({Kind.LATENCY_P95, Kind.DRIFT_STALE, Kind.LABELS_STALE})
    DATA_QUALITY_KINDS = frozenset(
        {Kind.FEATURE_MISSING_RATE, Kind.FEATURE_OUT_OF_RANGE_RATE, Kind.UNSEEN_CATEGORY_RATE}
    )
    FEATURE_KINDS = DATA_QUALITY_KINDS | {Kind.FEATURE_DRIFT}

    @property
    def comparator(self) -> str:
        """How the metric is compared with the value: fixed by the kind, so a rule cannot be turned upside down."""
        if self.kind == self.Kind.SERVICE_DOWN:
            return "== 0"
        return "<" if self.kind in self.BELOW_KINDS else ">"

    def clean(self) -> None:
        """Refuse values out of range for the kind, a feature or model on a kind that has none, and a feature the model
        (with no model: every model) does not have."""
        errors: dict[str, str] = {}
        value = self.value
        if value is None or not math.isfinite(value):
            errors["value"] = f"A threshold must be a finite number, not {value}."
        elif self.kind in self.UNIT_INTERVAL_KINDS and not 0.0 <= value <= 1.0:
            errors["value"] = f"A {self.get_kind_display()} threshold must lie in 0..1, not {value}."
        elif self.kind in self.SECONDS_KINDS and not value > 0:
            errors["value"] = f"A {self.get_kind_display()} threshold must be greater than 0, not {value}."
        if self.feature_name and self.kind not in self.FEATURE_KINDS:
            errors["feature_name"] = "Only feature-drift and data-quality thresholds name a feature."
        elif self.feature_name:
            from .selectors import threshold_feature_error  # the selectors import this module

            unknown = threshold_feature_error(model=self.model, feature_name=self.feature_name)
            if unknown:
                errors["feature_name"] = unknown
        if self.model_id is not None and self.kind == self.Kind.SERVICE_DOWN:
            errors["model"] = (
                "Service down watches the web service's scrape target, not a model: leave the model empty."
            )
        if errors:
            raise ValidationError(errors)


class NotificationChannel(models.Model):
    """Where Alertmanager sends alerts besides the service's own history: Slack, email or a generic webhook.

    Secrets (the Slack webhook URL, webhook credentials) are written to files under ALERTMANAGER_SECRETS_DIR and
    referenced from alertmanager.yml by `*_file` options, so the generated config carries none of them.
    """

    class Kind(models.TextChoices):
        SLACK = "slack", "Slack"
        EMAIL = "email", "email"
        WEBHOOK = "webhook", "webhook"

    name = models.CharField(
        max_length=100,
        unique=True,
        help_text="The Alertmanager receiver name: letters, digits, '.', '_' and '-'.",
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    enabled = models.BooleanField(default=True)
    min_severity = models.CharField(
        max_length=10, choices=Severity.choices, default=Severity.WARNING, help_text="Alerts at or above this."
    )
    model = models.ForeignKey(
        MLModel, null=True, blank=True, on_delete=models.CASCADE, help_text="Empty: alerts of every model."
    )
    send_resolved = models.BooleanField(default=True)
    # The secrets: encrypted at rest (mlmonitor/encryption.py), write-only in the admin.
    slack_webhook_url = EncryptedTextField(
        "Slack webhook URL", max_length=500, blank=True, help_text="Secret: kept out of alertmanager.yml."
    )
    slack_channel = models.CharField(max_length=100, blank=True, help_text="e.g. #ml-alerts; empty: the hook's own.")
    email_to = models.CharField(
        max_length=500, blank=True, help_text="Comma-separated addresses; the SMTP server comes from the environment."
    )
    webhook_url = EncryptedTextField(
        max_length=500, blank=True, help_text="user:password@ in the URL becomes basic auth read from a file."
    )
    webhook_bearer_token = EncryptedTextField(
        max_length=500, blank=True, help_text="Optional; sent as 'Authorization: Bearer', read from a file."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"

    def clean(self) -> None:
        """Each kind needs its own fields; URLs must be http(s); email needs the SMTP settings."""
        errors: dict[str, str] = {}
        if self.name and not RECEIVER_NAME.match(self.name):
            errors["name"] = "Use letters, digits, '.', '_' and '-' only, starting with a letter or digit."
        elif self.name == SERVICE_RECEIVER:
            errors["name"] = f"{SERVICE_RECEIVER!r} is the service's own receiver; choose another name."
        if self.kind == self.Kind.SLACK:
            if not self.slack_webhook_url:
                errors["slack_webhook_url"] = "A Slack channel needs its incoming webhook URL."
            elif not _is_http_url(self.slack_webhook_url):
                errors["slack_webhook_url"] = "Enter an http(s) URL."
        elif self.kind == self.Kind.EMAIL:
            addresses = [a.strip() for a in self.email_to.split(",") if a.strip()]
            if not addresses:
                errors["email_to"] = "An email channel needs at least one address."
            else:
                for address in addresses:
                    try:
                        EmailValidator()(address)
                    except ValidationError:
                        errors["email_to"] = f"{address!r} is not an email address."
                        break
            if not (settings.ALERT_SMTP_SMARTHOST and settings.ALERT_SMTP_FROM):
                errors["kind"] = "Email needs ALERT_SMTP_SMARTHOST and ALERT_SMTP_FROM in the environment."
        elif self.kind == self.Kind.WEBHOOK:
            if not self.webhook_url:
                errors["webhook_url"] = "A webhook channel needs a URL."
            elif not _is_http_url(self.webhook_url):
                errors["webhook_url"] = "Enter an http(s) URL."
            elif urlsplit(self.webhook_url).username and self.webhook_bearer_token:
                errors["webhook_bearer_token"] = "Use either credentials in the URL or a bearer token, not both."  # noqa: S105
        if errors:
            raise ValidationError(errors)


def _is_http_url(value: str) -> bool:
    """True for an http(s) URL Django's validator accepts (credentials in it allowed)."""
    if urlsplit(value).scheme not in ("http", "https"):
        return False
    try:
        URLValidator(schemes=["http", "https"])(value)
    except ValidationError:
        return False
    return True


class PublishState(models.Model):
    """The one row that serializes publishing (locked while a publish runs) and tells the operator how it went."""

    SINGLETON_ID = 1

    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    ok = models.BooleanField(default=True, help_text="Whether the last attempt published everything it rendered.")
    last_error = models.TextField(blank=True, help_text="Why the last failed attempt kept the previous files.")
    last_error_at = models.DateTimeField(null=True, blank=True)
    notes = models.TextField(blank=True, help_text="Validation and reload results of the last attempt.")
    rules_sha256 = models.CharField(max_length=64, blank=True)
    alertmanager_sha256 = models.CharField(max_length=64, blank=True)

    class Meta:
        verbose_name = "publish state"
        verbose_name_plural = "publish state"

    def __str__(self) -> str:
        return "alerting config: " + ("published" if self.ok else "last publish failed")


class AlertEvent(models.Model):
    """One alert as Alertmanager reported it: a firing episode, identified by fingerprint and start time."""

    STATUS_FIRING = "firing"
    STATUS_RESOLVED = "resolved"
    STATUS_CHOICES = [(STATUS_FIRING, "firing"), (STATUS_RESOLVED, "resolved")]

    fingerprint = models.CharField(max_length=64)
    alertname = models.CharField(max_length=200, db_index=True)
    status = models.CharField(max_length=10, choices=STATUS_CHOICES)
    severity = models.CharField(max_length=20, blank=True)
    model_name = models.CharField(max_length=200, blank=True, db_index=True, help_text="The model_name label.")
    labels = models.JSONField(default=dict)
    annotations = models.JSONField(default=dict)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField(null=True, blank=True)
    generator_url = models.CharField(max_length=2000, blank=True)
    receiver = models.CharField(max_length=200, blank=True)
    notifications = models.PositiveIntegerField(default=1, help_text="How many times Alertmanager posted it.")
    received_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-starts_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["fingerprint", "starts_at"], name="unique_alert_episode"),
        ]
        indexes = [models.Index(fields=["status", "-starts_at"], name="alertevent_status_recent")]

    def __str__(self) -> str:
        scope = f" ({self.model_name})" if self.model_name else ""
        return f"{self.alertname}{scope} {self.status} since {self.starts_at:%Y-%m-%d %H:%M:%S}"
