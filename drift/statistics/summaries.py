"""Per-feature summaries stored beside each drift result: numeric moments and quantiles, categorical shares.

Every summary is finite or None for any finite float64 input: sums and squares that would overflow (or underflow)
are taken on the values scaled by a power of two (exact), so [1e308, 1e308] has mean 1e308 and std 0.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .columns import finite_or_none, sorted_quantiles
from .results import UNSEEN_CATEGORY

SUMMARY_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
NUMERIC_SUMMARY_KEYS = ("count", "missing_share", "mean", "std", "min", "p5", "p25", "p50", "p75", "p95", "max")
STD_INDEX = NUMERIC_SUMMARY_KEYS.index("std")
# Between these magnitudes, and up to this many values, sums of squares (also of differences, below 2^501) neither
# overflow nor lose digits to subnormals.
_PLAIN_LOW, _PLAIN_HIGH, _PLAIN_COUNT = 2.0**-480, 2.0**500, 2**20
MIN_INDEX = NUMERIC_SUMMARY_KEYS.index("min")
MAX_INDEX = NUMERIC_SUMMARY_KEYS.index("max")


def numeric_summary_row(sorted_finite: np.ndarray, row_count: int) -> np.ndarray:
    """Return the NUMERIC_SUMMARY_KEYS values of one feature's sorted finite values (NaN where undefined)."""
    row = np.full(len(NUMERIC_SUMMARY_KEYS), np.nan)
    count = sorted_finite.size
    row[0] = count
    row[1] = (row_count - count) / row_count if row_count else 0.0
    if count:
        row[2], row[3] = _mean_std(sorted_finite)
        row[4] = sorted_finite[0]
        row[5:10] = sorted_quantiles(sorted_finite, SUMMARY_QUANTILES)
        row[10] = sorted_finite[-1]
    return row


def _mean_std(sorted_finite: np.ndarray) -> tuple[float, float]:
    """Mean and population standard deviation of non-empty sorted finite values, finite for any float64 input."""
    count = sorted_finite.size
    magnitude = max(abs(float(sorted_finite[0])), abs(float(sorted_finite[-1])))
    if not (_PLAIN_LOW < magnitude < _PLAIN_HIGH and count <= _PLAIN_COUNT):
        # Squares of such values overflow or fall into subnormals (1e-200 squared is 0).
        return _mean_std_scaled(sorted_finite, magnitude)
    # One pass each for the sum and the sum of squares, without a temporary (einsum, not np.dot, so no BLAS threads
    # compete with the sort workers). Where the variance is tiny next to the mean square the difference cancels, so
    # it is recomputed around the median; that also makes a constant feature's std exactly 0.
    mean = float(np.add.reduce(sorted_finite)) / count
    mean_square = float(np.einsum("i,i->", sorted_finite, sorted_finite)) / count
    variance = mean_square - mean * mean
    if variance <= 1e-6 * mean_square:
        shifted = sorted_finite - sorted_finite[count // 2]
        shift_mean = float(np.add.reduce(shifted)) / count
        variance = max(float(np.einsum("i,i->", shifted, shifted)) / count - shift_mean * shift_mean, 0.0)
    return mean, math.sqrt(variance)


def _mean_std_scaled(sorted_finite: np.ndarray, magnitude: float) -> tuple[float, float]:
    """Mean and std computed on the values multiplied by the power of two that brings the largest |value|
    (`magnitude`) into [0.5, 1)."""
    # Scaling by 2^-e is exact (bar values below 2^-1022 * 2^e, far under the result's precision), and every sum of
    # the scaled values is bounded by the count, so nothing overflows or underflows; the results scale back by 2^e.
    # The mean lies within [min, max] and the std below max |x|, so both are finite again after scaling back.
    exponent = math.frexp(magnitude)[1]
    scaled = np.ldexp(sorted_finite, -exponent)
    count = scaled.size
    mean = float(np.add.reduce(scaled)) / count
    centered = scaled - mean
    variance = float(np.einsum("i,i->", centered, centered)) / count
    with np.errstate(over="ignore"):
        return float(np.ldexp(mean, exponent)), float(np.ldexp(math.sqrt(variance), exponent))


def numeric_summary_dict(row: np.ndarray) -> dict[str, float | int | None]:
    """Convert a summary row into a JSON-safe dict (None where undefined)."""
    summary: dict[str, float | int | None] = {}
    for key, value in zip(NUMERIC_SUMMARY_KEYS, row, strict=True):
        summary[key] = int(value) if key == "count" else finite_or_none(value)
    return summary


def categorical_summary_dict(counts: np.ndarray, categories: tuple[str, ...], row_count: int) -> dict[str, Any]:
    """Return count, missing_share and {category: share} (UNSEEN_CATEGORY only when present)."""
    count = int(counts.sum())
    known = counts[: len(categories)]
    shares = {name: (int(c) / count if count else 0.0) for name, c in zip(categories, known, strict=True)}
    if counts[-1]:
        shares[UNSEEN_CATEGORY] = int(counts[-1]) / count
    return {
        "count": count,
        "missing_share": (row_count - count) / row_count if row_count else 0.0,
        "shares": shares,
    }
