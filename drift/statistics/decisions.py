"""Drift decisions: multiple-testing corrections and the per-feature drifted flag from score, p-value and threshold.

Bonferroni (Dunn, JASA 56(293), 1961) and Benjamini-Hochberg (JRSS B 57(1), 1995) corrections over the features that
have a p-value in a run; a feature drifts when each switched-on half holds: score above its threshold, corrected p
below alpha.
"""

from __future__ import annotations

import numpy as np

CORRECTIONS = ("bonferroni", "bh", "none")


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
