"""Reads of thresholds, channels and alert history. Precedence for feature drift: (model, feature) > (all models,
feature) > (model, all features) > (all models, all features) > the seed's default. The rule generator applies the
same order (`rendering.scope_rank`), so the stored value that flags a feature is the value in its alert rule."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Q

from predictions.models import MLModel, ModelVersion

from .models import NotificationChannel, PublishState, Threshold
from .rendering import AlertmanagerOptions, ChannelSpec, ThresholdSpec, scope_rank

DEFAULT_FEATURE_DRIFT_THRESHOLD = 0.15  # the seed's DataDriftDetected value
DEFAULT_PREDICTION_DRIFT_THRESHOLD = 0.1  # the seed's PredictionDriftDetected value


def threshold_precedence(row: Threshold) -> int:
    """Lower wins: a row naming a feature beats one that does not; a row naming the model beats a global one."""
    return scope_rank(has_model=row.model_id is not None, has_feature=bool(row.feature_name))


def _threshold_best(
    rows: Sequence[Threshold], *, kind: str, model_id: int, feature_name: str | None = None
) -> Threshold | None:
    """The row that judges (model, feature) for a kind, by threshold_precedence; None when no enabled row applies."""
    features = ("", feature_name) if feature_name else ("",)
    candidates = [
        row for row in rows if row.kind == kind and row.model_id in (None, model_id) and row.feature_name in features
    ]
    return min(candidates, key=threshold_precedence, default=None)


def feature_drift_thresholds_resolve(*, model: MLModel, feature_names: Sequence[str]) -> dict[str, float]:
    """The threshold that flags each feature of a model as drifted: one number, shared with the alert rule."""
    rows = list(
        Threshold.objects.filter(
            Q(model__isnull=True) | Q(model=model), kind=Threshold.Kind.FEATURE_DRIFT, enabled=True
        )
    )
    resolved: dict[str, float] = {}
    for name in feature_names:
        best = _threshold_best(rows, kind=Threshold.Kind.FEATURE_DRIFT, model_id=model.pk, feature_name=name)
        resolved[name] = best.value if best is not None else DEFAULT_FEATURE_DRIFT_THRESHOLD
    return resolved


def prediction_drift_threshold_resolve(*, model: MLModel) -> float:
    """The prediction drift threshold of a model (default: the seed's 0.1)."""
    rows = list(
        Threshold.objects.filter(
            Q(model__isnull=True) | Q(model=model), kind=Threshold.Kind.PREDICTION_DRIFT, enabled=True
        )
    )
    best = _threshold_best(rows, kind=Threshold.Kind.PREDICTION_DRIFT, model_id=model.pk)
    return best.value if best is not None else DEFAULT_PREDICTION_DRIFT_THRESHOLD


@dataclass(frozen=True)
class ModelThresholds:
    """The stored thresholds that judge one model, resolved with the alert rules' precedence.

    `by_kind`: kind -> value for the per-model kinds that have an enabled row (no row: no alert rule, so nothing to
    draw). Feature drift always has a value (the seed's default without rows), as the drift engine uses it.
    """

    model_id: int
    by_kind: dict[str, float]
    feature_drift_default: float
    feature_drift_named: dict[str, float]

    def feature_drift(self, feature_name: str) -> float:
        """The threshold that flags this feature as drifted and that its DataDriftDetected rule compares with."""
        return self.feature_drift_named.get(feature_name, self.feature_drift_default)


MODEL_KINDS = (
    Threshold.Kind.LATENCY_P95,
    Threshold.Kind.ERROR_RATE,
    Threshold.Kind.LOW_CONFIDENCE,
    Threshold.Kind.ACCURACY_BELOW,
    Threshold.Kind.F1_BELOW,
    Threshold.Kind.PREDICTION_DRIFT,
    Threshold.Kind.DRIFT_STALE,
    Threshold.Kind.FEATURE_MISSING_RATE,  # the model-wide value of the data-quality kinds (per-feature rows aside)
    Threshold.Kind.FEATURE_OUT_OF_RANGE_RATE,
    Threshold.Kind.UNSEEN_CATEGORY_RATE,
    Threshold.Kind.ESTIMATED_ACCURACY_BELOW,
    Threshold.Kind.ESTIMATED_F1_BELOW,
    Threshold.Kind.LABELS_STALE,
)


def model_thresholds_resolve(*, model_ids: Sequence[int]) -> dict[int, ModelThresholds]:
    """The thresholds of several models in one query: {model id: ModelThresholds}."""
    rows = list(Threshold.objects.filter(Q(model__isnull=True) | Q(model_id__in=model_ids), enabled=True))
    feature_rows = [row for row in rows if row.kind == Threshold.Kind.FEATURE_DRIFT]
    resolved: dict[int, ModelThresholds] = {}
    for model_id in model_ids:
        by_kind = {}
        for kind in MODEL_KINDS:
            best = _threshold_best(rows, kind=kind, model_id=model_id)
            if best is not None:
                by_kind[str(kind)] = best.value
        default = _threshold_best(feature_rows, kind=Threshold.Kind.FEATURE_DRIFT, model_id=model_id)
        named_features = {
            row.feature_name for row in feature_rows if row.feature_name and row.model_id in (None, model_id)
        }
        named = {}
        for name in named_features:
            best = _threshold_best(
                feature_rows, kind=Threshold.Kind.FEATURE_DRIFT, model_id=model_id, feature_name=name
            )
            assert best is not None  # a row names this feature
            named[name] = best.value
        resolved[model_id] = ModelThresholds(
            model_id=model_id,
            by_kind=by_kind,
            feature_drift_default=default.value if default is not None else DEFAULT_FEATURE_DRIFT_THRESHOLD,
            feature_drift_named=named,
        )
    return resolved


def threshold_spec(row: Threshold) -> ThresholdSpec:
    """What the rule renderer needs of one threshold."""
    return ThresholdSpec(
        kind=str(row.kind),  # str(): unsaved rows may hold TextChoices members, which YAML cannot dump
        value=float(row.value),
        for_duration=str(row.for_duration),
        severity=str(row.severity),
        model_name=row.model.name if row.model is not None else None,
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
        model_name=row.model.name if row.model is not None else None,
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


# --- features a threshold may name ---------------------------------------------------------------------------------


def model_feature_names() -> dict[str, list[str]]:
    """Every registered model's feature names (of all its versions, the active version's order first), by model
    name: the features a feature-drift threshold may name."""
    names: dict[str, list[str]] = {}
    versions = ModelVersion.objects.select_related("model").order_by("model__name", "-is_active", "-created_at")
    for version in versions.only("model__name", "feature_schema", "is_active", "created_at"):
        known = names.setdefault(version.model.name, [])
        known.extend(name for name in version.schema.names if name not in known)
    return names


def threshold_feature_error(*, model: MLModel | None, feature_name: str) -> str:
    """Why a feature-drift threshold may not name this feature ("" when it may): the named model (or, with no model,
    every model) must have it."""
    features = model_feature_names()
    if model is not None:
        known = features.get(model.name, [])
        if feature_name in known:
            return ""
        return f"Model {model.name!r} has no feature {feature_name!r}; its features: {', '.join(known) or 'none'}."
    if any(feature_name in known for known in features.values()):
        return ""
    return f"No registered model has a feature {feature_name!r}."
