"""Factories for stored drift results: each feature's result comes from the drift engine (drift.statistics, the
functions a drift run calls) on generated samples, so scores, summaries and chart data are what a run stores. Used by
the tests and by bench/dashboard_bench.py."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from drift import statistics
from drift.models import DriftRun, FeatureDriftResult
from drift.services import feature_drift_result_build
from predictions.models import MLModel, ModelVersion
from predictions.schema import Feature

# --- one feature through the drift engine ------------------------------------------------------------------------


def numeric_feature_drift(reference: np.ndarray, current: np.ndarray, *, test: str = "ks") -> statistics.FeatureDrift:
    """A numeric feature's drift outcome (score, p-value, summaries, shares, chart) as a drift run computes it."""
    prepared = statistics.numeric_reference_prepare(
        names=["x"], values=np.asarray(reference, dtype=np.float64)[:, None]
    )
    window = np.asarray(current, dtype=np.float64)[:, None]
    return statistics.numeric_drift_compute(reference=prepared, window=window, tests=[test], min_samples=1)[0]


def categorical_feature_drift(
    categories: Sequence[str], reference_counts: Sequence[int], current_counts: Sequence[int], *, test: str = "chi2"
) -> statistics.FeatureDrift:
    """A categorical feature's drift outcome from category counts; a count past the last category is of an unseen
    category (a code the reference's category list does not have)."""

    def codes(counts: Sequence[int]) -> np.ndarray:
        return np.repeat(np.arange(len(counts), dtype=np.float64), counts)[:, None]

    prepared = statistics.categorical_reference_prepare(
        names=["x"], categories=[list(categories)], codes=codes(reference_counts)
    )
    return statistics.categorical_drift_compute(
        reference=prepared, window=codes(current_counts), tests=[test], min_samples=1
    )[0]


def numeric_chart(reference: np.ndarray, current: np.ndarray) -> dict[str, Any]:
    """The chart a drift run stores for a numeric feature (format in drift/statistics/charts.py)."""
    return numeric_feature_drift(reference, current).chart


def categorical_chart(
    categories: Sequence[str], reference_counts: Sequence[int], current_counts: Sequence[int]
) -> dict[str, Any]:
    """The chart a drift run stores for a categorical feature."""
    return categorical_feature_drift(categories, reference_counts, current_counts).chart


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
    """One feature's stored result, computed by the drift engine from samples (KS on 600 reference and 400 current
    values, or chi-squared on category counts), flagged as a run flags it (Bonferroni over `tests` features)."""
    rng = np.random.default_rng(seed)
    if spec.categories:
        k = len(spec.categories)
        reference = np.bincount(rng.integers(0, k, 600), minlength=k)
        shares = np.asarray(spec.current_shares or [1 / k] * k)
        current = np.bincount(rng.choice(k, 400, p=shares / shares.sum()), minlength=k)
        outcome = categorical_feature_drift(spec.categories, reference.tolist(), current.tolist())
        kind = statistics.CATEGORICAL
    else:
        outcome = numeric_feature_drift(rng.normal(size=600), rng.normal(loc=spec.shift, size=400))
        kind = statistics.NUMERIC
    assert outcome.score is not None and outcome.p_value is not None
    corrected = min(1.0, outcome.p_value * tests)
    result = feature_drift_result_build(
        run=run,
        feature=Feature(name=spec.name, kind=kind, categories=spec.categories),
        test=outcome.test,
        outcome=outcome,
        threshold=threshold,
        drifted=outcome.score > threshold and corrected < alpha,
        corrected=corrected,
    )
    if not spec.with_chart:
        result.chart = {}
    return result


def model_version_make(
    *, name: str, features: Sequence[str] = ("a", "b"), classes: Sequence[str] = ("no", "yes")
) -> ModelVersion:
    """A model with an active version and a numeric schema of `features` names (the dashboard loads no artifact,
    so none is trained)."""
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
