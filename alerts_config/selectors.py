"""Reads of thresholds, channels and alert history. Precedence for feature drift: (model, feature) > (all models,
feature) > (model, all features) > (all models, all features) > the seed's default. The rule generator applies the
same order (`rendering.scope_rank`), so the stored value that flags a feature is the value in its alert rule."""

from __future__ import annotations

from collections.abc import Sequence

from django.conf import settings
from django.db.models import Q

from predictions.models import MLModel

from .models import NotificationChannel, PublishState, Threshold
from .rendering import AlertmanagerOptions, ChannelSpec, ThresholdSpec, scope_rank

DEFAULT_FEATURE_DRIFT_THRESHOLD = 0.15  # the seed's DataDriftDetected value
DEFAULT_PREDICTION_DRIFT_THRESHOLD = 0.1  # the seed's PredictionDriftDetected value


def threshold_precedence(row: Threshold) -> int:
    """Lower wins: a row naming a feature beats one that does not; a row naming the model beats a global one."""
    return scope_rank(has_model=row.model_id is not None, has_feature=bool(row.feature_name))


def feature_drift_thresholds_resolve(*, model: MLModel, feature_names: Sequence[str]) -> dict[str, float]:
    """The threshold that flags each feature of a model as drifted: one number, shared with the alert rule."""
    rows = list(
        Threshold.objects.filter(
            Q(model__isnull=True) | Q(model=model), kind=Threshold.Kind.FEATURE_DRIFT, enabled=True
        )
    )
    resolved: dict[str, float] = {}
    for name in feature_names:
        candidates = sorted((r for r in rows if r.feature_name in ("", name)), key=threshold_precedence)
        resolved[name] = candidates[0].value if candidates else DEFAULT_FEATURE_DRIFT_THRESHOLD
    return resolved


def prediction_drift_threshold_resolve(*, model: MLModel) -> float:
    """The prediction drift threshold of a model (default: the seed's 0.1)."""
    rows = Threshold.objects.filter(
        Q(model__isnull=True) | Q(model=model), kind=Threshold.Kind.PREDICTION_DRIFT, enabled=True
    )
    best = min(rows, key=threshold_precedence, default=None)
    return best.value if best is not None else DEFAULT_PREDICTION_DRIFT_THRESHOLD


def threshold_spec(row: Threshold) -> ThresholdSpec:
    """What the rule renderer needs of one threshold."""
    return ThresholdSpec(
        kind=str(row.kind),  # str(): unsaved rows may hold TextChoices members, which YAML cannot dump
        value=float(row.value),
        for_duration=str(row.for_duration),
        severity=str(row.severity),
        model_name=row.model.name if row.model_id is not None else None,
        feature_name=row.feature_name or None,
        summary=row.summary,
        description=row.description,
    )


def threshold_specs_list(*, replacing: Threshold | None = None) -> list[ThresholdSpec]:
    """The enabled thresholds as render specs; optionally with one unsaved row in place of its stored version
    (`replacing`), to check a change before it is stored."""
    skip = replacing.pk if replacing is not None else None
    rows = [
        row for row in Threshold.objects.filter(enabled=True).select_related("model") if skip is None or row.pk != skip
    ]
    if replacing is not None and replacing.enabled:
        rows.append(replacing)
    return [threshold_spec(row) for row in rows]


def channel_spec(row: NotificationChannel) -> ChannelSpec:
    """What the Alertmanager renderer needs of one channel."""
    return ChannelSpec(
        id=row.pk or 0,
        name=row.name,
        kind=str(row.kind),
        min_severity=str(row.min_severity),
        model_name=row.model.name if row.model_id is not None else None,
        send_resolved=row.send_resolved,
        slack_webhook_url=row.slack_webhook_url,
        slack_channel=row.slack_channel,
        email_to=row.email_to,
        webhook_url=row.webhook_url,
        webhook_bearer_token=row.webhook_bearer_token,
    )


def channel_specs_list(*, replacing: NotificationChannel | None = None) -> list[ChannelSpec]:
    """The enabled channels as render specs, ordered by name; `replacing` as in threshold_specs_list."""
    skip = replacing.pk if replacing is not None else None
    rows = [
        row
        for row in NotificationChannel.objects.filter(enabled=True).select_related("model")
        if skip is None or row.pk != skip
    ]
    if replacing is not None and replacing.enabled:
        rows.append(replacing)
    return [channel_spec(row) for row in sorted(rows, key=lambda r: r.name)]


def alertmanager_options() -> AlertmanagerOptions:
    """The settings part of alertmanager.yml."""
    return AlertmanagerOptions(
        webhook_url=settings.ALERT_WEBHOOK_URL,
        webhook_token_file=str(settings.ALERT_WEBHOOK_TOKEN_FILE) if settings.ALERT_WEBHOOK_TOKEN_FILE else "",
        secrets_dir=str(settings.ALERTMANAGER_SECRETS_DIR),
        group_wait=settings.ALERT_GROUP_WAIT,
        group_interval=settings.ALERT_GROUP_INTERVAL,
        repeat_interval=settings.ALERT_REPEAT_INTERVAL,
        smtp_smarthost=settings.ALERT_SMTP_SMARTHOST,
        smtp_from=settings.ALERT_SMTP_FROM,
        smtp_username=settings.ALERT_SMTP_USERNAME,
        smtp_password_file=settings.ALERT_SMTP_PASSWORD_FILE,
        smtp_require_tls=settings.ALERT_SMTP_REQUIRE_TLS,
        public_url=settings.MLMONITOR_PUBLIC_URL,
    )


def publish_state_get() -> PublishState:
    """The publish state row (an unsaved default before the first publish)."""
    return PublishState.objects.filter(pk=PublishState.SINGLETON_ID).first() or PublishState(
        pk=PublishState.SINGLETON_ID
    )
