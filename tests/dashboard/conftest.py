"""Dashboard fixtures: users with and without access, and factories for drift runs whose features carry the chart
data a drift run stores (shared bins, ECDF points, KS point, category counts), computed here from real samples."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone
from scipy import stats

from drift.models import DriftRun, FeatureDriftResult
from predictions.models import MLModel, ModelVersion
from tests.servers import free_port

ECDF_POINTS = 101
BINS = 10


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


# --- chart data, as a drift run stores it --------------------------------------------------------------------


def numeric_chart(reference: np.ndarray, current: np.ndarray) -> dict[str, Any]:
    """The stored chart of a numeric feature: deciles of the reference as shared bins (values outside them counted
    below/above), the two ECDFs on 101 points across both samples, and the point of the KS distance."""
    edges = np.quantile(reference, np.linspace(0, 1, BINS + 1))
    edges = np.unique(edges)

    def counts(values: np.ndarray) -> tuple[list[int], int, int]:
        inside, _ = np.histogram(values[(values >= edges[0]) & (values < edges[-1])], bins=edges)
        below = int((values < edges[0]).sum())
        above = int((values >= edges[-1]).sum())
        return [int(c) for c in inside], below, above

    ref_counts, ref_below, ref_above = counts(reference)
    cur_counts, cur_below, cur_above = counts(current)
    ref_sorted, cur_sorted = np.sort(reference), np.sort(current)
    grid = np.linspace(min(ref_sorted[0], cur_sorted[0]), max(ref_sorted[-1], cur_sorted[-1]), ECDF_POINTS)
    f_ref = np.searchsorted(ref_sorted, grid, side="right") / ref_sorted.size
    f_cur = np.searchsorted(cur_sorted, grid, side="right") / cur_sorted.size
    points = np.concatenate([ref_sorted, cur_sorted])
    gaps = np.abs(
        np.searchsorted(ref_sorted, points, side="right") / ref_sorted.size
        - np.searchsorted(cur_sorted, points, side="right") / cur_sorted.size
    )
    at = int(gaps.argmax())
    x = float(points[at])
    return {
        "kind": "numeric",
        "edges": [float(e) for e in edges],
        "reference_counts": ref_counts,
        "current_counts": cur_counts,
        "reference_below": ref_below,
        "reference_above": ref_above,
        "current_below": cur_below,
        "current_above": cur_above,
        "ecdf": {"x": grid.tolist(), "reference": f_ref.tolist(), "current": f_cur.tolist()},
        "ks": {
            "x": x,
            "reference": float(np.searchsorted(ref_sorted, x, side="right") / ref_sorted.size),
            "current": float(np.searchsorted(cur_sorted, x, side="right") / cur_sorted.size),
            "d": float(gaps[at]),
        },
    }


def categorical_chart(categories: Sequence[str], reference: Sequence[int], current: Sequence[int]) -> dict[str, Any]:
    """The stored chart of a categorical feature."""
    return {
        "kind": "categorical",
        "categories": list(categories),
        "reference_counts": list(reference),
        "current_counts": list(current),
    }


def _numeric_summary(values: np.ndarray) -> dict[str, Any]:
    q = np.quantile(values, [0.05, 0.25, 0.5, 0.75, 0.95])
    return {
        "count": int(values.size),
        "missing_share": 0.0,
        "mean": float(values.mean()),
        "std": float(values.std()),
        "min": float(values.min()),
        "p5": float(q[0]),
        "p25": float(q[1]),
        "p50": float(q[2]),
        "p75": float(q[3]),
        "p95": float(q[4]),
        "max": float(values.max()),
    }


@dataclass(frozen=True)
class FeatureSpec:
    """A feature of a factory-made run: numeric with a mean shift (in reference sd), or categorical with current
    shares."""

    name: str
    shift: float = 0.0
    categories: tuple[str, ...] = ()
    current_shares: tuple[float, ...] = ()
    with_chart: bool = True


def feature_result_build(
    *, run: DriftRun, spec: FeatureSpec, threshold: float, seed: int, alpha: float = 0.05, tests: int = 1
) -> FeatureDriftResult:
    """One feature's stored result computed from samples (KS or chi-squared, Bonferroni over `tests` features)."""
    rng = np.random.default_rng(seed)
    if spec.categories:
        k = len(spec.categories)
        reference = np.bincount(rng.integers(0, k, 600), minlength=k)
        shares = np.asarray(spec.current_shares or [1 / k] * k)
        current = np.bincount(rng.choice(k, 400, p=shares / shares.sum()), minlength=k)
        chi2, p_value, _, _ = stats.chi2_contingency(np.vstack([reference, current]))
        score = float(np.sqrt(chi2 / (reference.sum() + current.sum())))  # Cramér's V of a 2-row table
        chart = categorical_chart(spec.categories, reference.tolist(), current.tolist())
        ref_summary = {
            "count": int(reference.sum()),
            "missing_share": 0.0,
            "shares": {c: float(n / reference.sum()) for c, n in zip(spec.categories, reference, strict=True)},
        }
        cur_summary = {
            "count": int(current.sum()),
            "missing_share": 0.0,
            "shares": {c: float(n / current.sum()) for c, n in zip(spec.categories, current, strict=True)},
        }
        kind, test, statistic, sizes = "categorical", "chi2", float(chi2), (int(current.sum()), int(reference.sum()))
    else:
        reference = rng.normal(size=600)
        current = rng.normal(loc=spec.shift, size=400)
        result = stats.ks_2samp(reference, current)
        score = statistic = float(result.statistic)
        p_value = float(result.pvalue)
        chart = numeric_chart(reference, current)
        ref_summary, cur_summary = _numeric_summary(reference), _numeric_summary(current)
        kind, test, sizes = "numeric", "ks", (current.size, reference.size)
    corrected = min(1.0, float(p_value) * tests)
    return FeatureDriftResult(
        run=run,
        feature_name=spec.name,
        feature_type=kind,
        test=test,
        status="ok",
        score=score,
        statistic=statistic,
        p_value=float(p_value),
        p_value_corrected=corrected,
        threshold=threshold,
        drifted=score > threshold and corrected < alpha,
        missing_share=0.0,
        window_size=sizes[0],
        reference_size=sizes[1],
        reference_summary=ref_summary,
        current_summary=cur_summary,
        chart=chart if spec.with_chart else {},
    )


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

    def make(
        *, name: str, features: Sequence[str] = ("a", "b"), classes: Sequence[str] = ("no", "yes")
    ) -> ModelVersion:
        model = MLModel.objects.create(name=name)
        return ModelVersion.objects.create(
            model=model,
            version="1",
            artifact=f"artifacts/{name}.skops",
            artifact_sha256="0" * 64,
            feature_schema=[{"name": f, "type": "numeric", "nullable": False} for f in features],
            class_labels=list(classes),
            is_active=True,
        )

    return make


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
