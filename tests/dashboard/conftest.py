"""Dashboard fixtures: users with and without access, models, and drift runs whose features carry the chart data a
drift run stores (tests/dashboard/factories.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone

from drift.models import DriftRun, FeatureDriftResult
from predictions.models import ModelVersion
from tests.dashboard.factories import FeatureSpec, feature_result_build, model_version_make
from tests.servers import free_port

__all__ = ["FeatureSpec", "runs_history"]


@pytest.fixture(autouse=True)
def _dashboard_sources(settings: Any) -> None:
    """Prometheus and Alertmanager on closed loopback ports unless a test starts real ones; no answer cache."""
    settings.PROMETHEUS_URL = f"http://127.0.0.1:{free_port()}"
    settings.ALERTMANAGER_URL = f"http://127.0.0.1:{free_port()}"
    settings.DASHBOARD_CACHE_SECONDS = 0


@pytest.fixture
def make_user(db: None) -> Callable[..., Any]:
    """Factory: a user, optionally staff, optionally holding dashboard.view_dashboard."""
    counter = iter(range(1_000_000))

    def make(*, staff: bool = False, permission: bool = False, password: str = "pw-for-tests-only") -> Any:
        user = get_user_model().objects.create_user(username=f"user{next(counter)}", password=password, is_staff=staff)
        if permission:
            user.user_permissions.add(
                Permission.objects.get(codename="view_dashboard", content_type__app_label="dashboard")
            )
        return user

    return make


@pytest.fixture
def staff_client(make_user: Callable[..., Any]) -> Client:
    """A test client logged in as a staff user."""
    client = Client()
    client.force_login(make_user(staff=True))
    return client


@pytest.fixture
def make_drift_run(db: None) -> Callable[..., DriftRun]:
    """Factory: a persisted drift run of a model with the given features (counts and flags consistent)."""

    def make(
        *,
        version: ModelVersion,
        features: Sequence[FeatureSpec],
        computed_at: datetime | None = None,
        threshold: float = 0.15,
        seed: int = 0,
    ) -> DriftRun:
        run = DriftRun.objects.create(
            model=version.model,
            model_version=version,
            status=DriftRun.STATUS_OK,
            computed_at=computed_at or timezone.now(),
            duration_seconds=0.1,
            window_size=400,
            prediction_status="ok",
            prediction_score=0.05,
            prediction_p_value=0.3,
            prediction_threshold=0.1,
            prediction_reference_distribution={"setosa": 0.34, "versicolor": 0.33, "virginica": 0.33},
            prediction_current_distribution={"setosa": 0.2, "versicolor": 0.3, "virginica": 0.5},
            settings_snapshot={
                "alpha": 0.05,
                "correction": "bonferroni",
                "use_threshold": True,
                "use_p_value": True,
                "dataset_drift_share": 0.5,
            },
        )
        results = [
            feature_result_build(run=run, spec=spec, threshold=threshold, seed=seed + i, tests=len(features))
            for i, spec in enumerate(features)
        ]
        FeatureDriftResult.objects.bulk_create(results)
        drifted = sum(r.drifted for r in results)
        run.feature_count = len(results)
        run.drifted_count = drifted
        run.drifted_share = drifted / len(results) if results else 0.0
        run.dataset_drift = bool(results) and run.drifted_share >= 0.5
        run.save()
        return run

    return make


@pytest.fixture
def make_model(db: None) -> Callable[..., ModelVersion]:
    """Factory: a model with an active version and a numeric schema of `features` names (no artifact is loaded by
    the dashboard, so none is trained)."""

    return model_version_make


def runs_history(
    make_drift_run: Callable[..., DriftRun], *, version: ModelVersion, features: Sequence[FeatureSpec], count: int
) -> Iterator[DriftRun]:
    """`count` runs five minutes apart, the last one now."""
    now = timezone.now()
    for index in range(count):
        yield make_drift_run(
            version=version,
            features=features,
            computed_at=now - timedelta(minutes=5 * (count - 1 - index)),
            seed=index * 1000,
        )
