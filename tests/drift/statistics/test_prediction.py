"""Prediction drift: Jensen-Shannon and chi-squared of predicted-class counts, as scipy computes them."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from drift.statistics import INSUFFICIENT, OK, prediction_drift_compute


def test_prediction_drift_matches_scipy_and_handles_a_single_class() -> None:
    """Prediction drift is JS(base 2) and chi2_contingency of class counts; a single class scores 0 with p 1."""
    rng = np.random.default_rng(9)
    # given
    labels = ["setosa", "versicolor", "virginica"]
    reference_counts = np.array([500, 300, 200])
    window_classes = rng.choice(3, 800, p=[0.3, 0.3, 0.4])
    # when
    drift = prediction_drift_compute(
        class_labels=labels, reference_counts=reference_counts, window_classes=window_classes, min_samples=50
    )
    single = prediction_drift_compute(
        class_labels=["only"], reference_counts=np.array([80]), window_classes=np.zeros(60, dtype=int), min_samples=50
    )
    small = prediction_drift_compute(
        class_labels=labels, reference_counts=reference_counts, window_classes=np.array([0, 1]), min_samples=50
    )
    # then
    window_counts = np.bincount(window_classes, minlength=3)
    expected = stats.chi2_contingency(np.stack([reference_counts, window_counts]))
    assert drift.status == OK
    assert drift.chi2_statistic == pytest.approx(expected.statistic, rel=1e-9)
    assert drift.p_value == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-15)
    assert drift.score == pytest.approx(jensenshannon(reference_counts, window_counts, base=2), abs=1e-12)
    assert drift.current_distribution == pytest.approx(dict(zip(labels, window_counts / 800, strict=True)))
    assert (single.status, single.score, single.chi2_statistic, single.p_value) == (OK, 0.0, 0.0, 1.0)
    assert small.status == INSUFFICIENT and small.score is None and small.window_size == 2
    assert small.message == "window has 2 non-missing values, minimum is 50"


def test_prediction_drift_counts_unknown_class_indices() -> None:
    """Class indices outside the label list are kept in an "<unknown>" bucket instead of being dropped."""
    # when
    drift = prediction_drift_compute(
        class_labels=["no", "yes"],
        reference_counts=np.array([50, 50]),
        window_classes=np.array([0] * 40 + [1] * 40 + [5] * 20),
        min_samples=10,
    )
    # then
    assert drift.current_distribution == {"no": 0.4, "yes": 0.4, "<unknown>": 0.2}
    assert drift.reference_distribution == {"no": 0.5, "yes": 0.5}
    assert drift.score > 0.0 and drift.p_value < 1e-3


def test_prediction_drift_of_extreme_counts_is_finite() -> None:
    """Class counts up to 1e15 per class and a window of one class stay finite and in range."""
    # when
    drift = prediction_drift_compute(
        class_labels=["a", "b"],
        reference_counts=np.array([10**15, 1]),
        window_classes=np.ones(500, dtype=np.int64),
        min_samples=1,
    )
    # then
    assert drift.status == OK
    assert 0.0 <= drift.score <= 1.0 and drift.p_value == 0.0
    assert np.isfinite(drift.chi2_statistic)
    assert drift.current_distribution == {"a": 0.0, "b": 1.0}
