"""The first Wasserstein distance between a prepared reference and a sorted window, scaled to a unitless score.

W = integral |F_ref(x) - F_win(x)| dx, as scipy.stats.wasserstein_distance (Villani, "Optimal Transport", 2009,
for the 1-D form); the score divides it by the reference's population standard deviation.
"""

from __future__ import annotations

import math

import numpy as np

from .columns import FLOAT_MAX, unique_cumulative
from .summaries import STD_INDEX


def wasserstein_scaled(
    *,
    ref_values: np.ndarray,
    ref_cumulative: np.ndarray,
    window_sorted: np.ndarray,
    reference_summary: np.ndarray,
    window_summary: np.ndarray,
) -> float:
    """Return W / reference std for a prepared reference and a non-empty sorted finite window (>= 0, finite).

    A constant reference has std 0: W / window std still measures the spread that appeared; if both sides are
    constant, W is |c_window - c_reference| and is divided by the larger |constant| (a relative change). A ratio
    beyond the float64 range (a window value ~1e300 against a reference of std 1e-10) is reported as the largest
    float64, so the feature still counts as drifted rather than untested.
    """
    distance, exponent = _wasserstein_sorted(ref_values, ref_cumulative, window_sorted)
    if distance == 0.0:
        return 0.0
    scale = 0.0
    for candidate in (reference_summary[STD_INDEX], window_summary[STD_INDEX]):
        if candidate > 0.0:  # NaN (no values) fails too
            scale = float(candidate)
            break
    if scale == 0.0:
        scale = max(abs(float(ref_values[0])), abs(float(window_sorted[0])))
    with np.errstate(over="ignore"):
        ratio = float(np.ldexp(distance / scale, exponent))
    return min(ratio, FLOAT_MAX)


def _wasserstein_sorted(
    ref_values: np.ndarray, ref_cumulative: np.ndarray, window_sorted: np.ndarray
) -> tuple[float, int]:
    """Return (w, e) with scipy's wasserstein_distance = w * 2^e (e = 0 unless the plain sum overflows)."""
    window_values, window_cumulative = unique_cumulative(window_sorted)
    # Two sorted runs: the stable sort is a linear merge.
    points = np.sort(np.concatenate((ref_values, window_values)), kind="stable")
    ref_cdf = np.concatenate(([0], ref_cumulative))[np.searchsorted(ref_values, points[:-1], side="right")]
    window_cdf = np.concatenate(([0], window_cumulative))[np.searchsorted(window_values, points[:-1], side="right")]
    difference = np.abs(ref_cdf / ref_cumulative[-1] - window_cdf / window_sorted.size)
    with np.errstate(over="ignore", invalid="ignore"):
        # Plain multiply-and-sum: np.dot would hand this to a multi-threaded BLAS whose spinning threads compete
        # with the feature threads.
        distance = float(np.sum(difference * np.diff(points)))
    if math.isfinite(distance):
        return distance, 0
    # Values spanning more than the float64 range (-1e308 and 1e308): the same sum on points scaled by 2^-e, exact.
    exponent = math.frexp(max(abs(float(points[0])), abs(float(points[-1]))))[1]
    return float(np.sum(difference * np.diff(np.ldexp(points, -exponent)))), exponent
