"""Reads of the model registry and the prediction log."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from django.conf import settings
from django.db.models import Exists, OuterRef, QuerySet

from mlmonitor.errors import ApplicationError

from .ids import uuid7_floor
from .models import MLModel, ModelVersion, Prediction


def model_list() -> QuerySet[MLModel]:
    """Enabled models with their versions, for the models endpoint."""
    return MLModel.objects.filter(is_enabled=True).prefetch_related("versions").order_by("name")


def model_get(*, name: str | None) -> MLModel:
    """An enabled model by name, or the default model when name is None; 404 otherwise."""
    if name is None:
        model = MLModel.objects.filter(is_default=True, is_enabled=True).first()
        if model is None:
            raise ApplicationError("No default model is configured.", code="not_found", status=404)
        return model
    model = MLModel.objects.filter(name=name, is_enabled=True).first()
    if model is None:
        raise ApplicationError(f"Unknown model {name!r}.", code="not_found", status=404, details={"model": name})
    return model


_RESOLVED: dict[tuple[str | None, str | None], tuple[float, ModelVersion]] = {}


def model_version_resolve_cached(*, model_name: str | None, version: str | None = None) -> ModelVersion:
    """model_version_resolve, remembered for MODEL_REGISTRY_CACHE_SECONDS in this process (the predict hot path).

    A change of active version reaches other processes within that many seconds; this process forgets at once
    (services call model_version_resolve_forget).
    """
    ttl = settings.MODEL_REGISTRY_CACHE_SECONDS
    key = (model_name, version)
    now = time.monotonic()
    cached = _RESOLVED.get(key)
    if cached is not None and now - cached[0] < ttl:
        return cached[1]
    found = model_version_resolve(model_name=model_name, version=version)
    if ttl > 0:
        _RESOLVED[key] = (now, found)
    return found


def model_version_resolve_forget() -> None:
    """Forget every cached resolution (after an activation or a default change in this process)."""
    _RESOLVED.clear()


def model_version_resolve(*, model_name: str | None, version: str | None = None) -> ModelVersion:
    """The active version of a model (or a named one); the model default when model_name is None."""
    queryset = ModelVersion.objects.select_related("model").filter(model__is_enabled=True)
    if model_name is None:
        queryset = queryset.filter(model__is_default=True)
    else:
        queryset = queryset.filter(model__name=model_name)
    if version is None:
        found = queryset.filter(is_active=True).first()
    else:
        found = queryset.filter(version=version).first()
    if found is not None:
        return found
    model = model_get(name=model_name)  # raises 404 for an unknown model
    if version is None:
        raise ApplicationError(f"Model {model.name!r} has no active version.", code="no_active_version", status=409)
    raise ApplicationError(
        f"Model {model.name!r} has no version {version!r}.",
        code="not_found",
        status=404,
        details={"model": model.name, "version": version},
    )


def model_version_active_list() -> QuerySet[ModelVersion]:
    """Active versions of enabled models."""
    return ModelVersion.objects.select_related("model").filter(is_active=True, model__is_enabled=True)


def prediction_window_read(
    *, version: ModelVersion, limit: int | None = None, since: datetime | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The most recent predictions of a version: (features [n, k] float64, predicted class indices [n]).

    One indexed query on (model_version, id); `since` bounds it by time through the time-ordered ids.
    """
    queryset = Prediction.objects.filter(model_version=version)
    if since is not None:
        queryset = queryset.filter(id__gte=uuid7_floor(since))
    queryset = queryset.order_by("-id")
    if limit is not None:
        queryset = queryset[:limit]
    rows = list(queryset.values_list("features", "predicted_index"))
    width = len(version.feature_schema)
    if not rows:
        return np.empty((0, width), dtype=np.float64), np.empty(0, dtype=np.int64)
    features = np.frombuffer(b"".join(bytes(r[0]) for r in rows), dtype=np.float64).reshape(len(rows), width)
    predicted = np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(rows))
    return features, predicted


@dataclass(frozen=True)
class ModelPerformance:
    """Accuracy and macro F1 of a model version over its most recent labelled predictions."""

    model_name: str
    model_version: str
    labelled: int
    coverage: float
    accuracy: float
    f1_macro: float


def classification_scores(*, y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> tuple[float, float]:
    """(accuracy, macro F1) over the classes present in either array, as sklearn computes them."""
    if y_true.size == 0:
        return 0.0, 0.0
    confusion = np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)
    true_positive = np.diag(confusion).astype(np.float64)
    support = confusion.sum(axis=1)
    predicted = confusion.sum(axis=0)
    present = (support + predicted) > 0
    denominator = (support + predicted).astype(np.float64)
    f1 = np.divide(2 * true_positive, denominator, out=np.zeros(n_classes), where=denominator > 0)
    accuracy = float(true_positive.sum() / y_true.size)
    return accuracy, float(f1[present].mean())


def model_performance_list(*, window: int) -> list[ModelPerformance]:
    """Performance of every version of an enabled model that has predictions (two indexed queries per version)."""
    has_predictions = Exists(Prediction.objects.filter(model_version=OuterRef("pk")))
    versions = ModelVersion.objects.select_related("model").filter(has_predictions, model__is_enabled=True)
    return model_version_performance_list(versions=versions, window=window)


def model_version_performance_list(*, versions: Iterable[ModelVersion], window: int) -> list[ModelPerformance]:
    """Accuracy, macro F1 and label coverage of the given versions (`version.model` loaded): two indexed queries per
    version, over its `window` most recent predictions and its `window` most recently labelled ones."""
    results: list[ModelPerformance] = []
    for version in versions:
        recent = Prediction.objects.filter(model_version=version).order_by("-id")[:window]
        recent_labels = list(recent.values_list("label_index", flat=True))
        labelled_rows = list(
            Prediction.objects.filter(model_version=version, label_index__isnull=False)
            .order_by("-labelled_at", "-id")  # labels posted together share labelled_at: newest prediction first
            .values_list("predicted_index", "label_index")[:window]
        )
        coverage = (sum(1 for v in recent_labels if v is not None) / len(recent_labels)) if recent_labels else 0.0
        if labelled_rows:
            pairs = np.asarray(labelled_rows, dtype=np.int64)
            accuracy, f1 = classification_scores(
                y_true=pairs[:, 1], y_pred=pairs[:, 0], n_classes=len(version.class_labels)
            )
        else:
            accuracy, f1 = 0.0, 0.0
        results.append(
            ModelPerformance(
                model_name=version.model.name,
                model_version=version.version,
                labelled=len(labelled_rows),
                coverage=coverage,
                accuracy=accuracy,
                f1_macro=f1,
            )
        )
    return results
