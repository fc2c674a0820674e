"""Reads of thresholds. Precedence for feature drift: (model, feature) > (all models, feature) > (model, all
features) > (all models, all features) > the seed's default. The rule generator applies the same order."""

from __future__ import annotations

from collections.abc import Sequence

from django.db.models import Q

from predictions.models import MLModel

from .models import Threshold

DEFAULT_FEATURE_DRIFT_THRESHOLD = 0.15  # the seed's DataDriftDetected value
DEFAULT_PREDICTION_DRIFT_THRESHOLD = 0.1  # the seed's PredictionDriftDetected value


def threshold_precedence(row: Threshold) -> int:
    """Lower wins: a row naming a feature beats one that does not; a row naming the model beats a global one."""
    return (0 if row.feature_name else 2) + (0 if row.model_id is not None else 1)


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
