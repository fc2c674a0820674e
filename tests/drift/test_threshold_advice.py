"""Thresholds fitted to the data where thresholds are edited: the suggestion beside the set value in the admin, the
adopt action, and the backtest of a candidate value over the stored drift runs of the last 30 days."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from alerts_config import services as alerting
from alerts_config.advice import threshold_backtest, threshold_suggestion
from alerts_config.models import Threshold
from drift.models import DriftRun, FeatureDriftResult, ReferenceDataset, SuggestedThreshold
from predictions.models import MLModel, ModelVersion

IRIS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def stored_run(model: MLModel, *, days_ago: float, scores: dict[str, float], **fields: Any) -> DriftRun:
    """A stored drift run of `model` computed `days_ago` days ago with these feature scores."""
    run = DriftRun.objects.create(
        model=model,
        status=DriftRun.STATUS_OK,
        computed_at=timezone.now() - timedelta(days=days_ago),
        duration_seconds=0.1,
        window_size=500,
        **fields,
    )
    FeatureDriftResult.objects.bulk_create(
        FeatureDriftResult(
            run=run, feature_name=name, feature_type="numeric", test="ks", status="ok", score=score, threshold=0.15
        )
        for name, score in scores.items()
    )
    return run


@pytest.fixture
def runs(iris_version: ModelVersion, register_iris: Any) -> MLModel:
    """Five runs of iris (four in the last 30 days) and one run of another model."""
    iris = iris_version.model
    stored_run(iris, days_ago=1, scores={"petal_length": 0.30, "sepal_width": 0.05}, prediction_score=0.2)
    stored_run(iris, days_ago=5, scores={"petal_length": 0.12, "sepal_width": 0.25}, prediction_score=0.05)
    stored_run(iris, days_ago=10, scores={"petal_length": 0.08, "sepal_width": 0.04}, estimated_accuracy=0.7)
    stored_run(iris, days_ago=29, scores={"petal_length": 0.20, "sepal_width": 0.02}, estimated_accuracy=0.9)
    stored_run(iris, days_ago=31, scores={"petal_length": 0.90, "sepal_width": 0.90}, prediction_score=0.9)
    other = register_iris(name="other", default=False).model
    stored_run(other, days_ago=2, scores={"petal_length": 0.50})
    return iris


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kind", "model", "feature", "value", "expected"),
    [
        ("feature_drift", "iris", "petal_length", 0.15, (2, 4)),  # 0.30 and 0.20; the 31-day-old run is out
        ("feature_drift", "iris", "petal_length", 0.10, (3, 4)),
        ("feature_drift", "iris", "", 0.15, (3, 4)),  # any feature: runs 1, 2 (sepal_width 0.25) and 4
        ("feature_drift", None, "petal_length", 0.15, (3, 5)),  # every model: plus "other"
        ("prediction_drift", "iris", "", 0.1, (1, 2)),
        ("estimated_accuracy_below", "iris", "", 0.8, (1, 2)),
    ],
)
def test_the_backtest_counts_the_stored_runs_a_value_would_have_flagged(
    runs: MLModel, kind: str, model: str | None, feature: str, value: float, expected: tuple[int, int]
) -> None:
    """Counted on stored runs of the last 30 days in the threshold's scope: (flagged, runs considered)."""
    model_id = runs.pk if model == "iris" else None
    tested = threshold_backtest(kind=kind, model_id=model_id, feature_name=feature, value=value)
    assert tested is not None and (tested.flagged, tested.runs) == expected


@pytest.mark.django_db
def test_no_backtest_for_kinds_without_stored_runs(runs: MLModel) -> None:
    assert threshold_backtest(kind="latency_p95", model_id=runs.pk, value=0.5) is None


@pytest.fixture
def suggestions(iris_reference: ReferenceDataset) -> ReferenceDataset:
    """Suggestions of the iris reference at the default window size (1000) and at another size."""
    now = timezone.now()
    common = {"reference": iris_reference, "test": "ks", "quantile": 0.99, "confidence": 0.95, "resamples": 500}
    values = {"sepal_length": 0.071, "sepal_width": 0.064, "petal_length": 0.083, "petal_width": 0.079, "": 0.05}
    SuggestedThreshold.objects.bulk_create(
        [
            SuggestedThreshold(feature_name=name, window_size=1000, value=value, computed_at=now, **common)
            for name, value in values.items()
        ]
        + [SuggestedThreshold(feature_name="petal_length", window_size=200, value=0.2, computed_at=now, **common)]
    )
    return iris_reference


@pytest.mark.django_db
def test_the_suggestion_is_the_active_references_at_the_models_window_size(suggestions: ReferenceDataset) -> None:
    """Per feature its own value; over every feature the largest; for the prediction its own; none globally."""
    model_id = suggestions.model_version.model_id
    one = threshold_suggestion(kind="feature_drift", model_id=model_id, feature_name="petal_length")
    every = threshold_suggestion(kind="feature_drift", model_id=model_id)
    prediction = threshold_suggestion(kind="prediction_drift", model_id=model_id)
    assert one is not None and one.value == 0.083 and "window 1000" in one.note
    assert every is not None and every.value == 0.083 and "largest of 4 features" in every.note
    assert prediction is not None and prediction.value == 0.05
    assert threshold_suggestion(kind="feature_drift", model_id=None, feature_name="petal_length") is None
    assert threshold_suggestion(kind="error_rate", model_id=model_id) is None


@pytest.mark.django_db
def test_the_admin_list_shows_the_suggestion_and_the_adopt_action_sets_it(
    suggestions: ReferenceDataset, admin_client: Client, settings: Any
) -> None:
    """The changelist has the suggested value beside the set one; adopting writes it through the service."""
    model = suggestions.model_version.model
    threshold = alerting.threshold_create(kind="feature_drift", value=0.15, model=model, feature_name="petal_length")
    page = admin_client.get("/admin/alerts_config/threshold/").content.decode()
    assert "0.083" in page
    # when
    response = admin_client.post(
        "/admin/alerts_config/threshold/",
        {"action": "adopt_suggested", "_selected_action": [threshold.pk, Threshold.objects.get(kind="error_rate").pk]},
        follow=True,
    )
    # then
    assert response.status_code == 200
    assert Threshold.objects.get(pk=threshold.pk).value == pytest.approx(0.083)
    assert Threshold.objects.get(kind="error_rate").value == 0.05  # no suggestion: unchanged, and said so
    assert "No suggestion for" in response.content.decode()


@pytest.mark.django_db
def test_the_backtest_button_reports_the_candidate_and_saves_nothing(runs: MLModel, admin_client: Client) -> None:
    """Posting the form with the backtest button shows the count for the typed value; the stored value stays."""
    threshold = alerting.threshold_create(kind="feature_drift", value=0.15, model=runs, feature_name="petal_length")
    url = f"/admin/alerts_config/threshold/{threshold.pk}/change/"
    body = {
        "kind": "feature_drift",
        "model": runs.pk,
        "feature_name": "petal_length",
        "value": "0.1",
        "for_duration": "10m",
        "severity": "warning",
        "summary": "",
        "description": "",
        "enabled": "on",
        "_backtest": "Backtest",
    }
    # when
    response = admin_client.post(url, body)
    # then
    page = response.content.decode()
    assert response.status_code == 200
    assert "Backtest of 0.1: would have flagged 3 of 4 drift runs of the last 30 days" in page
    assert Threshold.objects.get(pk=threshold.pk).value == 0.15
    change_page = admin_client.get(url).content.decode()
    assert "The set value 0.15 would have flagged 2 of 4 drift runs of the last 30 days" in change_page
    assert "Backtest this value" in change_page
