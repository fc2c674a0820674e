"""Reads of the model registry and the prediction log (predictions/selectors.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from django.db import connection
from django.db.models import Exists, OuterRef
from django.utils import timezone

from predictions.ids import uuid7_floor
from predictions.models import MLModel, ModelVersion, Prediction
from predictions.performance import classification_scores
from predictions.selectors import _performance_sql, model_version_performance_list


@pytest.mark.django_db
def test_performance_of_many_versions_in_one_query_equals_the_per_version_reading(
    django_assert_num_queries: Any,
) -> None:
    """Accuracy, F1, coverage and label counts of three versions, read in one statement, equal what the plain
    per-version reading gives: the `window` newest predictions for coverage, the `window` newest labels (ties on
    labelled_at broken by the newest prediction) for accuracy and F1."""
    # given
    rng = np.random.default_rng(7)
    now = timezone.now()
    versions = []
    for index, size in enumerate((0, 40, 300)):
        version = version_without_artifact(name=f"m{index}", class_labels=["a", "b", "c"])
        versions.append(version)
        Prediction.objects.bulk_create(
            [
                Prediction(
                    model_version=version,
                    features=b"",
                    predicted_index=int(rng.integers(0, 3)),
                    confidence=0.5,
                    probabilities=b"",
                    latency_ms=1.0,
                    label_index=int(rng.integers(0, 3)) if rng.random() < 0.6 else None,
                    labelled_at=now - timedelta(seconds=int(rng.integers(0, 5))),
                )
                for _ in range(size)
            ]
        )
    Prediction.objects.filter(label_index__isnull=True).update(labelled_at=None)
    window = 25

    def expected(version: ModelVersion) -> tuple[int, float, float, float]:
        recent = list(
            Prediction.objects.filter(model_version=version)
            .order_by("-id")[:window]
            .values_list("label_index", flat=True)
        )
        pairs = list(
            Prediction.objects.filter(model_version=version, label_index__isnull=False)
            .order_by("-labelled_at", "-id")
            .values_list("predicted_index", "label_index")[:window]
        )
        coverage = sum(v is not None for v in recent) / len(recent) if recent else 0.0
        if not pairs:
            return 0, coverage, 0.0, 0.0
        array = np.asarray(pairs)
        accuracy, f1 = classification_scores(y_true=array[:, 1], y_pred=array[:, 0], n_classes=3)
        return len(pairs), coverage, accuracy, f1

    # when
    with django_assert_num_queries(1):
        found = model_version_performance_list(versions=versions, window=window)
    # then
    for version, performance in zip(versions, found, strict=True):
        labelled, coverage, accuracy, f1 = expected(version)
        assert performance.labelled == labelled
        assert performance.coverage == pytest.approx(coverage)
        assert performance.accuracy == pytest.approx(accuracy)
        assert performance.f1_macro == pytest.approx(f1)
    assert found[0].labelled == 0 and found[2].labelled == window


def version_without_artifact(*, name: str, class_labels: list[str]) -> ModelVersion:
    """An active version 1 of a new model, with no artifact and no features: rows of its log are written directly."""
    return ModelVersion.objects.create(
        model=MLModel.objects.create(name=name),
        version="1",
        artifact="a.skops",
        artifact_sha256="0" * 64,
        feature_schema=[],
        class_labels=class_labels,
        is_active=True,
    )


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's plans")
def test_every_read_of_the_log_by_version_is_served_by_the_ascending_version_index() -> None:
    """The (model_version, id) index, ascending, serves the newest-first reads backwards: the drift window (with and
    without `since`), the recent branch of the performance statement and the has-predictions check all scan it, never
    the table or sort (sequential and bitmap scans and sorts are disabled, so that a missing index shows as a plan
    without it)."""
    # given
    version = version_without_artifact(name="m", class_labels=["a", "b"])
    window = Prediction.objects.filter(model_version=version).order_by("-id")
    since = window.filter(id__gte=uuid7_floor(timezone.now() - timedelta(hours=1)))
    has_predictions = ModelVersion.objects.filter(Exists(Prediction.objects.filter(model_version=OuterRef("pk"))))
    recent_sql, params = _performance_sql(version_ids=[version.pk], window=10)
    with connection.cursor() as cursor:
        for method in ("seqscan", "bitmapscan", "sort"):  # what an empty table makes cheaper than the index
            cursor.execute(f"SET LOCAL enable_{method} = off")
        # when
        plans = [
            window[:10].values_list("features", "predicted_index", "probabilities", "label_index").explain(),
            since[:10].values_list("features").explain(),
            has_predictions.explain(),
        ]
        cursor.execute("EXPLAIN " + recent_sql, params)
        plans.append("\n".join(row[0] for row in cursor.fetchall()))
    # then
    for plan in plans[:2]:
        assert "Index Scan Backward using prediction_version_recent" in plan, plan
    assert "prediction_version_recent" in plans[2], plans[2]
    assert "Index Scan Backward using prediction_version_recent" in plans[3], plans[3]
    assert "Seq Scan on predictions_prediction" not in "".join(plans)
