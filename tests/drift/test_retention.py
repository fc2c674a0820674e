"""Retention of drift runs: old runs go with their feature results, but the latest run of each model stays however
old it is (it is the model's current drift state)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from drift.models import DriftRun, FeatureDriftResult
from drift.services import drift_run_prune
from predictions.models import MLModel, ModelVersion

pytestmark = pytest.mark.django_db


@pytest.fixture
def run_at(iris_version: ModelVersion) -> Callable[..., DriftRun]:
    """Factory: a drift run of `model` (default iris) computed `days_ago` days ago, with two feature results."""

    def create(days_ago: float, *, model: MLModel | None = None) -> DriftRun:
        run = DriftRun.objects.create(
            model=model or iris_version.model,
            status=DriftRun.STATUS_OK,
            computed_at=timezone.now() - timedelta(days=days_ago),
            duration_seconds=0.1,
            window_size=100,
        )
        for name in ("petal_length", "petal_width"):
            FeatureDriftResult.objects.create(
                run=run, feature_name=name, feature_type="numeric", test="ks", status="ok", score=0.1, threshold=0.15
            )
        return run

    return create


def test_old_runs_go_with_their_features_and_each_models_latest_stays(
    run_at: Callable[..., DriftRun], register_iris: Callable[..., Any]
) -> None:
    """Retention 90 days: iris' runs of 120 and 100 days go, its latest (95 days, still too old) stays; a model
    whose only run is 200 days old keeps it; a busy model loses its 200-day run and keeps yesterday's."""
    # given
    gone = [run_at(120), run_at(100)]
    latest_iris = run_at(95)
    quiet = register_iris(name="quiet", default=False).model
    latest_quiet = run_at(200, model=quiet)
    busy = register_iris(name="busy", default=False).model
    gone.append(run_at(200, model=busy))
    recent = run_at(1, model=busy)
    # when
    dry = drift_run_prune(retention_days=90, batch_size=100, dry_run=True)
    result = drift_run_prune(retention_days=90, batch_size=100)
    # then
    assert dry.rows == 3 and "6 feature results" in dry.note
    assert result.rows == 3 and result.batches == 3  # one run per batch: 100 rows // 100 rows per run
    assert set(DriftRun.objects.values_list("pk", flat=True)) == {latest_iris.pk, latest_quiet.pk, recent.pk}
    assert not FeatureDriftResult.objects.filter(run_id__in=[r.pk for r in gone]).exists()
    assert FeatureDriftResult.objects.count() == 6


def test_the_api_still_shows_a_model_whose_runs_are_all_old(run_at: Callable[..., DriftRun], api_client: Any) -> None:
    """After pruning, GET .../drift still answers the latest (old) run instead of 404."""
    run_at(300)
    latest = run_at(200)
    drift_run_prune(retention_days=90, batch_size=5000)
    response = api_client.get("/api/v1/models/iris/drift")
    assert response.status_code == 200 and DriftRun.objects.get().pk == latest.pk
