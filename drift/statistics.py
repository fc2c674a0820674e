"""Drift statistics: pure numpy/scipy functions over feature matrices, returning frozen dataclasses.

The reference side of every test is prepared once (at upload time) and stored; a drift run only sorts the window.
Results agree with scipy (``ks_2samp(method="asymp")``, ``chi2_contingency``, ``jensenshannon``,
``wasserstein_distance``) but avoid its per-feature cost: the KS statistic is evaluated on a coarse grid of the
reference ECDF first and only refined where the bound says the maximum can still be, and the KS p-value is the
same function as ``kstwo.sf`` evaluated for all features at once.
"""

from __future__ import annotations

import io
import itertools
import math
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
from scipy import special, stats

NUMERIC_TESTS = ("ks", "psi", "wasserstein", "jensenshannon")
CATEGORICAL_TESTS = ("chi2", "jensenshannon")
INSUFFICIENT = "insufficient_data"
OK = "ok"
CORRECTIONS = ("bonferroni", "bh", "none")

# Key of the bucket that collects category codes (or class indices) outside the known list.
UNSEEN_CATEGORY = "<unseen>"
UNKNOWN_CLASS = "<unknown>"

PSI_EPSILON = 1e-4
BIN_COUNT = 10
SUMMARY_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
NUMERIC_SUMMARY_KEYS = ("count", "missing_share", "mean", "std", "min", "p5", "p25", "p50", "p75", "p95", "max")

_FORMAT_VERSION = 1
_DECILES = np.linspace(0.1, 0.9, BIN_COUNT - 1)
# Reference ECDF points per grid cell in the pruned KS search; 32 keeps the grid search tiny while the bound
# (two cells of ECDF steps) stays tight enough that only a few percent of the cells need the exact pass.
_KS_GRID_STEP = 32
_KS_DIRECT_MAX = 4 * _KS_GRID_STEP
# Below this many window cells a thread pool costs more than it saves.
_THREADED_MIN_CELLS = 200_000
_MAX_WORKERS = 8
# Columns per sort task: small enough that statistics start on the first block early.
_SORT_BLOCK_COLUMNS = 8
_COPY_CHUNK_ROWS = 8192
# scipy.special.smirnov switches to an approximation above this n (xsf SMIRNOV_MAX_COMPUTE_N).
_SMIRNOV_MAX_COMPUTE_N = 1_000_000
_DURBIN_SKIP_CDF = 1e-11


# ---------------------------------------------------------------------------------------------------------------
# Result types
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeatureDrift:
    """Outcome of one drift test on one feature of one window."""

    feature_name: str
    test: str
    status: str  # OK or INSUFFICIENT
    # In [0, 1] for ks (D), jensenshannon (distance, base 2) and chi2 (Cramér's V); >= 0 for psi and wasserstein
    # (W / reference std). None exactly when status is INSUFFICIENT; never NaN or infinite.
    score: float | None
    statistic: float | None  # the raw statistic: D, chi2, PSI, W / std, JS distance
    p_value: float | None  # ks and chi2 only
    missing_share: float  # NaN/inf (numeric) or NaN (categorical) share of the window rows; 0.0 for no rows
    reference_size: int  # non-missing reference values
    window_size: int  # non-missing window values
    reference_summary: dict[str, Any]
    current_summary: dict[str, Any]
    message: str = ""  # why the feature is INSUFFICIENT


@dataclass(frozen=True)
class PredictionDrift:
    """Outcome of comparing the window's predicted-class distribution with the reference's."""

    status: str
    score: float | None  # Jensen-Shannon distance (base 2) between the class distributions
    chi2_statistic: float | None
    p_value: float | None
    reference_distribution: dict[str, float]
    current_distribution: dict[str, float]
    window_size: int
    message: str = ""


# ---------------------------------------------------------------------------------------------------------------
# Numeric reference
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class NumericReference:
    """Numeric reference prepared once: per feature, its unique finite values ascending with cumulative counts."""

    names: tuple[str, ...]
    # Concatenated per feature; feature f owns values[offsets[f]:offsets[f + 1]].
    values: np.ndarray
    # Cumulative count of finite reference values <= values[i], restarting at each feature.
    cumulative_counts: np.ndarray
    offsets: np.ndarray
    row_count: int
    missing_counts: np.ndarray
    # Decile edges (deduplicated, padded with +inf to BIN_COUNT - 1) and reference counts in the BIN_COUNT bins.
    bin_edges: np.ndarray
    bin_counts: np.ndarray
    # One row of NUMERIC_SUMMARY_KEYS per feature; NaN where undefined.
    summaries: np.ndarray = field(repr=False)

    def feature_values(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Return (unique finite values ascending, cumulative counts) of one feature."""
        start, stop = int(self.offsets[index]), int(self.offsets[index + 1])
        return self.values[start:stop], self.cumulative_counts[start:stop]

    def finite_count(self, index: int) -> int:
        """Return the number of finite reference values of one feature."""
        start, stop = int(self.offsets[index]), int(self.offsets[index + 1])
        return int(self.cumulative_counts[stop - 1]) if stop > start else 0

    def summary(self, index: int) -> dict[str, float | int | None]:
        """Return the JSON-safe summary of one feature (count = non-missing values; None where undefined)."""
        return _numeric_summary_dict(self.summaries[index])

    def subset(self, indices: Sequence[int]) -> NumericReference:
        """Return the reference of the given features only, in the given order."""
        chosen = [int(i) for i in indices]
        parts = [self.feature_values(i) for i in chosen]
        sizes = [values.size for values, _ in parts]
        return NumericReference(
            names=tuple(self.names[i] for i in chosen),
            values=np.concatenate([values for values, _ in parts]) if parts else np.empty(0),
            cumulative_counts=(
                np.concatenate([cumulative for _, cumulative in parts]) if parts else np.empty(0, dtype=np.int64)
            ),
            offsets=np.concatenate(([0], np.cumsum(sizes, dtype=np.int64))).astype(np.int64),
            row_count=self.row_count,
            missing_counts=self.missing_counts[chosen],
            bin_edges=self.bin_edges[chosen],
            bin_counts=self.bin_counts[chosen],
            summaries=self.summaries[chosen],
        )

    def to_bytes(self) -> bytes:
        """Serialize to a compact npz blob (no pickle) for a database BinaryField."""
        counts = _segment_diff(self.cumulative_counts, self.offsets)
        # Continuous features have all counts 1: the smallest dtype makes the counts nearly free to store.
        counts = counts.astype(np.min_scalar_type(int(counts.max()) if counts.size else 0))
        buffer = io.BytesIO()
        np.savez(
            buffer,
            kind=np.array("numeric"),
            format_version=np.array(_FORMAT_VERSION),
            names=np.array(self.names, dtype=str),
            values=self.values,
            counts=counts,
            offsets=self.offsets,
            row_count=np.array(self.row_count),
            missing_counts=self.missing_counts,
            bin_edges=self.bin_edges,
            bin_counts=self.bin_counts,
            summaries=self.summaries,
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> NumericReference:
        """Load a reference written by to_bytes."""
        with np.load(io.BytesIO(data), allow_pickle=False) as blob:
            _check_blob(blob, "numeric")
            offsets = blob["offsets"].astype(np.int64, copy=False)
            return cls(
                names=tuple(str(name) for name in blob["names"]),
                values=blob["values"].astype(np.float64, copy=False),
                cumulative_counts=_segment_cumsum(blob["counts"], offsets),
                offsets=offsets,
                row_count=int(blob["row_count"]),
                missing_counts=blob["missing_counts"].astype(np.int64, copy=False),
                bin_edges=blob["bin_edges"].astype(np.float64, copy=False),
                bin_counts=blob["bin_counts"].astype(np.int64, copy=False),
                summaries=blob["summaries"].astype(np.float64, copy=False),
            )


def numeric_reference_prepare(*, names: Sequence[str], values: np.ndarray) -> NumericReference:
    """Prepare numeric reference data (float64 [rows, features]; NaN/inf = missing) for repeated drift runs."""
    matrix = _as_matrix(values, len(names), "values")
    row_count, feature_count = matrix.shape
    unique_parts: list[np.ndarray] = []
    cumulative_parts: list[np.ndarray] = []
    missing_counts = np.zeros(feature_count, dtype=np.int64)
    bin_edges = np.full((feature_count, BIN_COUNT - 1), np.inf)
    bin_counts = np.zeros((feature_count, BIN_COUNT), dtype=np.int64)
    summaries = np.full((feature_count, len(NUMERIC_SUMMARY_KEYS)), np.nan)
    for start, block in _sorted_column_blocks(matrix):
        for offset in range(block.shape[1]):
            index = start + offset
            finite = _finite_slice(block[:, offset])
            summaries[index] = _numeric_summary_row(finite, row_count)
            missing_counts[index] = row_count - finite.size
            unique, cumulative = _unique_cumulative(finite)
            unique_parts.append(unique)
            cumulative_parts.append(cumulative)
            if finite.size:
                # Duplicate edges (tied data) are dropped; the +inf padding leaves empty trailing bins, which add
                # nothing to Jensen-Shannon or PSI.
                edges = np.unique(np.quantile(finite, _DECILES))
                bin_edges[index, : edges.size] = edges
                bin_counts[index] = _bin_counts_sorted(finite, bin_edges[index])
    offsets = np.concatenate(([0], np.cumsum([part.size for part in unique_parts], dtype=np.int64)))
    return NumericReference(
        names=tuple(str(name) for name in names),
        values=np.concatenate(unique_parts) if unique_parts else np.empty(0),
        cumulative_counts=np.concatenate(cumulative_parts) if cumulative_parts else np.empty(0, dtype=np.int64),
        offsets=offsets.astype(np.int64),
        row_count=row_count,
        missing_counts=missing_counts,
        bin_edges=bin_edges,
        bin_counts=bin_counts,
        summaries=summaries,
    )


# ---------------------------------------------------------------------------------------------------------------
# Categorical reference
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class CategoricalReference:
    """Categorical reference prepared once: per feature, the count of each category code and of unseen codes."""

    names: tuple[str, ...]
    categories: tuple[tuple[str, ...], ...]
    # [features, max categories + 1]; column c < len(categories[f]) counts code c, the last column unseen codes.
    counts: np.ndarray
    row_count: int
    missing_counts: np.ndarray

    def summary(self, index: int) -> dict[str, Any]:
        """Return the JSON-safe summary of one feature: count, missing_share and the share of each category."""
        return _categorical_summary_dict(self.counts[index], self.categories[index], self.row_count)

    def subset(self, indices: Sequence[int]) -> CategoricalReference:
        """Return the reference of the given features only, in the given order."""
        chosen = [int(i) for i in indices]
        return CategoricalReference(
            names=tuple(self.names[i] for i in chosen),
            categories=tuple(self.categories[i] for i in chosen),
            counts=self.counts[chosen],
            row_count=self.row_count,
            missing_counts=self.missing_counts[chosen],
        )

    def to_bytes(self) -> bytes:
        """Serialize to a compact npz blob (no pickle) for a database BinaryField."""
        flat = [name for feature in self.categories for name in feature]
        buffer = io.BytesIO()
        np.savez(
            buffer,
            kind=np.array("categorical"),
            format_version=np.array(_FORMAT_VERSION),
            names=np.array(self.names, dtype=str),
            category_names=np.array(flat, dtype=str),
            category_sizes=np.array([len(feature) for feature in self.categories], dtype=np.int64),
            counts=self.counts,
            row_count=np.array(self.row_count),
            missing_counts=self.missing_counts,
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> CategoricalReference:
        """Load a reference written by to_bytes."""
        with np.load(io.BytesIO(data), allow_pickle=False) as blob:
            _check_blob(blob, "categorical")
            flat = [str(name) for name in blob["category_names"]]
            bounds = np.concatenate(([0], np.cumsum(blob["category_sizes"]))).astype(int)
            return cls(
                names=tuple(str(name) for name in blob["names"]),
                categories=tuple(tuple(flat[bounds[i] : bounds[i + 1]]) for i in range(bounds.size - 1)),
                counts=blob["counts"].astype(np.int64, copy=False),
                row_count=int(blob["row_count"]),
                missing_counts=blob["missing_counts"].astype(np.int64, copy=False),
            )


def categorical_reference_prepare(
    *, names: Sequence[str], categories: Sequence[Sequence[str]], codes: np.ndarray
) -> CategoricalReference:
    """Prepare categorical reference codes (float64 [rows, features]; NaN = missing) for repeated drift runs."""
    if len(categories) != len(names):
        raise ValueError(f"categories has {len(categories)} entries for {len(names)} features")
    matrix = _as_matrix(codes, len(names), "codes")
    category_tuple = tuple(tuple(str(name) for name in feature) for feature in categories)
    counts, missing = _category_counts(matrix, np.array([len(c) for c in category_tuple], dtype=np.int64))
    return CategoricalReference(
        names=tuple(str(name) for name in names),
        categories=category_tuple,
        counts=counts,
        row_count=matrix.shape[0],
        missing_counts=missing,
    )


# ---------------------------------------------------------------------------------------------------------------
# Numeric drift
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class _NumericWindowFeature:
    """Per-feature intermediate result of the pass over window columns."""

    window_size: int
    summary_row: np.ndarray
    statistic: float | None = None
    bin_counts: np.ndarray | None = None


def numeric_drift_compute(
    *, reference: NumericReference, window: np.ndarray, tests: Sequence[str], min_samples: int
) -> list[FeatureDrift]:
    """Compare window columns (reference.names order) with the reference; tests[i] is the test of feature i."""
    feature_count = len(reference.names)
    matrix = _as_matrix(window, feature_count, "window")
    test_list = _checked_tests(tests, feature_count, NUMERIC_TESTS)
    minimum = max(int(min_samples), 1)
    row_count = matrix.shape[0]
    reference_sizes = [reference.finite_count(i) for i in range(feature_count)]

    def feature_compute(index: int, column_sorted: np.ndarray) -> _NumericWindowFeature:
        finite = _finite_slice(column_sorted)
        result = _NumericWindowFeature(window_size=finite.size, summary_row=_numeric_summary_row(finite, row_count))
        if finite.size < minimum or reference_sizes[index] < minimum:
            return result
        test = test_list[index]
        if test == "ks":
            ref_values, ref_cumulative = reference.feature_values(index)
            result.statistic = _ks_statistic(ref_values, ref_cumulative, finite)
        elif test == "wasserstein":
            ref_values, ref_cumulative = reference.feature_values(index)
            distance = _wasserstein_sorted(ref_values, ref_cumulative, finite)
            result.statistic = _wasserstein_scaled(
                distance, reference.summaries[index], result.summary_row, ref_values, finite
            )
        else:
            result.bin_counts = _bin_counts_sorted(finite, reference.bin_edges[index])
        return result

    features: list[_NumericWindowFeature] = []
    for start, block in _sorted_column_blocks(matrix):
        features.extend(feature_compute(start + offset, block[:, offset]) for offset in range(block.shape[1]))

    statistics = np.full(feature_count, np.nan)
    p_values = np.full(feature_count, np.nan)
    computed = np.array([f.statistic is not None or f.bin_counts is not None for f in features], dtype=bool)
    kinds = np.array(test_list, dtype=object)

    ks_index = np.flatnonzero(computed & (kinds == "ks"))
    if ks_index.size:
        d = np.array([features[i].statistic for i in ks_index], dtype=np.float64)
        n1 = np.array([reference_sizes[i] for i in ks_index], dtype=np.float64)
        n2 = np.array([features[i].window_size for i in ks_index], dtype=np.float64)
        statistics[ks_index] = d
        p_values[ks_index] = _ks_asymptotic_p_value(d, n1, n2)

    wasserstein_index = np.flatnonzero(computed & (kinds == "wasserstein"))
    statistics[wasserstein_index] = [features[i].statistic for i in wasserstein_index]

    binned_index = np.flatnonzero(computed & ((kinds == "psi") | (kinds == "jensenshannon")))
    if binned_index.size:
        window_bins = np.stack([features[i].bin_counts for i in binned_index]).astype(np.float64)
        reference_bins = reference.bin_counts[binned_index].astype(np.float64)
        is_psi = kinds[binned_index] == "psi"
        statistics[binned_index] = np.where(
            is_psi,
            _population_stability_index(reference_bins, window_bins),
            _jensenshannon_rows(reference_bins, window_bins),
        )

    results = []
    for index, name in enumerate(reference.names):
        feature = features[index]
        test = test_list[index]
        message = _insufficient_message(reference_sizes[index], feature.window_size, minimum)
        statistic = _finite_or_none(statistics[index]) if not message else None
        if not message and statistic is None:
            message = "the test produced no finite statistic"
        score = None if statistic is None else _numeric_score(test, statistic)
        results.append(
            FeatureDrift(
                feature_name=name,
                test=test,
                status=INSUFFICIENT if message else OK,
                score=score,
                statistic=statistic,
                p_value=_finite_or_none(p_values[index]) if score is not None else None,
                missing_share=(row_count - feature.window_size) / row_count if row_count else 0.0,
                reference_size=reference_sizes[index],
                window_size=feature.window_size,
                reference_summary=reference.summary(index),
                current_summary=_numeric_summary_dict(feature.summary_row),
                message=message,
            )
        )
    return results


def _numeric_score(test: str, statistic: float) -> float:
    """Map a raw statistic to the stored score (bounded tests clipped to [0, 1] against rounding)."""
    if test in ("ks", "jensenshannon"):
        return min(max(statistic, 0.0), 1.0)
    return max(statistic, 0.0)


def _ks_statistic(ref_values: np.ndarray, ref_cumulative: np.ndarray, window_sorted: np.ndarray) -> float:
    """Return the two-sample KS D between a prepared reference and a sorted finite window, exactly as scipy."""
    # D = max |F_ref - F_win| over all sample points. It suffices to look at each unique reference value u_k,
    # both at u_k (counts <= u_k) and just below it (ref counts < u_k, window counts < u_k): between two
    # reference values F_ref is flat, so |F_ref - F_win| peaks at an end of the window's run there. Every pair of
    # counts used is attained at some sample point, so the float result is bit-identical to ks_2samp's.
    n1 = int(ref_cumulative[-1])
    n2 = int(window_sorted.size)
    size = ref_values.size
    if size <= _KS_DIRECT_MAX:
        previous = np.concatenate(([0], ref_cumulative[:-1]))
        return _ks_largest_gap(ref_values, ref_cumulative, previous, window_sorted, n1, n2)[0]

    # Exact values on a grid of every _KS_GRID_STEP-th reference value first.
    grid = np.arange(0, size + _KS_GRID_STEP - 1, _KS_GRID_STEP)
    grid[-1] = size - 1
    previous = ref_cumulative[grid - 1]
    previous[0] = 0
    best, ref_at, ref_below, window_at, window_below = _ks_largest_gap(
        ref_values[grid], ref_cumulative[grid], previous, window_sorted, n1, n2
    )
    # Branch and bound: for reference indices strictly between grid points lo < k < hi, the reference counts lie
    # in [c_lo, c_(hi-1)] and the window counts in [R_lo, L_hi], so |difference| is at most `bound`. Float
    # division and subtraction are monotone, so the bound also holds for the rounded values.
    bound = np.maximum(ref_below[1:] - window_at[:-1], window_below[1:] - ref_at[:-1])
    cells = np.flatnonzero(bound > best)
    if cells.size == 0:
        return best
    # Every reference index inside the open cells; the last cell may be shorter, and a repeated index is harmless.
    inside = np.minimum((grid[cells][:, None] + np.arange(1, _KS_GRID_STEP)).ravel(), size - 1)
    refined = _ks_largest_gap(
        ref_values[inside], ref_cumulative[inside], ref_cumulative[inside - 1], window_sorted, n1, n2
    )[0]
    return max(best, refined)


def _ks_largest_gap(
    values: np.ndarray, cumulative: np.ndarray, previous: np.ndarray, window_sorted: np.ndarray, n1: int, n2: int
) -> tuple[float, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return max |F_ref - F_win| at sorted distinct reference values and just below them, with the ECDF values."""
    right = np.searchsorted(window_sorted, values, side="right")
    # right == 0 reads window_sorted[-1], the window maximum, which is then above the value: never a false tie.
    tied = window_sorted[right - 1] == values
    if tied.any():
        # Only values that tie with a window value need the second search; for the others left == right.
        left = right.copy()
        left[tied] = np.searchsorted(window_sorted, values[tied], side="left")
    else:
        left = right
    ref_at = cumulative / n1
    ref_below = previous / n1
    window_at = right / n2
    window_below = window_at if left is right else left / n2
    gap = max(np.max(np.abs(ref_at - window_at)), np.max(np.abs(ref_below - window_below)))
    return float(gap), ref_at, ref_below, window_at, window_below


def _ks_asymptotic_p_value(d: np.ndarray, n1: np.ndarray, n2: np.ndarray) -> np.ndarray:
    """Return ks_2samp(method="asymp") p-values: kstwo.sf(d, round(n1 * n2 / (n1 + n2))), clipped to [0, 1]."""
    larger = np.maximum(n1, n2)
    smaller = np.minimum(n1, n2)
    n = np.round(larger * smaller / (larger + smaller))
    p = _kstwo_sf(d, n)
    # scipy answers NaN when round(en) is 0 (one value on each side); with no evidence either way that is p = 1.
    return np.clip(np.where(np.isnan(p), 1.0, p), 0.0, 1.0)


def _kstwo_sf(x: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Return scipy.stats.kstwo.sf(x, n), vectorized; the expensive branches of scipy are evaluated in numpy."""
    # Mirrors scipy.stats._ksstats._kolmogn(cdf=False). scipy evaluates it one (x, n) at a time in Python, and for
    # 2.2 <= n x^2 < 370 it calls the exact one-sided smirnov(n, x), a double-double loop over n terms (~25 ms
    # at n = 25,000). Here those branches are computed for all features at once; the rest go to scipy.
    x = np.asarray(x, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    result = np.full(x.shape, np.nan)
    valid = n >= 1
    result[valid & (x >= 1.0)] = 0.0
    t = n * x
    result[valid & (x < 1.0) & (t <= 0.5)] = 1.0
    pending = valid & np.isnan(result)
    nx_squared = t * x
    large = pending & (n > 140) & (t > 1.0) & (t < n - 1) & (x < 0.5)
    zero = large & (nx_squared >= 370.0)
    result[zero] = 0.0
    smirnov = large & (nx_squared >= 2.2) & (nx_squared < 370.0)
    for index in np.flatnonzero(smirnov):
        result[index] = min(max(2.0 * _smirnov_sf(int(n[index]), float(x[index])), 0.0), 1.0)
    below = large & (nx_squared < 2.2)
    if below.any():
        # For z -> 0 the series overflows before the underflow mask discards it; scipy returns 1 there too.
        with np.errstate(all="ignore"):
            cdf = _pelz_good_cdf(n[below], x[below])
        # For tiny D scipy runs the exact Durbin matrix method in Python (~10 ms at n = 25,000, ~35 ms at 100,000).
        # Where the CDF is below _DURBIN_SKIP_CDF, Pelz-Good agrees with it to ~1e-15 absolute, so 1 - CDF is
        # used there too; larger CDFs in that branch (small n) still go to scipy.
        durbin = (n[below] <= 100000) & (n[below] * x[below] ** 1.5 <= 1.4)
        use = ~durbin | (cdf < _DURBIN_SKIP_CDF)
        result[np.flatnonzero(below)[use]] = np.clip(1.0 - cdf[use], 0.0, 1.0)
    rest = pending & np.isnan(result)
    if rest.any():
        result[rest] = stats.kstwo.sf(x[rest], n[rest])
    return result


@lru_cache(maxsize=8)
def _log_binomials(n: int) -> np.ndarray:
    """Return log C(n, v) for v = 0..n (cached: in a drift run most features share the same n)."""
    v = np.arange(n + 1, dtype=np.float64)
    logs = special.gammaln(n + 1.0) - special.gammaln(v + 1.0) - special.gammaln(n - v + 1.0)
    logs.flags.writeable = False
    return logs


def _smirnov_sf(n: int, x: float) -> float:
    """Return scipy.special.smirnov(n, x) for 1/n < x < 1 - 1/n, summing Birnbaum-Tingey terms in log space."""
    if n > _SMIRNOV_MAX_COMPUTE_N:
        # scipy's own approximation for very large n.
        log_p = -((6.0 * n * x + 1) ** 2) / 18.0 / n
        return math.exp(log_p) if log_p < -math.log(2) else 1.0 - (-math.expm1(log_p))
    # P(D+ >= x) = x * sum_{v=0}^{floor(n(1-x))} C(n, v) (1 - x - v/n)^(n-v) (x + v/n)^(v-1); every term is
    # positive, so summing exp(log term) keeps relative precision (about 1e-11 at n = 25,000).
    last = n - math.floor(n * x) - 1
    v = np.arange(last + 1, dtype=np.float64)
    upper = (n - v) / n - x
    lower = x + v / n
    keep = upper > 0.0
    v, upper, lower = v[keep], upper[keep], lower[keep]
    log_terms = _log_binomials(n)[v.astype(np.int64)] + (n - v) * np.log(upper) + (v - 1.0) * np.log(lower)
    return min(max(x * float(np.sum(np.exp(log_terms))), 0.0), 1.0)


_PI_SQUARED = np.pi**2
_PI_FOUR = np.pi**4
_PI_SIX = np.pi**6
_SQRT2PI = np.sqrt(2 * np.pi)
_SQRT3 = np.sqrt(3)


def _pelz_good_cdf(n: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Return scipy's Pelz-Good approximation of P(D_n <= x), vectorized over (n, x) pairs."""
    # scipy (_ksstats._kolmogn_PelzGood) sums c_k q^((2k-1)^2) for k <= ceil(16 z / pi) by Horner's rule in a
    # Python loop; the same terms are summed here as a [pairs, k] matrix, equal up to rounding.
    z = np.sqrt(n) * x
    zsquared, zthree, zfour, zsix = z**2, z**3, z**4, z**6
    qlog = -_PI_SQUARED / 8 / zsquared
    maxk = np.ceil(16 * z / np.pi).astype(np.int64)
    k = np.arange(1, int(maxk.max(initial=1)) + 1)
    active = k[None, :] <= maxk[:, None]
    msquared = ((2 * k - 1) ** 2)[None, :].astype(np.float64)
    mfour, msix = msquared**2, msquared**3
    weights = np.where(active, np.exp(qlog[:, None] * msquared), 0.0)
    zs = [value[:, None] for value in (zsquared, zfour, zsix, z**8)]
    k1 = -zs[0] + _PI_SQUARED / 4 * msquared
    k2 = (6 * zs[2] + 2 * zs[1]) + (2 * zs[1] - 5 * zs[0]) * _PI_SQUARED / 4 * msquared
    k2 = k2 + _PI_FOUR * (1 - 2 * zs[0]) / 16 * mfour
    k3 = (-30 * zs[2] - 90 * zs[3]) + _PI_SQUARED * (135 * zs[1] - 96 * zs[2]) / 4 * msquared
    k3 = k3 + _PI_FOUR * (-60 * zs[0] + 212 * zs[1]) / 16 * mfour + _PI_SIX * (5 - 30 * zs[0]) / 64 * msix
    terms = np.stack([weights.sum(axis=1), (weights * k1).sum(axis=1), (weights * k2).sum(axis=1)])
    terms = np.vstack([terms, (weights * k3).sum(axis=1)[None, :]])
    terms *= _SQRT2PI
    terms /= np.stack([z, 6 * zfour, 72 * z**7, 6480 * z**10])
    # The second series, over all integers k.
    q2 = np.exp(-_PI_SQUARED / 2 / zsquared)
    ksquared = (k**2)[None, :]
    qpowers = np.where(active, q2[:, None] ** ksquared, 0.0)
    sqrt3z = (_SQRT3 * z)[:, None]
    kspi = (np.pi * k)[None, :]
    terms[2] += np.sum(ksquared * qpowers, axis=1) * (_PI_SQUARED * _SQRT2PI / (-36 * zthree))
    terms[3] += np.sum((sqrt3z + kspi) * (sqrt3z - kspi) * ksquared * qpowers, axis=1) * (
        _PI_SQUARED * _SQRT2PI / (216 * zsix)
    )
    terms /= np.power(n[None, :] * 1.0, np.arange(4)[:, None] / 2.0)
    cdf = ((terms[0] + terms[1]) + terms[2]) + terms[3]
    # scipy returns 0 when q underflows (z below ~0.0417).
    return np.where(qlog < -708, 0.0, cdf)


def _wasserstein_sorted(ref_values: np.ndarray, ref_cumulative: np.ndarray, window_sorted: np.ndarray) -> float:
    """Return scipy.stats.wasserstein_distance between the prepared reference and a sorted window."""
    window_values, window_cumulative = _unique_cumulative(window_sorted)
    # Two sorted runs: the stable sort is a linear merge.
    points = np.sort(np.concatenate((ref_values, window_values)), kind="stable")
    deltas = np.diff(points)
    ref_cdf = np.concatenate(([0], ref_cumulative))[np.searchsorted(ref_values, points[:-1], side="right")]
    window_cdf = np.concatenate(([0], window_cumulative))[np.searchsorted(window_values, points[:-1], side="right")]
    difference = np.abs(ref_cdf / ref_cumulative[-1] - window_cdf / window_sorted.size)
    # Plain multiply-and-sum: np.dot would hand this to a multi-threaded BLAS whose spinning threads compete
    # with the feature threads.
    return float(np.sum(difference * deltas))


def _wasserstein_scaled(
    distance: float,
    reference_summary: np.ndarray,
    window_summary: np.ndarray,
    ref_values: np.ndarray,
    window_sorted: np.ndarray,
) -> float:
    """Scale W by the reference std; for a constant reference fall back to the window std, then to |constants|."""
    # A constant reference has std 0: W / window std still measures the spread that appeared; if both sides are
    # constant, W is |c_window - c_reference| and is divided by the larger |constant| (a relative change).
    std_index = NUMERIC_SUMMARY_KEYS.index("std")
    for scale in (reference_summary[std_index], window_summary[std_index]):
        if scale > 0.0:
            return distance / float(scale)
    if distance == 0.0:
        return 0.0
    return distance / max(abs(float(ref_values[0])), abs(float(window_sorted[0])))


def _population_stability_index(reference_bins: np.ndarray, window_bins: np.ndarray) -> np.ndarray:
    """Return PSI (natural log) per row of bin counts; empty bins get PSI_EPSILON so the log stays finite."""
    p = reference_bins / reference_bins.sum(axis=1, keepdims=True)
    q = window_bins / window_bins.sum(axis=1, keepdims=True)
    p = np.where(p == 0.0, PSI_EPSILON, p)
    q = np.where(q == 0.0, PSI_EPSILON, q)
    return np.sum((q - p) * np.log(q / p), axis=1)


def _jensenshannon_rows(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Return scipy.spatial.distance.jensenshannon(p, q, base=2) for each row pair."""
    p = p / np.sum(p, axis=1, keepdims=True)
    q = q / np.sum(q, axis=1, keepdims=True)
    m = (p + q) / 2.0
    divergence = np.sum(special.rel_entr(p, m), axis=1) + np.sum(special.rel_entr(q, m), axis=1)
    divergence /= np.log(2.0)
    # Rounding can leave a tiny negative divergence for identical rows; the distance is then 0.
    return np.sqrt(np.maximum(divergence / 2.0, 0.0))


# ---------------------------------------------------------------------------------------------------------------
# Categorical drift
# ---------------------------------------------------------------------------------------------------------------


def categorical_drift_compute(
    *, reference: CategoricalReference, window: np.ndarray, tests: Sequence[str], min_samples: int
) -> list[FeatureDrift]:
    """Compare window category codes (reference.names order) with the reference; tests[i] is feature i's test."""
    feature_count = len(reference.names)
    matrix = _as_matrix(window, feature_count, "window")
    test_list = _checked_tests(tests, feature_count, CATEGORICAL_TESTS)
    minimum = max(int(min_samples), 1)
    row_count = matrix.shape[0]
    sizes = np.array([len(c) for c in reference.categories], dtype=np.int64)
    window_counts, window_missing = _category_counts(matrix, sizes, width=reference.counts.shape[1])
    reference_sizes = reference.counts.sum(axis=1)
    window_sizes = window_counts.sum(axis=1)

    chi2_statistic, chi2_p, cramers_v = _chi2_two_row(reference.counts, window_counts)
    js = np.full(feature_count, np.nan)
    usable = (reference_sizes > 0) & (window_sizes > 0)
    if usable.any():
        js[usable] = _jensenshannon_rows(
            reference.counts[usable].astype(np.float64), window_counts[usable].astype(np.float64)
        )

    results = []
    for index, name in enumerate(reference.names):
        test = test_list[index]
        message = _insufficient_message(int(reference_sizes[index]), int(window_sizes[index]), minimum)
        if test == "chi2":
            statistic, score, p_value = chi2_statistic[index], cramers_v[index], chi2_p[index]
        else:
            statistic, score, p_value = js[index], js[index], np.nan
        if message:
            statistic, score, p_value = np.nan, np.nan, np.nan
        results.append(
            FeatureDrift(
                feature_name=name,
                test=test,
                status=INSUFFICIENT if message else OK,
                score=None if message else min(max(float(score), 0.0), 1.0),
                statistic=_finite_or_none(statistic),
                p_value=_finite_or_none(p_value),
                missing_share=float(window_missing[index]) / row_count if row_count else 0.0,
                reference_size=int(reference_sizes[index]),
                window_size=int(window_sizes[index]),
                reference_summary=reference.summary(index),
                current_summary=_categorical_summary_dict(window_counts[index], reference.categories[index], row_count),
                message=message,
            )
        )
    return results


def _chi2_two_row(reference_counts: np.ndarray, window_counts: np.ndarray) -> tuple[np.ndarray, ...]:
    """Return (statistic, p-value, Cramér's V) of chi2_contingency on each 2 x k table, zero columns dropped."""
    observed = np.stack([reference_counts, window_counts], axis=1).astype(np.float64)  # [features, 2, k]
    column_sums = observed.sum(axis=1, keepdims=True)
    row_sums = observed.sum(axis=2, keepdims=True)
    total = row_sums.sum(axis=1, keepdims=True)
    present = column_sums > 0
    valid = (row_sums[:, :, 0] > 0).all(axis=1)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        expected = row_sums * column_sums / total
        dof = present[:, 0, :].sum(axis=1) - 1
        # Yates' correction exactly as chi2_contingency applies it (only when dof == 1).
        yates = (dof == 1)[:, None, None]
        diff = expected - observed
        corrected = observed + np.minimum(0.5, np.abs(diff)) * np.sign(diff)
        observed = np.where(yates, corrected, observed)
        terms = np.where(present, (observed - expected) ** 2 / expected, 0.0)
        statistic = terms.reshape(terms.shape[0], -1).sum(axis=1)
        statistic = np.where(dof > 0, statistic, 0.0)
        p_value = np.where(dof > 0, special.chdtrc(np.maximum(dof, 1), statistic), 1.0)
        # With two rows min(r - 1, c - 1) is 1, so Cramér's V is sqrt(chi2 / n).
        cramers_v = np.sqrt(np.clip(statistic / total[:, 0, 0], 0.0, 1.0))
    nan = np.full(statistic.shape, np.nan)
    return np.where(valid, statistic, nan), np.where(valid, p_value, nan), np.where(valid, cramers_v, nan)


def _category_counts(codes: np.ndarray, sizes: np.ndarray, width: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Count codes per feature: [features, width] with the last column for unseen codes, plus missing counts."""
    feature_count = codes.shape[1]
    width = int(sizes.max(initial=0)) + 1 if width is None else width
    counts = np.zeros((feature_count, width), dtype=np.int64)
    missing = np.zeros(feature_count, dtype=np.int64)
    # One transposing copy, then a contiguous pass per feature: twice as fast as one bincount over all features.
    for index, column in enumerate(np.ascontiguousarray(codes.T)):
        size = int(sizes[index])
        with np.errstate(invalid="ignore"):
            # NaN, inf and huge codes cast to garbage, which then differs from the float code: not a known code.
            integer_codes = column.astype(np.int64)
        # Viewed as unsigned, negative codes become huge: one comparison checks 0 <= code < size.
        known = integer_codes[(integer_codes == column) & (integer_codes.view(np.uint64) < size)]
        counts[index, :size] = np.bincount(known, minlength=size)
        missing[index] = np.count_nonzero(np.isnan(column))
        counts[index, width - 1] += column.size - known.size - missing[index]
    return counts, missing


# ---------------------------------------------------------------------------------------------------------------
# Prediction drift
# ---------------------------------------------------------------------------------------------------------------


def prediction_drift_compute(
    *, class_labels: Sequence[str], reference_counts: np.ndarray, window_classes: np.ndarray, min_samples: int
) -> PredictionDrift:
    """Compare the window's predicted classes (indices into class_labels) with the reference class counts."""
    labels = [str(label) for label in class_labels]
    reference = np.asarray(reference_counts, dtype=np.int64).ravel()
    if reference.size != len(labels):
        raise ValueError(f"reference_counts has {reference.size} entries for {len(labels)} classes")
    classes = np.asarray(window_classes).ravel()
    if classes.size and not np.issubdtype(classes.dtype, np.integer):
        raise ValueError("window_classes must be an integer array of class indices")
    classes = classes.astype(np.int64)
    known = (classes >= 0) & (classes < len(labels))
    # Indices outside class_labels are kept in their own bucket rather than dropped: they are drift too.
    window = np.append(np.bincount(classes[known], minlength=len(labels)), np.count_nonzero(~known))
    reference_full = np.append(reference, 0)
    all_labels = [*labels, UNKNOWN_CLASS]
    reference_distribution = _shares(reference_full, all_labels)
    current_distribution = _shares(window, all_labels)
    window_size = int(classes.size)
    minimum = max(int(min_samples), 1)
    message = _insufficient_message(int(reference.sum()), window_size, minimum)
    if message:
        return PredictionDrift(
            status=INSUFFICIENT,
            score=None,
            chi2_statistic=None,
            p_value=None,
            reference_distribution=reference_distribution,
            current_distribution=current_distribution,
            window_size=window_size,
            message=message,
        )
    statistic, p_value, _ = _chi2_two_row(reference_full[None, :], window[None, :])
    score = _jensenshannon_rows(reference_full[None, :].astype(np.float64), window[None, :].astype(np.float64))
    return PredictionDrift(
        status=OK,
        score=min(max(float(score[0]), 0.0), 1.0),
        chi2_statistic=float(statistic[0]),
        p_value=float(p_value[0]),
        reference_distribution=reference_distribution,
        current_distribution=current_distribution,
        window_size=window_size,
    )


def _shares(counts: np.ndarray, labels: list[str]) -> dict[str, float]:
    """Return {label: share}; the last (unknown/unseen) bucket only when it is non-empty."""
    total = int(counts.sum())
    shares = {label: (int(count) / total if total else 0.0) for label, count in zip(labels, counts, strict=True)}
    if counts[-1] == 0:
        shares.pop(labels[-1])
    return shares


# ---------------------------------------------------------------------------------------------------------------
# Decisions
# ---------------------------------------------------------------------------------------------------------------


def p_values_correct(*, p_values: np.ndarray, method: str) -> np.ndarray:
    """Adjust p-values for multiple testing ("bonferroni", "bh" = Benjamini-Hochberg, "none"); NaN passes through."""
    if method not in CORRECTIONS:
        raise ValueError(f"unknown correction {method!r}; expected one of {CORRECTIONS}")
    p = np.asarray(p_values, dtype=np.float64)
    result = p.copy()
    present = np.isfinite(p)
    count = int(present.sum())
    if method == "none" or count == 0:
        return result
    values = p[present]
    if method == "bonferroni":
        result[present] = np.minimum(1.0, values * count)
        return result
    order = np.argsort(values, kind="stable")
    ranked = values[order] * count / np.arange(1, count + 1)
    # Step-up: each adjusted p-value is the minimum over itself and all larger ranks.
    adjusted = np.minimum(1.0, np.minimum.accumulate(ranked[::-1])[::-1])
    unsorted = np.empty(count)
    unsorted[order] = adjusted
    result[present] = unsorted
    return result


def drift_flags_decide(
    *,
    scores: np.ndarray,
    p_values: np.ndarray,
    thresholds: np.ndarray,
    alpha: float,
    correction: str,
    use_threshold: bool,
    use_p_value: bool,
) -> np.ndarray:
    """Return a boolean drift flag per feature from scores, p-values (NaN = none) and per-feature thresholds."""
    score = np.asarray(scores, dtype=np.float64)
    p = np.asarray(p_values, dtype=np.float64)
    limit = np.broadcast_to(np.asarray(thresholds, dtype=np.float64), score.shape)
    tested = np.isfinite(score)
    # A feature without a score was not tested, so its p-value is not part of the corrected family either.
    has_p = tested & np.isfinite(p)
    corrected = p_values_correct(p_values=np.where(has_p, p, np.nan), method=correction)
    threshold_half = (score > limit) if use_threshold else np.ones(score.shape, dtype=bool)
    with np.errstate(invalid="ignore"):
        p_half = np.where(has_p, corrected < alpha, True) if use_p_value else np.ones(score.shape, dtype=bool)
    # A feature whose every switched-on half was skipped (no p-value, threshold off) is not flagged.
    applied = np.full(score.shape, bool(use_threshold)) | (bool(use_p_value) & has_p)
    return tested & applied & threshold_half & p_half


# ---------------------------------------------------------------------------------------------------------------
# Shared helpers
# ---------------------------------------------------------------------------------------------------------------


def _as_matrix(data: np.ndarray, feature_count: int, label: str) -> np.ndarray:
    """Return data as float64 [rows, features]; an empty 1-D array counts as zero rows."""
    matrix = np.asarray(data, dtype=np.float64)
    if matrix.ndim == 1 and matrix.size == 0:
        matrix = matrix.reshape(0, feature_count)
    if matrix.ndim != 2 or matrix.shape[1] != feature_count:
        raise ValueError(f"{label} must have shape [rows, {feature_count}], got {matrix.shape}")
    return matrix


def _checked_tests(tests: Sequence[str], feature_count: int, allowed: tuple[str, ...]) -> list[str]:
    """Validate one test name per feature."""
    test_list = [str(test) for test in tests]
    if len(test_list) != feature_count:
        raise ValueError(f"tests has {len(test_list)} entries for {feature_count} features")
    unknown = sorted(set(test_list) - set(allowed))
    if unknown:
        raise ValueError(f"unknown tests {unknown}; expected one of {allowed}")
    return test_list


def _insufficient_message(reference_size: int, window_size: int, minimum: int) -> str:
    """Explain why a feature cannot be tested, or return "" when it can."""
    if window_size < minimum:
        return f"window has {window_size} non-missing values, minimum is {minimum}"
    if reference_size < minimum:
        return f"reference has {reference_size} non-missing values, minimum is {minimum}"
    return ""


def _finite_or_none(value: float) -> float | None:
    """Return a finite value as float, anything else as None."""
    value = float(value)
    return value if math.isfinite(value) else None


def _finite_slice(ordered: np.ndarray) -> np.ndarray:
    """Return the finite middle of a sorted array (sorting puts -inf first and +inf, then NaN, last)."""
    start = int(np.searchsorted(ordered, -np.inf, side="right"))
    stop = int(np.searchsorted(ordered, np.inf, side="left"))
    return ordered[start:stop]


def _unique_cumulative(sorted_values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return unique values of a sorted array and the cumulative count up to each of them."""
    if sorted_values.size == 0:
        return sorted_values.copy(), np.empty(0, dtype=np.int64)
    last = np.empty(sorted_values.size, dtype=bool)
    np.not_equal(sorted_values[1:], sorted_values[:-1], out=last[:-1])
    last[-1] = True
    ends = np.flatnonzero(last)
    return sorted_values[ends], ends.astype(np.int64) + 1


def _segment_diff(cumulative: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Turn per-segment cumulative counts back into counts."""
    counts = np.diff(cumulative, prepend=0)
    starts = offsets[:-1][offsets[:-1] < offsets[1:]]
    counts[starts] = cumulative[starts]
    return counts


def _segment_cumsum(counts: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Cumulative sum of counts (any integer dtype) restarting at each segment start, as int64."""
    cumulative = np.empty(counts.size, dtype=np.int64)
    for start, stop in itertools.pairwise(offsets.tolist()):
        segment = counts[start:stop]
        if segment.size and segment.max() == 1:
            # A feature without ties (the usual continuous one): the cumulative counts are 1..k.
            cumulative[start:stop] = np.arange(1, stop - start + 1)
        else:
            np.cumsum(segment, dtype=np.int64, out=cumulative[start:stop])
    return cumulative


def _bin_counts_sorted(sorted_values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Count sorted values in the bins (-inf, e1), [e1, e2), ..., [e_last, inf) given edges padded with +inf."""
    below = np.searchsorted(sorted_values, edges, side="left")
    return np.diff(np.concatenate(([0], below, [sorted_values.size]))).astype(np.int64)


def _sorted_quantiles(sorted_values: np.ndarray, quantiles: Sequence[float]) -> list[float]:
    """Return np.quantile (linear method) of already sorted values without re-partitioning them."""
    positions = np.asarray(quantiles) * (sorted_values.size - 1)
    low = np.floor(positions).astype(np.int64)
    high = np.minimum(low + 1, sorted_values.size - 1)
    fraction = positions - low
    a, b = sorted_values[low], sorted_values[high]
    difference = b - a
    # numpy's _lerp: interpolate from the nearer end, for monotone results.
    values = np.where(fraction >= 0.5, b - difference * (1 - fraction), a + difference * fraction)
    return [float(v) for v in values]


def _numeric_summary_row(sorted_finite: np.ndarray, row_count: int) -> np.ndarray:
    """Return NUMERIC_SUMMARY_KEYS values of one feature (NaN where undefined)."""
    row = np.full(len(NUMERIC_SUMMARY_KEYS), np.nan)
    count = sorted_finite.size
    row[0] = count
    row[1] = (row_count - count) / row_count if row_count else 0.0
    if count:
        # Two passes without a temporary: sum and sum of squares (einsum, not np.dot, so no BLAS threads compete
        # with the sort workers). Where the variance is tiny next to the mean square the difference cancels, so
        # it is recomputed around the median; that also makes a constant feature's std exactly 0.
        mean = float(np.add.reduce(sorted_finite)) / count
        mean_square = float(np.einsum("i,i->", sorted_finite, sorted_finite)) / count
        variance = mean_square - mean**2
        if variance <= 1e-6 * mean_square:
            shifted = sorted_finite - sorted_finite[count // 2]
            shift_mean = float(np.add.reduce(shifted)) / count
            variance = max(float(np.einsum("i,i->", shifted, shifted)) / count - shift_mean**2, 0.0)
        row[2] = mean
        row[3] = math.sqrt(variance)
        row[4] = sorted_finite[0]
        row[5:10] = _sorted_quantiles(sorted_finite, SUMMARY_QUANTILES)
        row[10] = sorted_finite[-1]
    return row


def _numeric_summary_dict(row: np.ndarray) -> dict[str, float | int | None]:
    """Convert a summary row into a JSON-safe dict."""
    summary: dict[str, float | int | None] = {}
    for key, value in zip(NUMERIC_SUMMARY_KEYS, row, strict=True):
        summary[key] = int(value) if key == "count" else _finite_or_none(value)
    return summary


def _categorical_summary_dict(counts: np.ndarray, categories: tuple[str, ...], row_count: int) -> dict[str, Any]:
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


def _check_blob(blob: Any, kind: str) -> None:
    """Reject blobs of another reference kind or format version."""
    if str(blob["kind"]) != kind:
        raise ValueError(f"expected a {kind} reference, got {blob['kind']}")
    if int(blob["format_version"]) != _FORMAT_VERSION:
        raise ValueError(f"unsupported reference format version {int(blob['format_version'])}")


def _sort_worker_count() -> int:
    """Return how many threads sort while the calling thread computes statistics (0: sort inline)."""
    try:
        available = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        available = os.cpu_count() or 1
    # Sorting costs more than the statistics, so one worker per core keeps every core busy; the calling thread
    # mostly waits on sorted blocks and takes a core only while it computes on them. A single core sorts inline.
    return 0 if available < 2 else min(available, _MAX_WORKERS)


def _sorted_column_blocks(matrix: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (first column, block) in column order, each block a Fortran-ordered copy with its columns sorted."""
    # Copying and sorting is half the work and numpy releases the GIL for both, so worker threads prepare blocks
    # (two numpy calls each) while the calling thread computes statistics on the blocks already sorted. Anything
    # more in the workers (summaries, the tests) was slower: many small numpy calls make the threads hand the GIL
    # back and forth.
    column_count = matrix.shape[1]
    starts = range(0, column_count, _SORT_BLOCK_COLUMNS)
    bounds = [(start, min(start + _SORT_BLOCK_COLUMNS, column_count)) for start in starts]
    workers = _sort_worker_count()
    if workers < 1 or matrix.size < _THREADED_MIN_CELLS or len(bounds) < 2:
        for start, stop in bounds:
            yield start, _columns_sorted(matrix, start, stop)
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(_columns_sorted, matrix, start, stop) for start, stop in bounds]
        for (start, _), future in zip(bounds, futures, strict=True):
            yield start, future.result()


def _columns_sorted(matrix: np.ndarray, start: int, stop: int) -> np.ndarray:
    """Return columns start:stop of matrix as a Fortran-ordered copy with every column sorted (NaN last)."""
    source = matrix[:, start:stop]
    if matrix.flags.f_contiguous:
        block = np.array(source, order="F")
    else:
        # Transposing in row chunks keeps each chunk's strided reads in cache: ~1.6x faster than one big copy.
        block = np.empty(source.shape, order="F")
        for row in range(0, source.shape[0], _COPY_CHUNK_ROWS):
            block[row : row + _COPY_CHUNK_ROWS] = source[row : row + _COPY_CHUNK_ROWS]
    block.sort(axis=0)
    return block
