"""Category counts and the chi-squared test of homogeneity on 2 x k tables (reference row, window row).

Equal to scipy.stats.chi2_contingency (Pearson's statistic, Yates' correction at one degree of freedom) with all-zero
columns dropped, computed for many features at once; the score is Cramér's V (Cramér, "Mathematical Methods of
Statistics", 1946), which for two rows is sqrt(chi2 / n).
"""

from __future__ import annotations

import numpy as np
from scipy import special


def chi2_two_row(reference_counts: np.ndarray, window_counts: np.ndarray) -> tuple[np.ndarray, ...]:
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


def category_counts(codes: np.ndarray, sizes: np.ndarray, width: int | None = None) -> tuple[np.ndarray, np.ndarray]:
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
