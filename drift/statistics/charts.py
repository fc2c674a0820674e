"""Display data of one feature's reference and window distributions, stored with each drift result (JSON-safe).

Numeric (from the prepared reference and the sorted window of the drift run, never from raw reference rows)::

    {"kind": "numeric",
     "edges": [e_0, ..., e_B],            # B + 1 finite ascending floats, B <= CHART_BINS (0 bins: [])
     "reference_counts": [B ints], "current_counts": [B ints],   # bin 0 = [e_0, e_1], bin i = (e_i, e_(i+1)]
     "reference_below": int, "reference_above": int,            # values < e_0 and > e_B
     "current_below": int, "current_above": int,
     "ecdf": {"x": [<= ECDF_POINTS ascending floats], "reference": [F_ref(x)], "current": [F_cur(x)]},
     "ks": {"x": float, "reference": F_ref(x), "current": F_cur(x), "d": |F_ref(x) - F_cur(x)|} or null}

Bins and ECDF points: when reference and window together take at most CHART_BINS distinct values in the display
range, one bin per value (edges halfway between neighbouring values) and the ECDF at each value; otherwise the
edges and points are quantiles of the two samples pooled with equal weight (each side's quantiles at 2% steps,
merged, thinned to the bin / point budget) and rounded to 6 significant digits, so bins are narrow where either
side has mass and have unequal widths (draw densities, count / width, or bars spanning the edges). The display
range drops far outliers so that one 1e200 does not squash the rest: per side [q2% - 3 s, q98% + 3 s] cut to
[min, max], s = q98% - q2% (or max(|q2%|, 1) when that is 0), the union over both sides; values outside it are
counted in the below/above fields. ECDF values are rounded to 4 decimals; "ks" (exact) is where the two ECDFs
differ most, whatever the feature's test, null when a side has no values. A side without values has zero counts and
an empty ECDF list; a feature without values on either side has no edges and no points.

Categorical::

    {"kind": "categorical", "categories": [names..., "<unseen>" when either side has unseen codes],
     "reference_counts": [ints], "current_counts": [ints]}
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from .columns import FLOAT_MAX
from .kolmogorov import KsPoint
from .results import UNSEEN_CATEGORY

CHART_BINS = 40
ECDF_POINTS = 101
# Each side's quantiles at these levels feed the pooled bin edges and ECDF points; the 2% and 98% ones the range.
_LEVELS = np.linspace(0.0, 1.0, 51)
_TAIL_LOW, _TAIL_HIGH = 1, 49
_FENCE_WIDTH = 3.0
_SIGNIFICANT_DIGITS = 6
_ECDF_DECIMALS = 4
# Exact powers of ten (float(10**i) is correctly rounded and exact up to 10**22), for rounding to short decimals.
_POWERS_OF_TEN = np.array([float(10**i) for i in range(23)])


@dataclass(frozen=True)
class ChartReference:
    """What a numeric chart needs of the reference alone (computed once per prepared reference feature): its
    quantiles at _LEVELS and its display range (None without reference values)."""

    quantiles: np.ndarray | None
    fence: tuple[float, float] | None


def numeric_chart_reference(*, ref_values: np.ndarray, ref_cumulative: np.ndarray) -> ChartReference:
    """Return the reference side of numeric_chart for a prepared reference feature (distinct finite values
    ascending, cumulative counts; may be empty)."""
    ref_total = int(ref_cumulative[-1]) if ref_cumulative.size else 0
    if not ref_total:
        return ChartReference(quantiles=None, fence=None)
    ranks = np.floor(_LEVELS * (ref_total - 1)).astype(np.int64)
    # Without ties the r-th smallest value is values[r]; otherwise the first whose cumulative count passes r.
    at = ranks if ref_values.size == ref_total else ref_cumulative.searchsorted(ranks + 1, side="left")
    quantiles = ref_values[at]
    return ChartReference(quantiles=quantiles, fence=_fence(quantiles))


def numeric_chart(
    *,
    ref_values: np.ndarray,
    ref_cumulative: np.ndarray,
    window_sorted: np.ndarray,
    ks: KsPoint | None,
    reference: ChartReference | None = None,
) -> dict[str, Any]:
    """Return the numeric chart dict (format in the module docstring) of a prepared reference feature (distinct
    finite values ascending, cumulative counts) and a sorted finite window; either side may be empty. `reference` is
    numeric_chart_reference of the reference feature (computed here when None)."""
    # Cost matters (every feature of every run): ~30 numpy calls on ~100 values, and one search per side.
    if reference is None:
        reference = numeric_chart_reference(ref_values=ref_values, ref_cumulative=ref_cumulative)
    ref_total = int(ref_cumulative[-1]) if ref_cumulative.size else 0
    window_total = int(window_sorted.size)
    quantiles = []
    fences = []
    if reference.quantiles is not None and reference.fence is not None:
        quantiles.append(reference.quantiles)
        fences.append(reference.fence)
    if window_total:
        quantiles.append(window_sorted[(_LEVELS * (window_total - 1)).astype(np.int64)])
        fences.append(_fence(quantiles[-1]))
    if not quantiles:
        nothing = np.empty((2, 0))
        return _numeric_chart_dict(nothing[0], nothing[0], nothing, [0, 0], [0, 0], nothing, np.zeros(2), None)
    low, high = min(fence[0] for fence in fences), max(fence[1] for fence in fences)

    distinct = _distinct_in_range(ref_values, window_sorted, low, high) if ref_values.size <= CHART_BINS else None
    edges = _value_edges(distinct) if distinct is not None else None
    # Each value alone in its bin (e_i, e_(i+1)]; values a float apart cannot be split so: pooled quantiles then.
    if (
        edges is not None
        and distinct is not None
        and (edges[1:] - edges[:-1] > 0).all()
        and (edges[1:-1] < distinct[1:]).all()
    ):
        points = distinct
        pool = np.concatenate((edges, points))
        edge_at, point_at = np.arange(edges.size), np.arange(edges.size, pool.size)
    else:
        # Inner points are rounded for shorter JSON; the outer two stay exact so no shown value falls outside.
        inner = np.concatenate(quantiles)
        inner = _round_significant(inner[(inner > low) & (inner < high)])
        pool = _sorted_unique(np.concatenate(([low, high], np.minimum(np.maximum(inner, low), high))))
        if pool.size == 1:  # everything shown is one value: a bin around it
            edges = _value_edges(pool)
            pool = np.concatenate((edges, pool))
            edge_at, point_at = np.arange(2), np.arange(2, 3)
        else:
            # The ECDF points are the pool searched; the edges a subset of them.
            pool = pool[_thinning(pool.size, ECDF_POINTS)]
            edge_at, point_at = _thinning(pool.size, CHART_BINS + 1), np.arange(pool.size)
        edges, points = pool[edge_at], pool[point_at]

    # One search per side: values <= each pooled value; and values < e_0 for the below counts.
    counts = np.empty((2, pool.size), dtype=np.int64)
    below = [0, int(window_sorted.searchsorted(edges[0], side="left"))]
    if ref_total:
        index = ref_values.searchsorted(pool, side="right")
        counts[0] = np.where(index > 0, ref_cumulative[index - 1], 0)
        under = int(ref_values.searchsorted(edges[0], side="left"))
        below[0] = int(ref_cumulative[under - 1]) if under else 0
    else:
        counts[0] = 0
    counts[1] = window_sorted.searchsorted(pool, side="right")
    at_edges = counts[:, edge_at]
    # Bin 0 is [e_0, e_1], bin i > 0 is (e_i, e_(i+1)]: each count is a difference of "at or below" counts.
    bins = at_edges[:, 1:] - at_edges[:, :-1]
    bins[:, 0] += at_edges[:, 0] - below
    totals = np.array([ref_total, window_total])
    ecdf = (counts[:, point_at] / np.maximum(totals, 1)[:, None]).round(_ECDF_DECIMALS)
    return _numeric_chart_dict(edges, points, bins, below, (totals - at_edges[:, -1]).tolist(), ecdf, totals, ks)


def categorical_chart(
    *, categories: tuple[str, ...], reference_counts: np.ndarray, window_counts: np.ndarray
) -> dict[str, Any]:
    """Return the categorical chart dict: the category names (plus UNSEEN_CATEGORY when either side has codes
    outside the list) with the reference's and the window's count of each; counts rows end with the unseen column."""
    size = len(categories)
    names = list(categories)
    reference = [int(c) for c in reference_counts[:size]]
    current = [int(c) for c in window_counts[:size]]
    if reference_counts[-1] or window_counts[-1]:
        names.append(UNSEEN_CATEGORY)
        reference.append(int(reference_counts[-1]))
        current.append(int(window_counts[-1]))
    return {"kind": "categorical", "categories": names, "reference_counts": reference, "current_counts": current}


def _fence(quantiles: np.ndarray) -> tuple[float, float]:
    """The display range of one side from its quantiles at _LEVELS: the bulk widened by _FENCE_WIDTH spreads."""
    low, high = float(quantiles[_TAIL_LOW]), float(quantiles[_TAIL_HIGH])
    # Python float arithmetic overflows to inf (never raises), which the min/max below then cut to the data.
    spread = high - low
    if not spread > 0.0:
        spread = max(abs(low), abs(high), 1.0)
    reach = _FENCE_WIDTH * spread
    return max(float(quantiles[0]), low - reach), min(float(quantiles[-1]), high + reach)


def _distinct_in_range(ref_values: np.ndarray, window_sorted: np.ndarray, low: float, high: float) -> np.ndarray | None:
    """The distinct values of both sides within [low, high] when there are at most CHART_BINS of them, else None."""
    ref_in = ref_values[(ref_values >= low) & (ref_values <= high)]
    window_in = window_sorted[
        int(window_sorted.searchsorted(low, side="left")) : int(window_sorted.searchsorted(high, side="right"))
    ]
    # Window runs equal to a reference value need no scan; only the values in between (new values) do.
    left = window_in.searchsorted(ref_in, side="left")
    right = window_in.searchsorted(ref_in, side="right")
    gaps = [window_in[a:b] for a, b in zip(np.r_[0, right], np.r_[left, window_in.size], strict=True) if b > a]
    new = np.concatenate(gaps) if gaps else window_in[:0]
    if new.size:
        changes = np.flatnonzero(new[1:] != new[:-1])
        if changes.size + ref_in.size >= CHART_BINS:
            return None
        new = np.concatenate((new[:1], new[changes + 1]))
    distinct = np.union1d(ref_in, new)
    return distinct if 0 < distinct.size <= CHART_BINS else None


def _value_edges(values: np.ndarray) -> np.ndarray:
    """Edges of one bin per value: halfway between neighbours, as far out again at both ends (finite, ascending)."""
    with np.errstate(over="ignore"):
        if values.size == 1:
            half = 0.5 * max(abs(float(values[0])), 1.0)
            edges = np.array([values[0] - half, values[0] + half])
        else:
            middles = values[:-1] / 2 + values[1:] / 2
            edges = np.concatenate(
                ([values[0] - (middles[0] - values[0])], middles, [values[-1] + (values[-1] - middles[-1])])
            )
    clipped: np.ndarray = np.clip(edges, -FLOAT_MAX, FLOAT_MAX)
    return clipped


@lru_cache(maxsize=512)
def _thinning(size: int, budget: int) -> np.ndarray:
    """Indices of at most `budget` of `size` sorted points, evenly by rank, always the first and the last."""
    if size <= budget:
        return np.arange(size)
    index = np.unique(np.round(np.linspace(0, size - 1, budget)).astype(np.int64))
    index.flags.writeable = False
    return index


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    """The distinct values, ascending (np.unique without its overhead, for small arrays)."""
    ordered = np.sort(values)
    keep = np.empty(ordered.size, dtype=bool)
    keep[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]


def _round_significant(values: np.ndarray) -> np.ndarray:
    """Round to _SIGNIFICANT_DIGITS significant digits so that JSON shows short decimals (1e-15 <= |x| < 1e21 only;
    other values are kept as they are)."""
    magnitude = np.abs(values)
    rounded = (magnitude >= 1e-15) & (magnitude < 1e21)
    exponent = np.floor(np.log10(np.where(rounded, magnitude, 1.0))).astype(np.int64) - (_SIGNIFICANT_DIGITS - 1)
    # k / 10^m and k * 10^m of exact operands are correctly rounded, so they print as the short decimal.
    scale = _POWERS_OF_TEN[np.abs(exponent)]
    inside = np.where(rounded, values, 0.0)
    if exponent.max(initial=0) <= 0:
        result = np.rint(inside * scale) / scale
    else:
        result = np.where(exponent < 0, np.rint(inside * scale) / scale, np.rint(inside / scale) * scale)
    return np.where(rounded, result, values)


def _numeric_chart_dict(
    edges: np.ndarray,
    points: np.ndarray,
    bins: np.ndarray,
    below: list[int],
    above: list[int],
    ecdf: np.ndarray,
    totals: np.ndarray,
    ks: KsPoint | None,
) -> dict[str, Any]:
    """Assemble the JSON-safe chart from [reference, window] rows of bin counts, below and above counts, ECDF values
    and totals (a side without values gets an empty ECDF list)."""
    bin_rows, ecdf_rows = bins.tolist(), ecdf.tolist()
    return {
        "kind": "numeric",
        "edges": edges.tolist(),
        "reference_counts": bin_rows[0],
        "current_counts": bin_rows[1],
        "reference_below": below[0],
        "reference_above": above[0],
        "current_below": below[1],
        "current_above": above[1],
        "ecdf": {
            "x": points.tolist(),
            "reference": ecdf_rows[0] if totals[0] else [],
            "current": ecdf_rows[1] if totals[1] else [],
        },
        "ks": {"x": ks.x, "reference": ks.reference, "current": ks.current, "d": ks.d} if ks is not None else None,
    }
