"""Bins of the binned drift scores (PSI, numeric Jensen-Shannon), prepared from the reference so that no shift between
distinct values can hide inside one bin, and the two scores over bin counts.

Bins are half-open intervals [e_i, e_(i+1)) cut at ascending edges e_0 < ... < e_m, plus the two outer bins
(-inf, e_0) and [e_m, +inf). A single value v gets its own bin as [v, nextafter(v, +inf)). From the reference's
distinct finite values v_1 < ... < v_k with counts c_j (n in all):

- few distinct values (k <= MAX_VALUE_BINS: flags, counts, codes, constants): one bin per value, and between two
  neighbouring values the open gap (v_j, v_(j+1)) is a bin of its own (empty in the reference), so a window value
  the reference never took is never pooled with one it did take;
- otherwise every heavy value (c_j >= n / BIN_COUNT, a mass that would fill a quantile bin and make quantile edges
  coincide) gets its own bin, and each stretch of the other values between heavy ones is cut into
  max(1, floor(BIN_COUNT * m / n)) bins of about equal reference mass m / bins (m: the stretch's count), at the
  smallest values x with #(stretch values < x) >= j * m / bins. Edges sit on data values, so no value is split,
  and a stretch's bins hold at least n / BIN_COUNT values, more than any non-heavy value: edges never coincide;
- in both cases e_0 is the reference minimum and e_m = nextafter(maximum, +inf): the outer bins hold exactly the
  values below the reference's range and above it.

PSI (Siddiqi, "Credit Risk Scorecards", 2006) is sum (q_i - p_i) ln(q_i / p_i) over the bins, natural log, with p
and q the reference and window shares; a share that is 0 on one side is replaced by PSI_EPSILON = 1e-4 on that side
(the shares are not renormalised), so the log stays finite and a bin empty on both sides adds exactly 0. The
Jensen-Shannon distance (Lin, IEEE Trans. Inf. Theory 37(1), 1991) is scipy.spatial.distance.jensenshannon with
base 2: in [0, 1], no epsilon needed (0 ln 0 = 0).
"""

from __future__ import annotations

import numpy as np
from scipy import special

BIN_COUNT = 10
MAX_VALUE_BINS = 20
# Edges of a feature: value binning needs 2 per value; the other case at most 2 * BIN_COUNT for heavy values,
# BIN_COUNT - 1 inside stretches and 2 outer ones (32). Stored padded with +inf, which only adds empty bins.
MAX_BIN_EDGES = 2 * MAX_VALUE_BINS
PSI_EPSILON = 1e-4


def reference_bin_edges(values: np.ndarray, cumulative: np.ndarray) -> np.ndarray:
    """Return the ascending bin edges (at most MAX_BIN_EDGES) of one feature from its reference's distinct finite
    values (ascending) and their cumulative counts; empty when the reference has no finite value."""
    size = values.size
    if size == 0:
        return np.empty(0)
    with np.errstate(over="ignore"):  # the largest float's next is +inf: an above-range bin that stays empty
        upper = np.nextafter(values, np.inf)
    if size <= MAX_VALUE_BINS:
        # v_j, next(v_j), v_(j+1), ...: the gap bin [next(v_j), v_(j+1)) vanishes when the two values are adjacent
        # floats, so repeated edges are dropped (that removes an empty interval, never merges two values).
        return np.unique(np.column_stack((values, upper)).ravel())
    total = int(cumulative[-1])
    counts = np.diff(cumulative, prepend=0)
    heavy = np.flatnonzero(counts * BIN_COUNT >= total)
    edges = [values[:1], upper[-1:], values[heavy], upper[heavy]]
    before = cumulative - counts  # reference values below each distinct value
    # Stretches of non-heavy values: between consecutive heavy indices, and before the first / after the last.
    bounds = np.concatenate(([-1], heavy, [size]))
    for start, stop in zip(bounds[:-1] + 1, bounds[1:], strict=True):
        if stop - start < 2:
            continue
        base = int(before[start])
        mass = int(cumulative[stop - 1]) - base
        bins = max(1, mass * BIN_COUNT // total)
        if bins < 2:
            continue
        targets = base + mass * np.arange(1, bins) / bins
        edges.append(values[start + np.searchsorted(before[start:stop], targets, side="left")])
    return np.unique(np.concatenate(edges))


def padded_edges(edges: np.ndarray, width: int = MAX_BIN_EDGES) -> np.ndarray:
    """Return edges padded with +inf to `width` (ValueError when there are more)."""
    if edges.size > width:
        raise ValueError(f"{edges.size} bin edges exceed the {width} stored per feature")
    return np.concatenate((edges, np.full(width - edges.size, np.inf)))


def bin_counts_sorted(sorted_values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Count sorted finite values in the len(edges) + 1 bins (-inf, e_0), [e_0, e_1), ..., [e_last, +inf)."""
    below = np.searchsorted(sorted_values, edges, side="left")
    return np.diff(np.concatenate(([0], below, [sorted_values.size]))).astype(np.int64)


def bin_counts_cumulative(values: np.ndarray, cumulative: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Count a sample given as distinct ascending values with cumulative counts in the bins of bin_counts_sorted."""
    index = np.searchsorted(values, edges, side="left")
    below = np.where(index > 0, cumulative[np.maximum(index - 1, 0)], 0) if values.size else np.zeros(edges.size)
    total = int(cumulative[-1]) if cumulative.size else 0
    return np.diff(np.concatenate(([0], below, [total]))).astype(np.int64)


def population_stability_index(reference_bins: np.ndarray, window_bins: np.ndarray) -> np.ndarray:
    """Return PSI (natural log) per row of bin counts [rows, bins]; a share that is 0 on one side becomes
    PSI_EPSILON on that side, so a bin empty on both sides adds 0. Rows need a positive total on both sides."""
    p = reference_bins / reference_bins.sum(axis=1, keepdims=True)
    q = window_bins / window_bins.sum(axis=1, keepdims=True)
    p = np.where(p == 0.0, PSI_EPSILON, p)
    q = np.where(q == 0.0, PSI_EPSILON, q)
    psi: np.ndarray = np.sum((q - p) * np.log(q / p), axis=1)
    return psi


def jensenshannon_rows(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Return scipy.spatial.distance.jensenshannon(p, q, base=2) for each row pair of counts [rows, bins]."""
    p = p / np.sum(p, axis=1, keepdims=True)
    q = q / np.sum(q, axis=1, keepdims=True)
    m = (p + q) / 2.0
    divergence = np.sum(special.rel_entr(p, m), axis=1) + np.sum(special.rel_entr(q, m), axis=1)
    divergence /= np.log(2.0)
    # Rounding can leave a tiny negative divergence for identical rows; the distance is then 0.
    distances: np.ndarray = np.sqrt(np.maximum(divergence / 2.0, 0.0))
    return distances
