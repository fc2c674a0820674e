"""KS against a prepared reference: D and p equal scipy's ks_2samp(method="asymp"); the point of D is exact."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from scipy import stats

from drift.statistics import OK, numeric_reference_prepare
from drift.statistics.kolmogorov import ks_statistic_located, kstwo_sf


def finite(values: np.ndarray) -> np.ndarray:
    """The finite values of a 1-D array."""
    return values[np.isfinite(values)]


def ks_case(rng: np.random.Generator, case: int) -> tuple[np.ndarray, np.ndarray]:
    """One randomized two-sample case; the kind cycles through ties, tiny windows, missing values and constants."""
    kind = case % 8
    n1 = int(rng.integers(20, 3000))
    n2 = int(rng.integers(1, 11)) if kind == 3 else int(rng.integers(20, 3000))
    shift = float(rng.choice([0.0, 0.05, 0.3]))
    if kind == 0:
        return rng.normal(size=n1), rng.normal(shift, 1.0, n2)
    if kind == 1:  # integer-valued: heavy ties inside and across the samples
        return rng.poisson(3.0, n1).astype(float), rng.poisson(3.0 + 3 * shift, n2).astype(float)
    if kind == 2:  # rounded: ties; at two decimals more unique values than the unpruned path takes
        decimals = int(rng.integers(1, 3))
        return np.round(rng.normal(size=n1), decimals), np.round(rng.normal(shift, 1.0, n2), decimals)
    if kind == 3:  # tiny window
        return rng.normal(size=n1), rng.normal(shift, 1.0, n2)
    if kind == 4:  # NaN and +-inf mixed into both sides
        a, b = rng.exponential(size=n1), rng.exponential(1.0 + shift, n2)
        for values in (a, b):
            values[rng.random(values.size) < 0.1] = rng.choice([np.nan, np.inf, -np.inf])
        return a, b
    if kind == 5:  # constant reference
        return np.full(n1, 2.0), rng.choice([2.0, 3.0], n2)
    if kind == 6:  # constant on both sides
        return np.full(n1, 1.5), np.full(n2, 1.5 + (shift > 0))
    # very unequal sizes
    return rng.normal(size=int(rng.integers(5000, 20000))), rng.normal(shift, 1.0, int(rng.integers(2, 60)))


def test_ks_agrees_with_scipy_on_randomized_cases(numeric_run: Callable[..., Any]) -> None:
    """D equals ks_2samp's statistic to 1e-12 and p its method="asymp" p-value to 1e-9, ties and missing included."""
    rng = np.random.default_rng(20240611)
    for case in range(56):
        # given
        reference, window = ks_case(rng, case)
        # when
        (result,) = numeric_run(reference[:, None], window[:, None], "ks")
        # then
        expected = stats.ks_2samp(finite(reference), finite(window), method="asymp")
        assert result.status == OK, (case, result.message)
        assert result.statistic == pytest.approx(expected.statistic, abs=1e-12), case
        assert result.score == pytest.approx(expected.statistic, abs=1e-12), case
        assert math.isfinite(result.p_value)
        if math.isfinite(expected.pvalue):  # scipy answers NaN for one value against one value
            assert result.p_value == pytest.approx(expected.pvalue, abs=1e-9), case
        assert result.reference_size == finite(reference).size
        assert result.window_size == finite(window).size


def test_ks_agrees_with_scipy_on_large_drifted_windows_in_one_call(numeric_run: Callable[..., Any]) -> None:
    """Many large features in one call (threaded sort, pruned search, every p-value branch) all match scipy."""
    # given: shifts from none to strong put p-values in every branch of kstwo.sf (Pelz-Good, exact Smirnov, 0)
    rng = np.random.default_rng(7)
    shifts = [0.0, 0.0, 0.004, 0.01, 0.02, 0.04, 0.08, 0.2, 1.0, 0.0]
    reference = np.column_stack([rng.normal(size=30_000) for _ in shifts])
    reference[:, -1] = np.round(reference[:, -1], 2)
    window = np.column_stack([rng.normal(shift, 1.0, 25_000) for shift in shifts])
    window[rng.random(window.shape) < 0.01] = np.nan
    # when
    results = numeric_run(reference, window, "ks")
    # then
    for j, result in enumerate(results):
        expected = stats.ks_2samp(finite(reference[:, j]), finite(window[:, j]), method="asymp")
        assert result.statistic == pytest.approx(expected.statistic, abs=1e-12), j
        assert result.p_value == pytest.approx(expected.pvalue, abs=1e-9), j


@pytest.mark.parametrize("n", [1, 2, 7, 60, 140, 141, 1_000, 25_000, 100_000, 100_001, 2_000_000])
def test_kstwo_survival_matches_scipy_in_every_branch(n: int) -> None:
    """The vectorized kstwo.sf equals scipy's for D across the whole range, for small, large and huge n."""
    # given: D values that cross every branch of scipy's _kolmogn for this n
    z = np.array(
        [0.0, 0.01, 0.1, 0.2, 0.22, 0.25, 0.3, 0.6, 0.86, 1.0, 1.3, 1.48, 1.5, 2.0, 3.0, 5.0, 13.0, 19.0, 30.0]
    )
    d = np.unique(np.clip(np.concatenate([z / math.sqrt(n), [0.3, 0.49, 0.5, 0.7, 0.999, 1.0]]), 0.0, 1.0))
    # when
    ours = kstwo_sf(d, np.full(d.size, float(n)))
    # then
    np.testing.assert_allclose(ours, stats.kstwo.sf(d, n), rtol=0, atol=1e-9)


def test_ks_point_is_where_the_two_ecdfs_differ_most() -> None:
    """The reported point x carries both ECDFs' exact values there, their difference is D, and no sample point of
    either side has a larger difference (brute force over all of them), on the pruned and the direct search."""
    rng = np.random.default_rng(31)
    for case in range(48):
        # given
        reference, window = ks_case(rng, case)
        reference, window = finite(reference), np.sort(finite(window))
        prepared = numeric_reference_prepare(names=["x"], values=reference[:, None])
        values, cumulative = prepared.feature_values(0)
        # when
        point = ks_statistic_located(values, cumulative, window)
        # then
        pooled = np.concatenate((reference, window))
        ref_ecdf = np.searchsorted(np.sort(reference), pooled, side="right") / reference.size
        window_ecdf = np.searchsorted(window, pooled, side="right") / window.size
        assert point.d == np.max(np.abs(ref_ecdf - window_ecdf)), case
        assert point.d == stats.ks_2samp(reference, window, method="asymp").statistic, case
        assert point.reference == np.count_nonzero(reference <= point.x) / reference.size, case
        assert point.current == np.count_nonzero(window <= point.x) / window.size, case
        assert point.d == abs(point.reference - point.current), case
        assert point.x in pooled, case
