"""Reads of the model registry and the prediction log."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from django.conf import settings
from django.db import connection
from django.db.models import Exists, OuterRef, QuerySet, Subquery

from mlmonitor.errors import ApplicationError

from .encoding import matrix_from_bytes
from .ids import uuid7_floor
from .models import MLModel, ModelVersion, Prediction
from .performance import ModelPerformance, classification_scores


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


def model_version_get(*, model_name: str, version: str) -> ModelVersion | None:
    """A version of a model by their names, enabled or not, active or not; None when there is no such version."""
    return ModelVersion.objects.select_related("model").filter(model__name=model_name, version=version).first()


def model_version_active_list() -> QuerySet[ModelVersion]:
    """Active versions of enabled models."""
    return ModelVersion.objects.select_related("model").filter(is_active=True, model__is_enabled=True)


@dataclass(frozen=True)
class PredictionWindow:
    """The most recent predictions of a version, newest first, with what a drift run and a performance estimate read."""

    features: np.ndarray  # float64 [n, features], the prediction-log encoding
    predicted: np.ndarray  # int64 [n], predicted class index
    probabilities: np.ndarray  # float64 [n, classes], as the model returned them
    labels: np.ndarray  # int64 [n], true class index, -1 where no label was posted yet


def prediction_window_outcomes_read(
    *, version: ModelVersion, limit: int | None = None, since: datetime | None = None
) -> PredictionWindow:
    """The most recent predictions of a version, newest first, with their probabilities and true labels.

    One indexed query on (model_version, id); `since` bounds it by time through the time-ordered ids.
    """
    queryset = Prediction.objects.filter(model_version=version)
    if since is not None:
        queryset = queryset.filter(id__gte=uuid7_floor(since))
    queryset = queryset.order_by("-id")
    if limit is not None:
        queryset = queryset[:limit]
    rows = list(queryset.values_list("features", "predicted_index", "probabilities", "label_index"))
    count = len(rows)
    return PredictionWindow(
        features=matrix_from_bytes((r[0] for r in rows), rows=count, width=len(version.feature_schema)),
        predicted=np.fromiter((r[1] for r in rows), dtype=np.int64, count=count),
        probabilities=matrix_from_bytes((r[2] for r in rows), rows=count, width=len(version.class_labels)),
        labels=np.fromiter((-1 if r[3] is None else r[3] for r in rows), dtype=np.int64, count=count),
    )


def labels_last_received_list() -> dict[str, datetime]:
    """The time the last true label of each enabled model was received (models without any label are left out).

    One statement; each version's newest label is read through the (model_version, -labelled_at) index."""
    newest = (
        Prediction.objects.filter(model_version=OuterRef("pk"), label_index__isnull=False)
        .order_by("-labelled_at")
        .values("labelled_at")[:1]
    )
    last: dict[str, datetime] = {}
    rows = (
        ModelVersion.objects.filter(model__is_enabled=True)
        .annotate(last_label=Subquery(newest))
        .filter(last_label__isnull=False)
        .values_list("model__name", "last_label")
    )
    for name, when in rows:
        if name not in last or when > last[name]:
            last[name] = when
    return last


def model_performance_list(*, window: int) -> list[ModelPerformance]:
    """Performance of every version of an enabled model that has predictions (see model_version_performance_list)."""
    has_predictions = Exists(Prediction.objects.filter(model_version=OuterRef("pk")))
    versions = ModelVersion.objects.select_related("model").filter(has_predictions, model__is_enabled=True)
    return model_version_performance_list(versions=versions, window=window)


_PERFORMANCE_CHUNK = 50  # versions per statement


def _performance_sql(*, version_ids: list[int], window: int) -> tuple[str, list[int]]:
    """One statement for many versions: per version, the size and labelled count of its `window` most recent
    predictions (kind 0), and the confusion counts of its `window` most recently labelled ones (kind 1). Each branch
    is the same index scan with LIMIT as a per-version query; only the round trips and the rows sent are saved."""
    table = connection.ops.quote_name(Prediction._meta.db_table)
    # Only the quoted table name is put in; every value is a parameter.
    recent = (
        "SELECT %s, 0, 0, COUNT(*), COUNT(label_index) FROM (SELECT label_index FROM <table> "
        "WHERE model_version_id = %s ORDER BY id DESC LIMIT %s) recent"
    ).replace("<table>", table)
    # Labels posted together share labelled_at: the newest prediction first, as everywhere else.
    labelled = (
        "SELECT %s, 1, predicted_index, label_index, COUNT(*) FROM (SELECT predicted_index, label_index "
        "FROM <table> WHERE model_version_id = %s AND label_index IS NOT NULL "
        "ORDER BY labelled_at DESC, id DESC LIMIT %s) labelled GROUP BY predicted_index, label_index"
    ).replace("<table>", table)
    branches: list[str] = []
    params: list[int] = []
    for version_id in version_ids:
        branches += [recent, labelled]
        params += [version_id, version_id, window] * 2
    return " UNION ALL ".join(branches), params


def model_version_performance_list(*, versions: Iterable[ModelVersion], window: int) -> list[ModelPerformance]:
    """Accuracy, macro F1 and label coverage of the given versions (`version.model` loaded), over each version's
    `window` most recent predictions (coverage) and its `window` most recently labelled ones (accuracy, F1). One
    query per 50 versions; confusion counts, not rows, come back."""
    versions = list(versions)
    recent: dict[int, tuple[int, int]] = {}
    confusion: dict[int, list[tuple[int, int, int]]] = {}
    for start in range(0, len(versions), _PERFORMANCE_CHUNK):
        chunk = [v.pk for v in versions[start : start + _PERFORMANCE_CHUNK]]
        with connection.cursor() as cursor:
            cursor.execute(*_performance_sql(version_ids=chunk, window=window))
            for version_id, kind, first, second, third in cursor.fetchall():
                if kind == 0:  # (_, rows in the window, labelled rows in the window)
                    recent[int(version_id)] = (int(second), int(third))
                else:  # (predicted index, true index, count)
                    confusion.setdefault(int(version_id), []).append((int(first), int(second), int(third)))
    results: list[ModelPerformance] = []
    for version in versions:
        total, labelled_recent = recent.get(version.pk, (0, 0))
        cells = confusion.get(version.pk, [])
        labelled = sum(count for _, _, count in cells)
        if cells:
            predicted = np.repeat([c[0] for c in cells], [c[2] for c in cells]).astype(np.int64)
            true = np.repeat([c[1] for c in cells], [c[2] for c in cells]).astype(np.int64)
            accuracy, f1 = classification_scores(y_true=true, y_pred=predicted, n_classes=len(version.class_labels))
        else:
            accuracy, f1 = 0.0, 0.0
        results.append(
            ModelPerformance(
                model_name=version.model.name,
                model_version=version.version,
                labelled=labelled,
                coverage=labelled_recent / total if total else 0.0,
                accuracy=accuracy,
                f1_macro=f1,
            )
        )
    return results
