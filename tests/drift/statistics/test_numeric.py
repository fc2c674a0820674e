"""Numeric drift over whole windows: edge cases, any finite float64 input, data-quality shares, input checks."""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from scipy import stats

from drift import statistics as drift_statistics
from drift.statistics import INSUFFICIENT, OK, numeric_drift_compute, numeric_reference_prepare

FLOAT_MAX = float(np.finfo(np.float64).max)
EXTREMES = np.array([FLOAT_MAX, -FLOAT_MAX, 1e308, -1e308, 1e200, -1.5e306, 1e154, 5e-324, -5e-324, 0.0, -0.0])


@pytest.mark.parametrize("test", drift_statistics.NUMERIC_TESTS)
def test_numeric_edge_cases_are_insufficient_or_finite(
    test: str, numeric_run: Callable[..., Any], assert_all_finite: Callable[..., None]
) -> None:
    """All-missing, constant, empty and too-small windows never raise and never produce NaN."""
    rng = np.random.default_rng(8)
    # given: features = normal, constant, all missing in the window, few values in the window
    reference = np.column_stack([rng.normal(size=400), np.full(400, 3.0), rng.normal(size=400), rng.normal(size=400)])
    window = np.column_stack([rng.normal(size=200), np.full(200, 3.0), np.full(200, np.nan), np.full(200, np.inf)])
    window[:12, 3] = rng.normal(size=12)
    # when
    normal, constant, all_missing, few = numeric_run(reference, window, test, min_samples=100)
    empty = numeric_run(reference, np.empty((0, 4)), test, min_samples=100)
    # then
    assert normal.status == OK and constant.status == OK
    assert constant.score == 0.0
    assert all_missing.status == INSUFFICIENT and all_missing.score is None and all_missing.missing_share == 1.0
    assert all_missing.message == "window has 0 non-missing values, minimum is 100"
    assert few.status == INSUFFICIENT and few.message == "window has 12 non-missing values, minimum is 100"
    assert few.missing_share == pytest.approx(188 / 200)
    assert all(r.status == INSUFFICIENT and r.missing_share == 0.0 and r.window_size == 0 for r in empty)
    assert all(r.current_summary["mean"] is None for r in empty)
    assert_all_finite([normal, constant, all_missing, few, *empty])


def test_reference_with_too_few_values_is_insufficient(
    numeric_run: Callable[..., Any], assert_all_finite: Callable[..., None]
) -> None:
    """A feature whose reference has fewer non-missing values than min_samples is not tested."""
    # given
    reference = np.column_stack([np.r_[np.arange(5.0), np.full(95, np.nan)], np.full(100, np.nan)])
    window = np.arange(200.0).reshape(100, 2)
    # when
    results = numeric_run(reference, window, "ks", min_samples=10)
    # then
    assert [r.message for r in results] == [
        "reference has 5 non-missing values, minimum is 10",
        "reference has 0 non-missing values, minimum is 10",
    ]
    assert results[1].reference_summary["mean"] is None
    assert results[1].reference_summary["missing_share"] == 1.0
    assert_all_finite(results)


def test_a_huge_value_in_the_window_leaves_ks_as_scipy_computes_it(numeric_run: Callable[..., Any]) -> None:
    """One 1e200 among 300 window values: status ok, D = 0.0633333 and p = 0.6973378 (scipy's asymptotic values),
    and the window's summary stays finite."""
    # given
    rng = np.random.default_rng(4)
    reference = rng.normal(size=(200, 1))
    window = rng.normal(size=(300, 1))
    window[0, 0] = 1e200
    # when
    (result,) = numeric_run(reference, window, "ks")
    # then
    assert result.status == OK
    assert result.score == pytest.approx(0.0633333, abs=1e-6)
    assert result.p_value == pytest.approx(0.6973378, abs=1e-6)
    expected = stats.ks_2samp(reference[:, 0], window[:, 0], method="asymp")
    assert (result.score, result.p_value) == pytest.approx((expected.statistic, expected.pvalue), abs=1e-12)
    assert result.current_summary["max"] == 1e200
    # numpy's own std overflows here (the squares exceed 1.8e308); the exact value is 1e200 sqrt(299) / 300
    assert result.current_summary["std"] == pytest.approx(1e200 * math.sqrt(299) / 300, rel=1e-12)
    assert result.current_summary["mean"] == pytest.approx(exact_mean_std(window[:, 0])[0], rel=1e-12)


def extreme_sample(rng: np.random.Generator, size: int) -> np.ndarray:
    """Normal values with a random share (none to all) replaced by extreme finite float64 values."""
    values = rng.normal(size=size) * float(rng.choice([1.0, 1e-300, 1e300]))
    chosen = rng.random(size) < float(rng.choice([0.0, 0.01, 0.3, 1.0]))
    values[chosen] = rng.choice(EXTREMES, int(chosen.sum()))
    return values


def exact_mean_std(values: np.ndarray) -> tuple[float, float]:
    """Mean and population std computed in exact rational arithmetic, rounded once at the end."""
    exact = [Fraction(float(v)) for v in values]
    mean = sum(exact, Fraction(0)) / len(exact)
    variance = sum(((v - mean) ** 2 for v in exact), Fraction(0)) / len(exact)
    # sqrt of a variance from ~1e-700 to ~1e616 in floats: scale by an even power of two first.
    exponent = (variance.numerator.bit_length() - variance.denominator.bit_length()) // 2
    return float(mean), math.sqrt(float(variance / Fraction(4) ** exponent)) * 2.0**exponent


@pytest.mark.parametrize("test", drift_statistics.NUMERIC_TESTS)
def test_any_finite_values_give_finite_results_and_exact_summaries(
    test: str, numeric_run: Callable[..., Any], assert_all_finite: Callable[..., None]
) -> None:
    """Windows and references of extreme finite values (+-1.8e308, 1e200, -1.5e306, subnormals) never raise: every
    number returned is finite, mean and std equal exact arithmetic, KS still equals scipy."""
    rng = np.random.default_rng(sum(map(ord, test)))
    for case in range(25):
        # given
        reference = extreme_sample(rng, int(rng.integers(2, 400)))
        window = extreme_sample(rng, int(rng.integers(2, 400)))
        # when
        (result,) = numeric_run(reference[:, None], window[:, None], test)
        # then
        assert result.status == OK, (case, result.message)
        assert_all_finite([result])
        for values, summary in ((reference, result.reference_summary), (window, result.current_summary)):
            mean, std = exact_mean_std(values)
            assert summary["mean"] == pytest.approx(mean, rel=1e-12, abs=0.0), case
            assert summary["std"] == pytest.approx(std, rel=1e-9, abs=0.0), case
            assert summary["min"] <= summary["p5"] <= summary["p50"] <= summary["p95"] <= summary["max"], case
        if test == "ks":
            expected = stats.ks_2samp(reference, window, method="asymp")
            assert result.score == expected.statistic, case
            assert result.p_value == pytest.approx(expected.pvalue, abs=1e-9), case


def test_out_of_range_share_counts_window_rows_outside_the_reference_range(numeric_run: Callable[..., Any]) -> None:
    """out_of_range_share = window rows with a finite value below the reference's min or above its max, over all
    window rows (missing rows count in the denominator only); 0 when the reference has no finite value."""
    rng = np.random.default_rng(41)
    for _ in range(20):
        # given
        reference = rng.uniform(-1.0, 1.0, (300, 2))
        reference[:, 1] = np.nan
        window = rng.uniform(-1.5, 1.5, (200, 2))
        window[rng.random(200) < 0.1, 0] = np.nan
        window[:3, 0] = [reference[:, 0].min(), reference[:, 0].max(), 1e300]
        # when
        ranged, no_reference = numeric_run(reference, window, "psi")
        # then
        column = window[:, 0]
        outside = (column < reference[:, 0].min()) | (column > reference[:, 0].max())
        assert ranged.out_of_range_share == np.count_nonzero(outside) / 200
        assert ranged.unseen_category_share == 0.0
        assert no_reference.out_of_range_share == 0.0


def test_inputs_of_the_wrong_shape_or_test_are_rejected() -> None:
    """Programming errors (column count, test names) raise ValueError rather than producing results."""
    # given
    reference = numeric_reference_prepare(names=["a", "b"], values=np.zeros((10, 2)))
    # then
    with pytest.raises(ValueError, match="shape"):
        numeric_drift_compute(reference=reference, window=np.zeros((5, 3)), tests=["ks", "ks"], min_samples=1)
    with pytest.raises(ValueError, match="unknown tests"):
        numeric_drift_compute(reference=reference, window=np.zeros((5, 2)), tests=["ks", "chi2"], min_samples=1)
    with pytest.raises(ValueError, match="entries"):
        numeric_drift_compute(reference=reference, window=np.zeros((5, 2)), tests=["ks"], min_samples=1)


def test_a_prepared_reference_gives_the_same_results_on_every_run() -> None:
    """What a run derives from the reference alone is kept on the prepared reference; later runs, on any window,
    give exactly what a freshly prepared reference gives (threaded sort of a large window included)."""
    rng = np.random.default_rng(77)
    # given: continuous, tied, constant and partly missing features; a large window (threaded sort) and a small one
    reference = np.column_stack(
        [rng.normal(size=40_000), np.round(rng.normal(size=40_000), 1), np.full(40_000, 3.0)] * 4
    )
    reference[rng.random(40_000) < 0.05, 4] = np.nan
    windows = [reference[rng.permutation(40_000)[:30_000]] + 0.01, reference[:500] * 1.1]
    names = [f"f{j}" for j in range(reference.shape[1])]
    tests = ["ks", "psi", "wasserstein"] * 4
    kept = numeric_reference_prepare(names=names, values=reference)
    for window in windows * 2:
        # when
        again = numeric_drift_compute(reference=kept, window=window, tests=tests, min_samples=1)
        fresh = numeric_drift_compute(
            reference=numeric_reference_prepare(names=names, values=reference),
            window=window,
            tests=tests,
            min_samples=1,
        )
        # then
        assert repr(again) == repr(fresh)
