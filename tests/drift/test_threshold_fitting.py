"""Tests of drift thresholds fitted to the reference: no-drift flag rates, KS critical value, power, input checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from drift import statistics
from drift.threshold_fitting import (
    SuggestedThreshold,
    categorical_thresholds_fit,
    numeric_thresholds_fit,
    prediction_threshold_fit,
    resamples_needed,
    threshold_rank,
)

NUMERIC_NAMES = ["normal", "lognormal", "counts", "rounded", "uniform", "gappy"]
NUMERIC_TESTS = ["ks", "psi", "wasserstein", "jensenshannon", "ks", "psi"]
CATEGORICAL_NAMES = ["plan", "region"]
CATEGORICAL_TESTS = ["chi2", "jensenshannon"]
CATEGORIES = [("basic", "plus", "pro"), tuple(f"r{i}" for i in range(8))]
REGION_SHARES = np.arange(8, 0, -1) / 36


def numeric_rows(rng: np.random.Generator, rows: int, shift: float = 0.0) -> np.ndarray:
    """Continuous, skewed, tied (counts, rounded), bounded and partly missing features; `shift` moves the first."""
    values = np.column_stack(
        (
            rng.normal(shift, 1.0, rows),
            rng.lognormal(0.0, 0.8, rows),
            rng.poisson(3.0, rows).astype(np.float64),
            np.round(rng.normal(0.0, 2.0, rows), 1),
            rng.uniform(0.0, 1.0, rows),
            rng.normal(0.0, 1.0, rows),
        )
    )
    values[rng.random(rows) < 0.05, 5] = np.nan
    return values


def categorical_rows(rng: np.random.Generator, rows: int) -> np.ndarray:
    """Category codes of a 3-level and an 8-level feature with uneven shares."""
    return np.column_stack((rng.choice(3, rows, p=[0.6, 0.3, 0.1]), rng.choice(8, rows, p=REGION_SHARES))).astype(
        np.float64
    )


def flag_counts(
    numeric_reference: statistics.NumericReference,
    categorical_reference: statistics.CategoricalReference,
    windows: list[tuple[np.ndarray, np.ndarray]],
    suggested: list[SuggestedThreshold],
) -> np.ndarray:
    """How many windows each feature flags (score above its suggested threshold), as a drift run decides it."""
    thresholds = np.array([s.threshold for s in suggested], dtype=float)
    counts = np.zeros(len(suggested), dtype=int)
    for numeric, categorical in windows:
        results = statistics.numeric_drift_compute(
            reference=numeric_reference, window=numeric, tests=NUMERIC_TESTS, min_samples=1
        ) + statistics.categorical_drift_compute(
            reference=categorical_reference, window=categorical, tests=CATEGORICAL_TESTS, min_samples=1
        )
        scores = np.array([np.nan if r.score is None else r.score for r in results])
        counts += statistics.drift_flags_decide(
            scores=scores,
            p_values=np.full(len(results), np.nan),
            thresholds=thresholds,
            alpha=0.05,
            correction="none",
            use_threshold=True,
            use_p_value=False,
        )
    return counts


def thresholds_fit_all(
    numeric: np.ndarray, categorical: np.ndarray, window_size: int, seed: int, resamples: int = 500
) -> list[SuggestedThreshold]:
    """Suggested thresholds of every numeric, then every categorical feature."""
    return numeric_thresholds_fit(
        names=NUMERIC_NAMES,
        values=numeric,
        tests=NUMERIC_TESTS,
        window_size=window_size,
        min_samples=1,
        resamples=resamples,
        seed=seed,
    ) + categorical_thresholds_fit(
        names=CATEGORICAL_NAMES,
        categories=CATEGORIES,
        codes=categorical,
        tests=CATEGORICAL_TESTS,
        window_size=window_size,
        min_samples=1,
        resamples=resamples,
        seed=seed,
    )


def references_prepare(
    numeric: np.ndarray, categorical: np.ndarray
) -> tuple[statistics.NumericReference, statistics.CategoricalReference]:
    """The prepared references a drift run would compare windows with."""
    return (
        statistics.numeric_reference_prepare(names=NUMERIC_NAMES, values=numeric),
        statistics.categorical_reference_prepare(names=CATEGORICAL_NAMES, categories=CATEGORIES, codes=categorical),
    )


# ---------------------------------------------------------------------------------------------------------------
# Acceptance: no-drift flag rates
# ---------------------------------------------------------------------------------------------------------------


def test_no_drift_windows_resampled_from_the_reference_flag_at_most_one_percent() -> None:
    """Fitted at the 99% quantile on one seed, each feature flags at most 1% of 600 windows drawn on another."""
    # given
    rng = np.random.default_rng(1)
    numeric, categorical = numeric_rows(rng, 1_500), categorical_rows(rng, 1_500)
    window_size = 150
    suggested = thresholds_fit_all(numeric, categorical, window_size, seed=2)
    evaluation = np.random.default_rng(3)
    windows = []
    for _ in range(600):
        rows = evaluation.integers(0, 1_500, window_size)
        windows.append((numeric[rows], categorical[rows]))

    # when
    counts = flag_counts(*references_prepare(numeric, categorical), windows, suggested)

    # then
    assert [s.feature_name for s in suggested] == NUMERIC_NAMES + CATEGORICAL_NAMES
    assert all(s.threshold is not None and s.resamples == 500 and s.quantile == 0.99 for s in suggested)
    assert counts.max() <= 6, dict(zip(NUMERIC_NAMES + CATEGORICAL_NAMES, counts.tolist(), strict=True))


def test_fresh_no_drift_windows_flag_at_most_one_percent_over_references() -> None:
    """With new references and new windows from the same distribution, the flag rate stays under 1% on average."""
    # given
    rng = np.random.default_rng(4)
    flags, runs = 0, 0
    for seed in range(2):
        numeric, categorical = numeric_rows(rng, 800), categorical_rows(rng, 800)
        suggested = thresholds_fit_all(numeric, categorical, 80, seed=seed, resamples=299)
        windows = [(numeric_rows(rng, 80), categorical_rows(rng, 80)) for _ in range(150)]

        # when
        counts = flag_counts(*references_prepare(numeric, categorical), windows, suggested)
        flags += int(counts.sum())
        runs += len(windows) * len(suggested)

    # then
    assert flags / runs <= 0.01, f"{flags} flags in {runs} feature runs"


def test_ks_threshold_is_the_two_sample_critical_value() -> None:
    """For a continuous feature the KS threshold sits at the two-sample 99% critical value of D (within 10%).

    With a window half the reference's size, the reference's own noise is a third of the score's variance: a fit that
    resampled the window alone would land 18% below this value.
    """
    # given
    rng = np.random.default_rng(5)
    reference_rows, window_size = 1_000, 500
    critical = math.sqrt(-math.log(0.01 / 2) / 2) * math.sqrt(
        (reference_rows + window_size) / (reference_rows * window_size)
    )

    # when
    (suggested,) = numeric_thresholds_fit(
        names=["x"], values=rng.normal(size=(reference_rows, 1)), tests=["ks"], window_size=window_size, min_samples=1
    )

    # then
    assert suggested.threshold == pytest.approx(critical, rel=0.10)
    assert suggested.median_score is not None and suggested.median_score < suggested.threshold


def test_a_small_shift_is_flagged_and_thresholds_shrink_with_the_window() -> None:
    """Thresholds are not so high that drift goes unseen: a 0.5 sd shift flags; a larger window gets a lower bar."""
    # given
    rng = np.random.default_rng(6)
    values = rng.normal(size=(2_000, 1))
    common = {"names": ["x"], "values": values, "tests": ["ks"], "min_samples": 1, "resamples": 299, "seed": 7}
    (small,) = numeric_thresholds_fit(**common, window_size=200)
    (large,) = numeric_thresholds_fit(**common, window_size=1_000)
    reference = statistics.numeric_reference_prepare(names=["x"], values=values)

    # when
    scores = [
        statistics.numeric_drift_compute(
            reference=reference, window=rng.normal(0.5, 1.0, size=(200, 1)), tests=["ks"], min_samples=1
        )[0].score
        for _ in range(100)
    ]

    # then
    assert small.threshold is not None and large.threshold is not None
    assert sum(score > small.threshold for score in scores) >= 95
    assert large.threshold < small.threshold


def test_prediction_threshold_rarely_flags_windows_of_the_reference_classes() -> None:
    """The prediction-drift threshold flags at most 1% of no-drift windows of predicted classes."""
    # given
    rng = np.random.default_rng(8)
    labels = ["setosa", "versicolor", "virginica"]
    classes = rng.choice(3, 5_000, p=[0.5, 0.3, 0.2])
    suggested = prediction_threshold_fit(class_labels=labels, reference_classes=classes, window_size=200, min_samples=1)
    reference_counts = np.bincount(classes, minlength=3)

    # when
    scores = [
        statistics.prediction_drift_compute(
            class_labels=labels,
            reference_counts=reference_counts,
            window_classes=classes[rng.integers(0, 5_000, 200)],
            min_samples=1,
        ).score
        for _ in range(1_000)
    ]

    # then
    assert suggested.feature_name == "prediction" and suggested.test == "jensenshannon"
    assert suggested.threshold is not None
    assert sum(score > suggested.threshold for score in scores) <= 10


# ---------------------------------------------------------------------------------------------------------------
# The quantile rule
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("resamples", [299, 500, 1_000, 5_000])
def test_threshold_rank_is_the_smallest_rank_bounding_the_quantile_at_the_confidence(resamples: int) -> None:
    """The rank k makes P(more than 1% of no-drift scores above X_(k)) <= 5%, and k - 1 would not."""
    # when
    rank = threshold_rank(scores=resamples, quantile=0.99, confidence=0.95)

    # then
    assert rank is not None

    def above_quantile_risk(k: int) -> float:
        return float(stats.binom.cdf(resamples - k, resamples, 0.01))

    assert above_quantile_risk(rank) <= 0.05 < above_quantile_risk(rank - 1)


def test_threshold_rank_edges_and_the_conformal_rule() -> None:
    """Too few scores give no rank; confidence=None takes the ceil(q (B + 1))-th smallest."""
    assert resamples_needed(0.99) == 299
    assert threshold_rank(scores=299, quantile=0.99) == 299
    assert threshold_rank(scores=298, quantile=0.99) is None
    assert threshold_rank(scores=0, quantile=0.99) is None
    assert resamples_needed(0.99, None) == 99
    assert threshold_rank(scores=99, quantile=0.99, confidence=None) == 99
    assert threshold_rank(scores=500, quantile=0.99, confidence=None) == 496
    assert threshold_rank(scores=98, quantile=0.99, confidence=None) is None


def test_a_feature_without_enough_scores_gets_no_threshold() -> None:
    """A feature missing in nearly every row cannot reach min_samples in a window: no threshold, and why is counted."""
    # given
    rng = np.random.default_rng(9)
    values = rng.normal(size=(2_000, 2))
    values[rng.random(2_000) < 0.97, 1] = np.nan

    # when
    present, gappy = numeric_thresholds_fit(
        names=["present", "gappy"], values=values, tests=["ks", "ks"], window_size=100, min_samples=20, resamples=300
    )

    # then
    assert present.threshold is not None and present.resamples == 300
    assert gappy.threshold is None and gappy.resamples < 299


def test_the_same_seed_gives_the_same_thresholds() -> None:
    """Fitting is reproducible: the seed fixes every resample."""
    # given
    values = np.random.default_rng(10).normal(size=(500, 1))

    # when
    first, second = (
        numeric_thresholds_fit(names=["x"], values=values, tests=["psi"], window_size=50, min_samples=1, seed=3)
        for _ in range(2)
    )

    # then
    assert first == second


def test_bad_input_is_rejected() -> None:
    """Shapes, tests, window size, quantile, confidence and resample counts are checked with a clear ValueError."""
    values = np.zeros((100, 2))
    common = {"names": ["a", "b"], "values": values, "tests": ["ks", "ks"], "window_size": 10, "min_samples": 1}
    with pytest.raises(ValueError, match="shape"):
        numeric_thresholds_fit(**{**common, "values": np.zeros((100, 3))})
    with pytest.raises(ValueError, match="tests has 1 entries"):
        numeric_thresholds_fit(**{**common, "tests": ["ks"]})
    with pytest.raises(ValueError, match="unknown tests"):
        numeric_thresholds_fit(**{**common, "tests": ["ks", "chi2"]})
    with pytest.raises(ValueError, match="window_size"):
        numeric_thresholds_fit(**{**common, "window_size": 0})
    with pytest.raises(ValueError, match="quantile"):
        numeric_thresholds_fit(**{**common, "quantile": 1.0})
    with pytest.raises(ValueError, match="confidence"):
        numeric_thresholds_fit(**{**common, "confidence": 0.0})
    with pytest.raises(ValueError, match="needs 299 resamples, got 100"):
        numeric_thresholds_fit(**{**common, "resamples": 100})
    with pytest.raises(ValueError, match="reference_classes"):
        prediction_threshold_fit(
            class_labels=["a", "b"], reference_classes=np.array([0, 2]), window_size=5, min_samples=1
        )
