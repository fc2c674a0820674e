"""The drift tests, one entry each: name, kind, label, score range, p-value or not, source, and the implementation.

numeric_drift_compute and categorical_drift_compute look a feature's test up here; adding a test means adding an entry
(and, for a stored choice, nothing else: FeatureTest's choices come from NUMERIC_TESTS and CATEGORICAL_TESTS).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .binning import bin_counts_sorted, jensenshannon_rows, population_stability_index
from .contingency import chi2_two_row
from .kolmogorov import KsPoint, ks_asymptotic_p_value
from .results import CATEGORICAL, NUMERIC
from .wasserstein import wasserstein_scaled


@dataclass(frozen=True)
class NumericSample:
    """What a numeric test sees of one feature: its prepared reference and its sorted finite window (both
    non-empty), their summary rows, the reference's bin edges and counts, and the KS point (always computed)."""

    ref_values: np.ndarray  # distinct finite reference values, ascending
    ref_cumulative: np.ndarray  # reference values <= each of them
    ref_bin_counts: np.ndarray  # counts in the reference's bins (drift.statistics.binning), padded
    ref_bin_edges: np.ndarray  # the bins' edges, padded with +inf
    reference_summary: np.ndarray
    window: np.ndarray  # sorted finite window values
    window_summary: np.ndarray
    ks: KsPoint


@dataclass(frozen=True)
class DriftTest:
    """A drift test's description: what the score means, its range, whether it has a p-value, where it comes from."""

    name: str
    kind: str  # NUMERIC or CATEGORICAL
    label: str  # for people: "Kolmogorov-Smirnov D"
    score_min: float
    score_max: float | None  # None: unbounded above
    has_p_value: bool
    source: str  # the method's reference

    def score(self, statistic: float) -> float:
        """Map a raw statistic into the score range (clips rounding just outside it)."""
        clipped = max(statistic, self.score_min)
        return clipped if self.score_max is None else min(clipped, self.score_max)


@dataclass(frozen=True)
class NumericDriftTest(DriftTest):
    """A numeric test: its statistic per feature (on sorted data) and, if it has one, p-values for many features."""

    statistic: Callable[[NumericSample], float]
    # (statistics, reference sizes, window sizes) -> p-values, all arrays over the features that use the test.
    p_values: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray] | None = None


@dataclass(frozen=True)
class CategoricalDriftTest(DriftTest):
    """A categorical test over count tables: (reference [features, k], window [features, k]) with both rows of each
    feature non-empty -> (statistic, score, p-value) arrays over the features (p NaN where the test has none)."""

    compute: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]


def _ks_statistic(sample: NumericSample) -> float:
    return sample.ks.d


def _psi_statistic(sample: NumericSample) -> float:
    window_bins = _window_bin_counts(sample)
    return float(population_stability_index(sample.ref_bin_counts[None, :], window_bins[None, :])[0])


def _jensenshannon_statistic(sample: NumericSample) -> float:
    window_bins = _window_bin_counts(sample)
    return float(jensenshannon_rows(sample.ref_bin_counts[None, :].astype(np.float64), window_bins[None, :])[0])


def _window_bin_counts(sample: NumericSample) -> np.ndarray:
    """The window's counts in the reference's bins, as float64 (padded like the reference's)."""
    return bin_counts_sorted(sample.window, sample.ref_bin_edges).astype(np.float64)


def _wasserstein_statistic(sample: NumericSample) -> float:
    return wasserstein_scaled(
        ref_values=sample.ref_values,
        ref_cumulative=sample.ref_cumulative,
        window_sorted=sample.window,
        reference_summary=sample.reference_summary,
        window_summary=sample.window_summary,
    )


def _chi2_compute(reference: np.ndarray, window: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    statistic, p_value, cramers_v = chi2_two_row(reference, window)
    return statistic, cramers_v, p_value


def _categorical_jensenshannon_compute(
    reference: np.ndarray, window: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    distance = jensenshannon_rows(reference.astype(np.float64), window.astype(np.float64))
    return distance, distance, np.full(distance.shape, np.nan)


_JS_SOURCE = "Lin, IEEE Trans. Inf. Theory 37(1), 1991; scipy.spatial.distance.jensenshannon(base=2)"

NUMERIC_DRIFT_TESTS: Mapping[str, NumericDriftTest] = {
    test.name: test
    for test in (
        NumericDriftTest(
            name="ks",
            kind=NUMERIC,
            label="Kolmogorov-Smirnov D",
            score_min=0.0,
            score_max=1.0,
            has_p_value=True,
            source="scipy.stats.ks_2samp(method='asymp'); Hodges, Ark. Mat. 3, 1958",
            statistic=_ks_statistic,
            p_values=ks_asymptotic_p_value,
        ),
        NumericDriftTest(
            name="psi",
            kind=NUMERIC,
            label="Population stability index",
            score_min=0.0,
            score_max=None,
            has_p_value=False,
            source="Siddiqi, Credit Risk Scorecards, 2006; bins: drift.statistics.binning",
            statistic=_psi_statistic,
        ),
        NumericDriftTest(
            name="wasserstein",
            kind=NUMERIC,
            label="Wasserstein distance / reference std",
            score_min=0.0,
            score_max=None,
            has_p_value=False,
            source="scipy.stats.wasserstein_distance",
            statistic=_wasserstein_statistic,
        ),
        NumericDriftTest(
            name="jensenshannon",
            kind=NUMERIC,
            label="Jensen-Shannon distance (base 2)",
            score_min=0.0,
            score_max=1.0,
            has_p_value=False,
            source=_JS_SOURCE + "; bins: drift.statistics.binning",
            statistic=_jensenshannon_statistic,
        ),
    )
}

CATEGORICAL_DRIFT_TESTS: Mapping[str, CategoricalDriftTest] = {
    test.name: test
    for test in (
        CategoricalDriftTest(
            name="chi2",
            kind=CATEGORICAL,
            label="Chi-squared (score: Cramér's V)",
            score_min=0.0,
            score_max=1.0,
            has_p_value=True,
            source="scipy.stats.chi2_contingency; Cramér, Mathematical Methods of Statistics, 1946",
            compute=_chi2_compute,
        ),
        CategoricalDriftTest(
            name="jensenshannon",
            kind=CATEGORICAL,
            label="Jensen-Shannon distance (base 2)",
            score_min=0.0,
            score_max=1.0,
            has_p_value=False,
            source=_JS_SOURCE,
            compute=_categorical_jensenshannon_compute,
        ),
    )
}

DRIFT_TESTS: Mapping[str, Mapping[str, DriftTest]] = {
    NUMERIC: NUMERIC_DRIFT_TESTS,
    CATEGORICAL: CATEGORICAL_DRIFT_TESTS,
}
NUMERIC_TESTS = tuple(NUMERIC_DRIFT_TESTS)
CATEGORICAL_TESTS = tuple(CATEGORICAL_DRIFT_TESTS)


def drift_test_get(*, kind: str, name: str) -> DriftTest:
    """Return the registered test of a feature kind by name (KeyError naming the known tests otherwise)."""
    tests = DRIFT_TESTS.get(kind)
    if tests is None:
        raise KeyError(f"unknown feature kind {kind!r}; expected one of {tuple(DRIFT_TESTS)}")
    if name not in tests:
        raise KeyError(f"unknown {kind} test {name!r}; expected one of {tuple(tests)}")
    return tests[name]


def tests_resolve(tests: Sequence[str], feature_count: int, registry: Mapping[str, DriftTest]) -> list[str]:
    """Validate one registered test name per feature (ValueError on a wrong count or an unknown name)."""
    test_list = [str(test) for test in tests]
    if len(test_list) != feature_count:
        raise ValueError(f"tests has {len(test_list)} entries for {feature_count} features")
    unknown = sorted(set(test_list) - set(registry))
    if unknown:
        raise ValueError(f"unknown tests {unknown}; expected one of {tuple(registry)}")
    return test_list
