"""Factories for stored drift results: the chart data a drift run keeps (shared bins, ECDF points, KS point, category
counts), computed from real samples with numpy and scipy, in the format of dashboard/charts.py. Used by the tests and
by bench/dashboard_bench.py."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from drift.models import DriftRun, FeatureDriftResult
from predictions.models import MLModel, ModelVersion

ECDF_POINTS = 101
BINS = 10


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
