"""Drift thresholds fitted to the reference: the score a feature reaches without drift, at a chosen quantile.

A drift run compares a window of n rows with the whole prepared reference (N rows). Without drift both are samples
of one distribution and the score still varies, by an amount that depends on the test, the feature's shape (ties,
skew, missing values) and both sizes; a threshold guessed once for all features flags some of them every run and
others never. The score's no-drift distribution is estimated here by the two-sample bootstrap under the null
hypothesis (Efron & Tibshirani, "An Introduction to the Bootstrap", 1993, ch. 16): each resample draws a reference
of N rows and a window of n rows, with replacement, from the reference rows, and scores them with the project's
drift engine (``drift.statistics``: the same prepare and compute functions a run calls, same tests and min_samples),
so the score is exactly what a run computes. Resampling the reference side too matters: a run's score carries the
reference's own sampling noise (about 1/N next to the window's 1/n), and resampling the window alone would give
thresholds too low, by a factor of about sqrt(1 + n/N) for KS.

The suggested threshold is an order statistic of the B resampled scores chosen so that, with probability at least
``confidence`` (default 0.95), it lies at or above the score's q-quantile: the distribution-free upper confidence
bound of a quantile (Wilks 1941; Hahn & Meeker, "Statistical Intervals", 1991, ch. 5). The share of no-drift
scores above the k-th smallest of B is Beta(B - k + 1, k), so k is the smallest rank with
P(Binomial(B, 1 - q) <= B - k) <= 1 - confidence. The plain sample quantile would put the flag rate above 1 - q
for about half of all fits (with B = 500 its rate has a standard deviation of 0.45 points around 1%); the bound
makes "at most 1 - q" hold per feature. It needs B >= log(1 - confidence) / log(q) resamples (299 at q = 0.99,
confidence 0.95). ``confidence=None`` takes the conformal quantile instead, the ceil(q (B + 1))-th smallest (Lei et
al., "Distribution-free predictive inference for regression", JASA 2018): a flag rate of at most 1 - q on average
over fits, not for each. A run flags a feature when its score is above the threshold, so both hold with ties too.

Cost: B preparations of an N-row reference and B drift computations of an n-row window; about B times one
reference upload plus B drift runs, so it belongs in a background task, computed once per reference and window size.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from . import statistics

DEFAULT_QUANTILE = 0.99
DEFAULT_RESAMPLES = 500
DEFAULT_CONFIDENCE = 0.95


@dataclass(frozen=True)
class SuggestedThreshold:
    """A drift threshold fitted to the reference for one feature (or the prediction) and one window size."""

    feature_name: str
    test: str
    window_size: int  # rows per window the threshold is fitted for
    quantile: float  # in (0, 1): the share of no-drift runs at or below the threshold
    confidence: float | None  # probability that the threshold is at or above that quantile (None: conformal rule)
    # Same scale as FeatureDrift.score; None when fewer resamples produced a score than the quantile needs
    # (a feature missing in most rows, or min_samples above the window size).
    threshold: float | None
    resamples: int  # resamples that produced a score
    median_score: float | None  # the typical no-drift score, for context beside the threshold


def numeric_thresholds_fit(
    *,
    names: Sequence[str],
    values: np.ndarray,
    tests: Sequence[str],
    window_size: int,
    min_samples: int,
    quantile: float = DEFAULT_QUANTILE,
    confidence: float | None = DEFAULT_CONFIDENCE,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> list[SuggestedThreshold]:
    """Suggest a threshold per numeric feature from the reference values (float64 [N, features]; NaN/inf missing).

    tests[i] is feature i's test (statistics.NUMERIC_TESTS); min_samples as the model's drift settings. Raises
    ValueError on bad shapes, unknown tests, window_size < 1, quantile outside (0, 1) or too few resamples.
    """
    feature_names = [str(name) for name in names]
    matrix = _reference_matrix(values, len(feature_names), "values")

    def score(rows: np.ndarray, window: np.ndarray) -> list[statistics.FeatureDrift]:
        reference = statistics.numeric_reference_prepare(names=feature_names, values=rows)
        return statistics.numeric_drift_compute(
            reference=reference, window=window, tests=tests, min_samples=min_samples
        )

    return _thresholds_fit(
        names=feature_names,
        tests=tests,
        matrix=matrix,
        score=score,
        window_size=window_size,
        quantile=quantile,
        confidence=confidence,
        resamples=resamples,
        seed=seed,
    )


def categorical_thresholds_fit(
    *,
    names: Sequence[str],
    categories: Sequence[Sequence[str]],
    codes: np.ndarray,
    tests: Sequence[str],
    window_size: int,
    min_samples: int,
    quantile: float = DEFAULT_QUANTILE,
    confidence: float | None = DEFAULT_CONFIDENCE,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> list[SuggestedThreshold]:
    """Suggest a threshold per categorical feature from reference category codes (float64 [N, features]; NaN missing).

    categories[i] lists feature i's known categories, tests[i] its test (statistics.CATEGORICAL_TESTS). Raises
    ValueError as numeric_thresholds_fit does.
    """
    feature_names = [str(name) for name in names]
    matrix = _reference_matrix(codes, len(feature_names), "codes")

    def score(rows: np.ndarray, window: np.ndarray) -> list[statistics.FeatureDrift]:
        reference = statistics.categorical_reference_prepare(names=feature_names, categories=categories, codes=rows)
        return statistics.categorical_drift_compute(
            reference=reference, window=window, tests=tests, min_samples=min_samples
        )

    return _thresholds_fit(
        names=feature_names,
        tests=tests,
        matrix=matrix,
        score=score,
        window_size=window_size,
        quantile=quantile,
        confidence=confidence,
        resamples=resamples,
        seed=seed,
    )


def prediction_threshold_fit(
    *,
    class_labels: Sequence[str],
    reference_classes: np.ndarray,
    window_size: int,
    min_samples: int,
    quantile: float = DEFAULT_QUANTILE,
    confidence: float | None = DEFAULT_CONFIDENCE,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> SuggestedThreshold:
    """Suggest the prediction-drift threshold from the reference's predicted class indices ([N] into class_labels).

    The score is statistics.prediction_drift_compute's (Jensen-Shannon distance of the class distributions).
    Raises ValueError as numeric_thresholds_fit does.
    """
    labels = [str(label) for label in class_labels]
    classes = np.asarray(reference_classes)
    if classes.ndim != 1 or classes.size < 1 or not np.issubdtype(classes.dtype, np.integer):
        raise ValueError("reference_classes must be a non-empty 1-D integer array of class indices")
    if classes.min() < 0 or classes.max() >= len(labels):
        raise ValueError(f"reference_classes must lie in 0..{len(labels) - 1}")

    def score(rows: np.ndarray, window: np.ndarray) -> list[statistics.PredictionDrift]:
        counts = np.bincount(rows[:, 0].astype(np.int64), minlength=len(labels))
        return [
            statistics.prediction_drift_compute(
                class_labels=labels,
                reference_counts=counts,
                window_classes=window[:, 0].astype(np.int64),
                min_samples=min_samples,
            )
        ]

    (suggested,) = _thresholds_fit(
        names=["prediction"],
        tests=["jensenshannon"],
        matrix=classes.astype(np.float64).reshape(-1, 1),
        score=score,
        window_size=window_size,
        quantile=quantile,
        confidence=confidence,
        resamples=resamples,
        seed=seed,
    )
    return suggested


def resamples_needed(quantile: float, confidence: float | None = DEFAULT_CONFIDENCE) -> int:
    """The fewest resamples for which the threshold exists (299 at q = 0.99, confidence 0.95; 99 conformal)."""
    _unit_interval_check(quantile, "quantile")
    if confidence is None:
        return math.ceil(quantile / (1.0 - quantile) - 1e-9)
    _unit_interval_check(confidence, "confidence")
    # The largest order statistic of B is above the q-quantile with probability 1 - q^B.
    return math.ceil(math.log(1.0 - confidence) / math.log(quantile) - 1e-9)


def threshold_rank(*, scores: int, quantile: float, confidence: float | None = DEFAULT_CONFIDENCE) -> int | None:
    """The 1-based rank among `scores` sorted resampled scores that is the suggested threshold (None: too few)."""
    if scores < 1:
        return None
    if confidence is None:
        rank = math.ceil(quantile * (scores + 1) - 1e-9)  # the epsilon absorbs float error in q (B + 1)
        return rank if rank <= scores else None
    # P(share above the k-th smallest > 1 - q) = P(Binomial(B, 1 - q) <= B - k): the largest B - k it allows.
    allowed = np.flatnonzero(stats.binom.cdf(np.arange(scores), scores, 1.0 - quantile) <= 1.0 - confidence)
    return scores - int(allowed[-1]) if allowed.size else None


def _thresholds_fit(
    *,
    names: list[str],
    tests: Sequence[str],
    matrix: np.ndarray,
    score: Callable[[np.ndarray, np.ndarray], Sequence[statistics.FeatureDrift | statistics.PredictionDrift]],
    window_size: int,
    quantile: float,
    confidence: float | None,
    resamples: int,
    seed: int,
) -> list[SuggestedThreshold]:
    """Bootstrap the no-drift score of every column of matrix and return each column's conformal quantile."""
    if len(tests) != len(names):
        raise ValueError(f"tests has {len(tests)} entries for {len(names)} features")
    if int(window_size) < 1:
        raise ValueError(f"window_size must be >= 1, got {window_size}")
    needed = resamples_needed(quantile, confidence)
    if int(resamples) < needed:
        raise ValueError(f"quantile {quantile} at confidence {confidence} needs {needed} resamples, got {resamples}")
    rng = np.random.default_rng(seed)
    row_count = matrix.shape[0]
    scores = np.full((int(resamples), len(names)), np.nan)
    for draw in range(int(resamples)):
        reference_rows = matrix[rng.integers(0, row_count, row_count)]
        window_rows = matrix[rng.integers(0, row_count, int(window_size))]
        for index, result in enumerate(score(reference_rows, window_rows)):
            if result.score is not None:
                scores[draw, index] = result.score
    suggestions = []
    for index, name in enumerate(names):
        column = np.sort(scores[:, index][~np.isnan(scores[:, index])])
        rank = threshold_rank(scores=column.size, quantile=quantile, confidence=confidence)
        suggestions.append(
            SuggestedThreshold(
                feature_name=name,
                test=str(tests[index]),
                window_size=int(window_size),
                quantile=float(quantile),
                confidence=None if confidence is None else float(confidence),
                threshold=None if rank is None else float(column[rank - 1]),
                resamples=int(column.size),
                median_score=float(np.median(column)) if column.size else None,
            )
        )
    return suggestions


def _reference_matrix(data: np.ndarray, feature_count: int, label: str) -> np.ndarray:
    """Return the reference as float64 [rows >= 1, feature_count]; ValueError otherwise."""
    matrix = np.asarray(data, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[1] != feature_count or matrix.shape[0] < 1:
        raise ValueError(f"{label} must have shape [rows >= 1, {feature_count}], got {matrix.shape}")
    return matrix


def _unit_interval_check(value: float, name: str) -> None:
    """Reject a probability outside the open interval (0, 1)."""
    if not (0.0 < float(value) < 1.0):
        raise ValueError(f"{name} must lie in (0, 1), got {value}")
