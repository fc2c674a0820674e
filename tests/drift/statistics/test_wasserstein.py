"""Wasserstein scores: scipy's distance over the reference std, defined for constants and for extreme values."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from scipy import stats

FLOAT_MAX = float(np.finfo(np.float64).max)


def test_wasserstein_agrees_with_scipy_scaled_by_reference_std(numeric_run: Callable[..., Any]) -> None:
    """The score is scipy's wasserstein_distance divided by the reference's population standard deviation."""
    rng = np.random.default_rng(6)
    for case in range(10):
        # given
        reference = rng.gamma(2.0, 1.5, int(rng.integers(50, 4000)))
        window = rng.gamma(2.0, rng.uniform(1.0, 2.5), int(rng.integers(50, 4000)))
        if case % 2:
            reference, window = np.round(reference), np.round(window)
            window[::7] = np.nan
        # when
        (result,) = numeric_run(reference[:, None], window[:, None], "wasserstein")
        # then
        expected = stats.wasserstein_distance(reference, window[np.isfinite(window)]) / np.std(reference)
        assert result.score == pytest.approx(expected, rel=1e-9)
        assert result.statistic == result.score


def test_wasserstein_on_constant_reference_is_defined(
    numeric_run: Callable[..., Any], assert_all_finite: Callable[..., None]
) -> None:
    """A constant reference scores 0 for the same constant, W / window std for a spread, W / |constant| otherwise."""
    # given
    reference = np.full((500, 3), 4.0)
    window = np.column_stack([np.full(300, 4.0), np.full(300, 5.0), np.tile([3.0, 5.0], 150)])
    # when
    same, other_constant, spread = numeric_run(reference, window, "wasserstein")
    # then
    assert same.score == 0.0
    assert other_constant.score == pytest.approx(1.0 / 5.0)
    assert spread.score == pytest.approx(1.0 / 1.0)
    assert_all_finite([same, other_constant, spread])


def test_wasserstein_of_values_spanning_the_float_range_is_scipys_on_rescaled_data(
    numeric_run: Callable[..., Any],
) -> None:
    """Where the distance itself overflows (values near -1.8e308 and 1.8e308), the score is still W / std: equal to
    scipy's on the data divided by 2^1024 (exact, and the ratio does not change); beyond float64 it is the largest
    float64, never inf or a failure."""
    rng = np.random.default_rng(9)
    for _ in range(10):
        # given
        reference = rng.uniform(-1.0, 1.0, 300) * FLOAT_MAX
        window = rng.uniform(-1.0, 1.0, 200) * FLOAT_MAX * rng.uniform(0.2, 1.0)
        # when
        (result,) = numeric_run(reference[:, None], window[:, None], "wasserstein")
        # then
        scaled_reference, scaled_window = np.ldexp(reference, -1024), np.ldexp(window, -1024)
        expected = stats.wasserstein_distance(scaled_reference, scaled_window) / np.std(scaled_reference)
        assert result.score == pytest.approx(expected, rel=1e-9)

    # given: a reference of std 1e-200 and a window at 1e300
    # when
    (result,) = numeric_run(np.r_[np.zeros(50), np.full(50, 1e-200)][:, None], np.full((30, 1), 1e300), "wasserstein")
    # then
    assert result.status == "ok" and result.score == FLOAT_MAX
