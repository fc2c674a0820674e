"""Tests of the drift statistics engine: agreement with scipy, edge cases, decisions and statistical behaviour."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from drift import statistics as drift_statistics
from drift.statistics import (
    INSUFFICIENT,
    OK,
    CategoricalReference,
    FeatureDrift,
    NumericReference,
    categorical_drift_compute,
    categorical_reference_prepare,
    drift_flags_decide,
    numeric_drift_compute,
    numeric_reference_prepare,
    p_values_correct,
    prediction_drift_compute,
)

# ---------------------------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------------------------


def finite(values: np.ndarray) -> np.ndarray:
    """The finite values of a 1-D array."""
    return values[np.isfinite(values)]


def numeric_run(reference: np.ndarray, window: np.ndarray, test: str, min_samples: int = 1) -> list[FeatureDrift]:
    """Prepare a numeric reference from [rows, features] and compare a window with one test on every feature."""
    names = [f"f{j}" for j in range(reference.shape[1])]
    prepared = numeric_reference_prepare(names=names, values=reference)
    return numeric_drift_compute(
        reference=prepared, window=window, tests=[test] * reference.shape[1], min_samples=min_samples
    )


def contingency_table(reference_codes: np.ndarray, window_codes: np.ndarray, size: int) -> np.ndarray:
    """2 x k table of known codes 0..size-1 plus one column for unseen codes, all-zero columns dropped."""

    def row(codes: np.ndarray) -> np.ndarray:
        present = codes[~np.isnan(codes)]
        known = (present >= 0) & (present < size) & (present == np.floor(present))
        return np.append(np.bincount(present[known].astype(int), minlength=size), np.count_nonzero(~known))

    table = np.stack([row(reference_codes), row(window_codes)])
    return table[:, table.sum(axis=0) > 0]


def numbers_in(result: FeatureDrift) -> list[float]:
    """Every number a FeatureDrift carries, summaries included."""
    numbers: list[Any] = [result.score, result.statistic, result.p_value, result.missing_share]
    for summary in (result.reference_summary, result.current_summary):
        for value in summary.values():
            numbers.extend(value.values() if isinstance(value, dict) else [value])
    return [float(number) for number in numbers if number is not None]


def assert_all_finite(results: list[FeatureDrift]) -> None:
    """No NaN or infinity anywhere in the results."""
    for result in results:
        assert all(math.isfinite(number) for number in numbers_in(result)), result


# ---------------------------------------------------------------------------------------------------------------
# Agreement with scipy
# ---------------------------------------------------------------------------------------------------------------


def ks_case(rng: np.random.Generator, case: int) -> tuple[np.ndarray, np.ndarray]:
    """One randomized two-sample case; the kind cycles through ties, tiny windows, missing values and constants."""
    kind = case % 8
    n1 = int(rng.integers(20, 3000))
    n2 = int(rng.integers(1, 11)) if kind == 3 else int(rng.integers(20, 3000))
    shift = float(rng.choice([0.0, 0.05, 0.3]))
    if kind == 0:
        return rng.normal(size=n1), rng.normal(shift, 1.0, n2)
    if kind == 1:  # integer-valued: heavy ties inside and across the samples
        return rng.poisson(3.0, n1).astype(float), rng.poisson(3.0 + 3 * shift, n2).astype(float)
    if kind == 2:  # rounded: ties; at two decimals more unique values than the unpruned path takes
        decimals = int(rng.integers(1, 3))
        return np.round(rng.normal(size=n1), decimals), np.round(rng.normal(shift, 1.0, n2), decimals)
    if kind == 3:  # tiny window
        return rng.normal(size=n1), rng.normal(shift, 1.0, n2)
    if kind == 4:  # NaN and +-inf mixed into both sides
        a, b = rng.exponential(size=n1), rng.exponential(1.0 + shift, n2)
        for values in (a, b):
            values[rng.random(values.size) < 0.1] = rng.choice([np.nan, np.inf, -np.inf])
        return a, b
    if kind == 5:  # constant reference
        return np.full(n1, 2.0), rng.choice([2.0, 3.0], n2)
    if kind == 6:  # constant on both sides
        return np.full(n1, 1.5), np.full(n2, 1.5 + (shift > 0))
    # very unequal sizes
    return rng.normal(size=int(rng.integers(5000, 20000))), rng.normal(shift, 1.0, int(rng.integers(2, 60)))


def test_ks_agrees_with_scipy_on_randomized_cases() -> None:
    """D equals ks_2samp's statistic to 1e-12 and p its method="asymp" p-value to 1e-9, ties and missing included."""
    rng = np.random.default_rng(20240611)
    for case in range(56):
        # given
        reference, window = ks_case(rng, case)
        # when
        (result,) = numeric_run(reference[:, None], window[:, None], "ks")
        # then
        expected = stats.ks_2samp(finite(reference), finite(window), method="asymp")
        assert result.status == OK, (case, result.message)
        assert result.statistic == pytest.approx(expected.statistic, abs=1e-12), case
        assert result.score == pytest.approx(expected.statistic, abs=1e-12), case
        assert math.isfinite(result.p_value)
        if math.isfinite(expected.pvalue):  # scipy answers NaN for one value against one value
            assert result.p_value == pytest.approx(expected.pvalue, abs=1e-9), case
        assert result.reference_size == finite(reference).size
        assert result.window_size == finite(window).size


def test_ks_agrees_with_scipy_on_large_drifted_windows_in_one_call() -> None:
    """Many large features in one call (threaded sort, pruned search, every p-value branch) all match scipy."""
    # given: shifts from none to strong put p-values in every branch of kstwo.sf (Pelz-Good, exact Smirnov, 0)
    rng = np.random.default_rng(7)
    shifts = [0.0, 0.0, 0.004, 0.01, 0.02, 0.04, 0.08, 0.2, 1.0, 0.0]
    reference = np.column_stack([rng.normal(size=30_000) for _ in shifts])
    reference[:, -1] = np.round(reference[:, -1], 2)
    window = np.column_stack([rng.normal(shift, 1.0, 25_000) for shift in shifts])
    window[rng.random(window.shape) < 0.01] = np.nan
    # when
    results = numeric_run(reference, window, "ks")
    # then
    for j, result in enumerate(results):
        expected = stats.ks_2samp(finite(reference[:, j]), finite(window[:, j]), method="asymp")
        assert result.statistic == pytest.approx(expected.statistic, abs=1e-12), j
        assert result.p_value == pytest.approx(expected.pvalue, abs=1e-9), j


@pytest.mark.parametrize("n", [1, 2, 7, 60, 140, 141, 1_000, 25_000, 100_000, 100_001, 2_000_000])
def test_kstwo_survival_matches_scipy_in_every_branch(n: int) -> None:
    """The vectorized kstwo.sf equals scipy's for D across the whole range, for small, large and huge n."""
    # given: D values that cross every branch of scipy's _kolmogn for this n
    z = np.array(
        [0.0, 0.01, 0.1, 0.2, 0.22, 0.25, 0.3, 0.6, 0.86, 1.0, 1.3, 1.48, 1.5, 2.0, 3.0, 5.0, 13.0, 19.0, 30.0]
    )
    d = np.unique(np.clip(np.concatenate([z / math.sqrt(n), [0.3, 0.49, 0.5, 0.7, 0.999, 1.0]]), 0.0, 1.0))
    # when
    ours = drift_statistics._kstwo_sf(d, np.full(d.size, float(n)))
    # then
    np.testing.assert_allclose(ours, stats.kstwo.sf(d, n), rtol=0, atol=1e-9)


def test_chi2_agrees_with_chi2_contingency() -> None:
    """Statistic and p-value equal chi2_contingency on the 2 x k table: Yates at dof 1, unseen and one-sided codes."""
    rng = np.random.default_rng(3)
    for case in range(40):
        # given
        size = int(rng.choice([1, 2, 3, 5, 12]))
        reference_codes = rng.integers(0, size, int(rng.integers(30, 3000))).astype(float)
        window_codes = rng.integers(0, size + 1, int(rng.integers(30, 3000))).astype(float)  # code `size` is unseen
        if case % 4 == 1:  # a category present only in the window, one only in the reference
            reference_codes[reference_codes == size - 1] = 0
        if case % 4 == 2:  # unseen codes on the reference side too, and missing values
            reference_codes[rng.random(reference_codes.size) < 0.05] = -3
            window_codes[rng.random(window_codes.size) < 0.05] = np.nan
        if case % 4 == 3:  # non-integer codes are unseen as well
            window_codes[rng.random(window_codes.size) < 0.05] = 0.5
        categories = [f"c{i}" for i in range(size)]
        reference = categorical_reference_prepare(names=["x"], categories=[categories], codes=reference_codes[:, None])
        # when
        (result,) = categorical_drift_compute(
            reference=reference, window=window_codes[:, None], tests=["chi2"], min_samples=1
        )
        # then
        table = contingency_table(reference_codes, window_codes, size)
        assert result.status == OK
        if table.shape[1] < 2:
            assert (result.statistic, result.p_value, result.score) == (0.0, 1.0, 0.0)
            continue
        expected = stats.chi2_contingency(table)
        assert result.statistic == pytest.approx(expected.statistic, rel=1e-9, abs=1e-12), case
        assert result.p_value == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-12), case
        assert result.score == pytest.approx(math.sqrt(expected.statistic / table.sum()), rel=1e-9), case
        assert 0.0 <= result.score <= 1.0


def test_categorical_jensenshannon_agrees_with_scipy() -> None:
    """Categorical JS distance equals scipy's jensenshannon(base=2) over categories plus the unseen bucket."""
    rng = np.random.default_rng(4)
    for _ in range(10):
        # given
        size = int(rng.integers(2, 15))
        reference_codes = rng.integers(0, size, 2000).astype(float)
        window_codes = rng.integers(0, size + 2, 1500).astype(float)
        reference = categorical_reference_prepare(
            names=["x"], categories=[[str(i) for i in range(size)]], codes=reference_codes[:, None]
        )
        # when
        (result,) = categorical_drift_compute(
            reference=reference, window=window_codes[:, None], tests=["jensenshannon"], min_samples=1
        )
        # then
        table = contingency_table(reference_codes, window_codes, size)
        assert result.score == pytest.approx(jensenshannon(table[0], table[1], base=2), abs=1e-12)
        assert result.p_value is None


def decile_histograms(reference: np.ndarray, window: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Counts of both samples in the bins cut at the reference's deduplicated deciles (outer bins open)."""
    edges = np.unique(np.quantile(reference, np.linspace(0.1, 0.9, 9)))
    bins = len(edges) + 1
    reference_bins = np.bincount(np.searchsorted(edges, reference, side="right"), minlength=bins)
    window_bins = np.bincount(np.searchsorted(edges, window, side="right"), minlength=bins)
    return reference_bins, window_bins


def test_numeric_jensenshannon_and_psi_agree_with_decile_bins() -> None:
    """JS equals scipy's jensenshannon(base=2) and PSI the epsilon formula, on reference decile bins."""
    rng = np.random.default_rng(5)
    for case in range(12):
        # given: continuous, tied and out-of-range windows
        reference = rng.normal(size=3000) if case % 3 else rng.poisson(2.0, 3000).astype(float)
        window = rng.normal(rng.uniform(-1, 1), rng.uniform(0.5, 3), 2000) if case % 3 else rng.poisson(3.0, 800)
        window = np.asarray(window, dtype=float)
        # when
        js, psi = (numeric_run(reference[:, None], window[:, None], test)[0] for test in ("jensenshannon", "psi"))
        # then
        reference_bins, window_bins = decile_histograms(reference, window)
        assert js.score == pytest.approx(jensenshannon(reference_bins, window_bins, base=2), abs=1e-12)
        p = np.where(reference_bins == 0, 1e-4, reference_bins / reference_bins.sum())
        q = np.where(window_bins == 0, 1e-4, window_bins / window_bins.sum())
        assert psi.score == pytest.approx(float(np.sum((q - p) * np.log(q / p))), rel=1e-12, abs=1e-15)
        assert js.p_value is None and psi.p_value is None


def test_wasserstein_agrees_with_scipy_scaled_by_reference_std() -> None:
    """The score is scipy's wasserstein_distance divided by the reference's population standard deviation."""
    rng = np.random.default_rng(6)
    for case in range(10):
        # given
        reference = rng.gamma(2.0, 1.5, int(rng.integers(50, 4000)))
        window = rng.gamma(2.0, rng.uniform(1.0, 2.5), int(rng.integers(50, 4000)))
        if case % 2:
            reference, window = np.round(reference), np.round(window)
            window[::7] = np.nan
        # when
        (result,) = numeric_run(reference[:, None], window[:, None], "wasserstein")
        # then
        expected = stats.wasserstein_distance(reference, finite(window)) / np.std(reference)
        assert result.score == pytest.approx(expected, rel=1e-9)
        assert result.statistic == result.score


def test_wasserstein_on_constant_reference_is_defined() -> None:
    """A constant reference scores 0 for the same constant, W / window std for a spread, W / |constant| otherwise."""
    # given
    reference = np.full((500, 3), 4.0)
    window = np.column_stack([np.full(300, 4.0), np.full(300, 5.0), np.tile([3.0, 5.0], 150)])
    # when
    same, other_constant, spread = numeric_run(reference, window, "wasserstein")
    # then
    assert same.score == 0.0
    assert other_constant.score == pytest.approx(1.0 / 5.0)
    assert spread.score == pytest.approx(1.0 / 1.0)
    assert_all_finite([same, other_constant, spread])


# ---------------------------------------------------------------------------------------------------------------
# Edge cases
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("test", drift_statistics.NUMERIC_TESTS)
def test_numeric_edge_cases_are_insufficient_or_finite(test: str) -> None:
    """All-missing, constant, empty and too-small windows never raise and never produce NaN."""
    rng = np.random.default_rng(8)
    # given: features = normal, constant, all missing in the window, few values in the window
    reference = np.column_stack([rng.normal(size=400), np.full(400, 3.0), rng.normal(size=400), rng.normal(size=400)])
    window = np.column_stack([rng.normal(size=200), np.full(200, 3.0), np.full(200, np.nan), np.full(200, np.inf)])
    window[:12, 3] = rng.normal(size=12)
    # when
    normal, constant, all_missing, few = numeric_run(reference, window, test, min_samples=100)
    empty = numeric_run(reference, np.empty((0, 4)), test, min_samples=100)
    # then
    assert normal.status == OK and constant.status == OK
    assert constant.score == 0.0
    assert all_missing.status == INSUFFICIENT and all_missing.score is None and all_missing.missing_share == 1.0
    assert all_missing.message == "window has 0 non-missing values, minimum is 100"
    assert few.status == INSUFFICIENT and few.message == "window has 12 non-missing values, minimum is 100"
    assert few.missing_share == pytest.approx(188 / 200)
    assert all(r.status == INSUFFICIENT and r.missing_share == 0.0 and r.window_size == 0 for r in empty)
    assert all(r.current_summary["mean"] is None for r in empty)
    assert_all_finite([normal, constant, all_missing, few, *empty])


def test_reference_with_too_few_values_is_insufficient() -> None:
    """A feature whose reference has fewer non-missing values than min_samples is not tested."""
    # given
    reference = np.column_stack([np.r_[np.arange(5.0), np.full(95, np.nan)], np.full(100, np.nan)])
    window = np.arange(200.0).reshape(100, 2)
    # when
    results = numeric_run(reference, window, "ks", min_samples=10)
    # then
    assert [r.message for r in results] == [
        "reference has 5 non-missing values, minimum is 10",
        "reference has 0 non-missing values, minimum is 10",
    ]
    assert results[1].reference_summary["mean"] is None
    assert results[1].reference_summary["missing_share"] == 1.0
    assert_all_finite(results)


def test_categorical_edge_cases_are_insufficient_or_defined() -> None:
    """Single-category, all-missing and too-small categorical windows give a defined result, never NaN."""
    # given: single category on both sides, all missing in the window, a tiny window
    reference_codes = np.column_stack([np.zeros(300), np.zeros(300), np.tile([0.0, 1.0], 150)])
    window_codes = np.column_stack([np.zeros(200), np.full(200, np.nan), np.full(200, np.nan)])
    window_codes[:3, 2] = [0, 1, 7]
    reference = categorical_reference_prepare(
        names=["single", "missing", "tiny"], categories=[["a"], ["a"], ["a", "b"]], codes=reference_codes
    )
    # when
    results = categorical_drift_compute(
        reference=reference, window=window_codes, tests=["chi2", "chi2", "jensenshannon"], min_samples=5
    )
    empty = categorical_drift_compute(reference=reference, window=np.empty((0, 3)), tests=["chi2"] * 3, min_samples=5)
    # then
    single, missing, tiny = results
    assert (single.status, single.score, single.statistic, single.p_value) == (OK, 0.0, 0.0, 1.0)
    assert missing.status == INSUFFICIENT and missing.missing_share == 1.0
    assert tiny.status == INSUFFICIENT and tiny.message == "window has 3 non-missing values, minimum is 5"
    assert tiny.current_summary["shares"] == {"a": 1 / 3, "b": 1 / 3, "<unseen>": 1 / 3}
    assert all(r.status == INSUFFICIENT and r.missing_share == 0.0 for r in empty)
    assert_all_finite(results + empty)


def test_prediction_drift_matches_scipy_and_handles_a_single_class() -> None:
    """Prediction drift is JS(base 2) and chi2_contingency of class counts; a single class scores 0 with p 1."""
    rng = np.random.default_rng(9)
    # given
    labels = ["setosa", "versicolor", "virginica"]
    reference_counts = np.array([500, 300, 200])
    window_classes = rng.choice(3, 800, p=[0.3, 0.3, 0.4])
    # when
    drift = prediction_drift_compute(
        class_labels=labels, reference_counts=reference_counts, window_classes=window_classes, min_samples=50
    )
    single = prediction_drift_compute(
        class_labels=["only"], reference_counts=np.array([80]), window_classes=np.zeros(60, dtype=int), min_samples=50
    )
    small = prediction_drift_compute(
        class_labels=labels, reference_counts=reference_counts, window_classes=np.array([0, 1]), min_samples=50
    )
    # then
    window_counts = np.bincount(window_classes, minlength=3)
    expected = stats.chi2_contingency(np.stack([reference_counts, window_counts]))
    assert drift.status == OK
    assert drift.chi2_statistic == pytest.approx(expected.statistic, rel=1e-9)
    assert drift.p_value == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-15)
    assert drift.score == pytest.approx(jensenshannon(reference_counts, window_counts, base=2), abs=1e-12)
    assert drift.current_distribution == pytest.approx(dict(zip(labels, window_counts / 800, strict=True)))
    assert (single.status, single.score, single.chi2_statistic, single.p_value) == (OK, 0.0, 0.0, 1.0)
    assert small.status == INSUFFICIENT and small.score is None and small.window_size == 2
    assert small.message == "window has 2 non-missing values, minimum is 50"


def test_prediction_drift_counts_unknown_class_indices() -> None:
    """Class indices outside the label list are kept in an "<unknown>" bucket instead of being dropped."""
    # when
    drift = prediction_drift_compute(
        class_labels=["no", "yes"],
        reference_counts=np.array([50, 50]),
        window_classes=np.array([0] * 40 + [1] * 40 + [5] * 20),
        min_samples=10,
    )
    # then
    assert drift.current_distribution == {"no": 0.4, "yes": 0.4, "<unknown>": 0.2}
    assert drift.reference_distribution == {"no": 0.5, "yes": 0.5}
    assert drift.score > 0.0 and drift.p_value < 1e-3


def test_inputs_of_the_wrong_shape_or_test_are_rejected() -> None:
    """Programming errors (column count, test names) raise ValueError rather than producing results."""
    # given
    reference = numeric_reference_prepare(names=["a", "b"], values=np.zeros((10, 2)))
    # then
    with pytest.raises(ValueError, match="shape"):
        numeric_drift_compute(reference=reference, window=np.zeros((5, 3)), tests=["ks", "ks"], min_samples=1)
    with pytest.raises(ValueError, match="unknown tests"):
        numeric_drift_compute(reference=reference, window=np.zeros((5, 2)), tests=["ks", "chi2"], min_samples=1)
    with pytest.raises(ValueError, match="entries"):
        numeric_drift_compute(reference=reference, window=np.zeros((5, 2)), tests=["ks"], min_samples=1)


# ---------------------------------------------------------------------------------------------------------------
# Serialization
# ---------------------------------------------------------------------------------------------------------------


def test_numeric_reference_round_trips_through_bytes() -> None:
    """to_bytes/from_bytes restores every array and gives identical drift results."""
    rng = np.random.default_rng(10)
    # given: continuous, tied, partly missing and all-missing features
    values = np.column_stack(
        [
            rng.normal(size=2000),
            rng.poisson(3, 2000),
            np.where(rng.random(2000) < 0.3, np.nan, 1.0),
            np.full(2000, np.nan),
        ]
    )
    reference = numeric_reference_prepare(names=["a", "b", "c", "d"], values=values)
    window = rng.normal(size=(700, 4))
    # when
    blob = reference.to_bytes()
    restored = NumericReference.from_bytes(blob)
    # then
    assert restored.names == reference.names and restored.row_count == reference.row_count
    for name in ("values", "cumulative_counts", "offsets", "missing_counts", "bin_edges", "bin_counts", "summaries"):
        np.testing.assert_array_equal(getattr(restored, name), getattr(reference, name), err_msg=name)
    for test in drift_statistics.NUMERIC_TESTS:
        before = numeric_drift_compute(reference=reference, window=window, tests=[test] * 4, min_samples=1)
        after = numeric_drift_compute(reference=restored, window=window, tests=[test] * 4, min_samples=1)
        assert before == after
    assert restored.summary(2)["missing_share"] == pytest.approx(np.isnan(values[:, 2]).mean())
    with pytest.raises(ValueError, match="categorical"):
        CategoricalReference.from_bytes(blob)


def test_categorical_reference_round_trips_through_bytes() -> None:
    """to_bytes/from_bytes restores names, categories (including empty and unicode ones) and counts."""
    # given
    codes = np.array([[0, 1], [1, np.nan], [2, 0], [np.nan, 9]], dtype=float)
    reference = categorical_reference_prepare(
        names=["colour", "größe"], categories=[["red", "", "grün"], ["S"]], codes=codes
    )
    # when
    restored = CategoricalReference.from_bytes(reference.to_bytes())
    # then
    assert restored.names == ("colour", "größe")
    assert restored.categories == (("red", "", "grün"), ("S",))
    np.testing.assert_array_equal(restored.counts, reference.counts)
    np.testing.assert_array_equal(restored.missing_counts, [1, 1])
    assert restored.summary(1) == {"count": 3, "missing_share": 0.25, "shares": {"S": 1 / 3, "<unseen>": 2 / 3}}


def test_reference_subsets_match_references_prepared_from_those_columns() -> None:
    """subset(indices) of a prepared reference equals preparing only those columns, for both reference kinds."""
    rng = np.random.default_rng(13)
    # given
    values = np.column_stack([rng.normal(size=500), rng.poisson(2, 500), np.full(500, np.nan)])
    codes = np.column_stack([rng.integers(0, 3, 500), rng.integers(0, 5, 500)]).astype(float)
    numeric = numeric_reference_prepare(names=["a", "b", "c"], values=values)
    categorical = categorical_reference_prepare(names=["x", "y"], categories=[list("pqr"), list("stuvw")], codes=codes)
    # when
    numeric_subset = numeric.subset([2, 0])
    categorical_subset = categorical.subset([1])
    # then
    window = rng.normal(size=(300, 2))
    expected = numeric_reference_prepare(names=["c", "a"], values=values[:, [2, 0]])
    assert numeric_drift_compute(reference=numeric_subset, window=window, tests=["ks", "psi"], min_samples=1) == (
        numeric_drift_compute(reference=expected, window=window, tests=["ks", "psi"], min_samples=1)
    )
    window_codes = rng.integers(0, 6, (300, 1)).astype(float)
    expected_categorical = categorical_reference_prepare(names=["y"], categories=[list("stuvw")], codes=codes[:, [1]])
    assert categorical_drift_compute(
        reference=categorical_subset, window=window_codes, tests=["chi2"], min_samples=1
    ) == categorical_drift_compute(reference=expected_categorical, window=window_codes, tests=["chi2"], min_samples=1)


# ---------------------------------------------------------------------------------------------------------------
# Decisions
# ---------------------------------------------------------------------------------------------------------------


def test_benjamini_hochberg_matches_a_hand_computed_example() -> None:
    """BH adjusted p-values are the step-up minima of p * m / rank, clipped at 1, in input order; NaN passes."""
    # given: m = 5 p-values; by rank: 0.01*5/1=0.05, 0.02*5/2=0.05, 0.03*5/3=0.05, 0.04*5/4=0.05, 0.5*5/5=0.5
    p = np.array([0.04, 0.01, np.nan, 0.5, 0.03, 0.02])
    # when
    adjusted = p_values_correct(p_values=p, method="bh")
    # then
    np.testing.assert_allclose(adjusted, [0.05, 0.05, np.nan, 0.5, 0.05, 0.05])
    rng = np.random.default_rng(11)
    random_p = rng.random(30) ** 3
    np.testing.assert_allclose(
        p_values_correct(p_values=random_p, method="bh"), stats.false_discovery_control(random_p)
    )


def test_bonferroni_and_no_correction() -> None:
    """Bonferroni multiplies by the number of p-values present and clips at 1; "none" leaves them alone."""
    # given
    p = np.array([0.01, np.nan, 0.2, 0.6])
    # then
    np.testing.assert_allclose(p_values_correct(p_values=p, method="bonferroni"), [0.03, np.nan, 0.6, 1.0])
    np.testing.assert_array_equal(p_values_correct(p_values=p, method="none"), p)
    with pytest.raises(ValueError, match="unknown correction"):
        p_values_correct(p_values=p, method="holm")


def decide(**overrides: Any) -> list[bool]:
    """drift_flags_decide on a fixed 5-feature example, with keyword overrides."""
    arguments: dict[str, Any] = {
        # feature: 0 drifted on both halves, 1 high score / large p, 2 low score / small p,
        # 3 no p-value (e.g. PSI) with a high score, 4 insufficient (no score)
        "scores": np.array([0.5, 0.5, 0.05, 0.5, np.nan]),
        "p_values": np.array([0.001, 0.4, 0.001, np.nan, 0.001]),
        "thresholds": np.array([0.1, 0.1, 0.1, 0.1, 0.1]),
        "alpha": 0.05,
        "correction": "bonferroni",
        "use_threshold": True,
        "use_p_value": True,
    }
    arguments.update(overrides)
    return drift_flags_decide(**arguments).tolist()


def test_drift_flags_combine_threshold_and_p_value_halves() -> None:
    """Drifted = score above threshold and corrected p below alpha; a missing p-value skips its half."""
    # then: both halves
    assert decide() == [True, False, False, True, False]
    # only the threshold
    assert decide(use_p_value=False) == [True, True, False, True, False]
    # only the p-value: a feature without a p-value has no half left and is not flagged
    assert decide(use_threshold=False) == [True, False, True, False, False]
    # neither: nothing drifts
    assert decide(use_threshold=False, use_p_value=False) == [False] * 5


def test_drift_flags_correct_across_features_that_have_a_p_value() -> None:
    """The correction counts only tested features with a p-value (here 3), not PSI or insufficient ones."""
    # given: 0.02 * 3 = 0.06 > 0.05 under Bonferroni, but BH gives 0.02 * 3 / 2 = 0.03 for the second rank
    scores = np.array([0.5, 0.5, 0.5, 0.5, np.nan])
    p_values = np.array([0.01, 0.02, 0.9, np.nan, 0.0])
    # then
    assert decide(scores=scores, p_values=p_values) == [True, False, False, True, False]
    assert decide(scores=scores, p_values=p_values, correction="bh") == [True, True, False, True, False]
    assert decide(scores=scores, p_values=p_values, correction="none") == [True, True, False, True, False]


# ---------------------------------------------------------------------------------------------------------------
# Statistical behaviour at the default settings (KS, threshold 0.15, alpha 0.05, Bonferroni, both halves)
# ---------------------------------------------------------------------------------------------------------------

DEFAULT_THRESHOLD = 0.15
DEFAULT_ALPHA = 0.05


def four_features(rng: np.random.Generator, rows: int, shift: float = 0.0) -> np.ndarray:
    """Four fixed continuous distributions; `shift` moves the first (standard normal) one, in standard deviations."""
    return np.column_stack(
        [
            rng.normal(shift, 1.0, rows),
            rng.lognormal(0.0, 0.5, rows),
            rng.exponential(2.0, rows),
            rng.uniform(-1, 1, rows),
        ]
    )


def default_flags(reference: NumericReference, window: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drift flags and raw p-values of a window at the default settings."""
    results = numeric_drift_compute(reference=reference, window=window, tests=["ks"] * 4, min_samples=30)
    p_values = np.array([r.p_value for r in results], dtype=float)
    flags = drift_flags_decide(
        scores=np.array([r.score for r in results], dtype=float),
        p_values=p_values,
        thresholds=np.full(4, DEFAULT_THRESHOLD),
        alpha=DEFAULT_ALPHA,
        correction="bonferroni",
        use_threshold=True,
        use_p_value=True,
    )
    return flags, p_values


@pytest.mark.parametrize(("rows", "runs"), [(100, 1000), (1_000, 400), (10_000, 200), (100_000, 60)])
def test_windows_from_the_reference_distribution_rarely_flag(rows: int, runs: int) -> None:
    """At default settings, windows drawn from the reference distribution flag any feature in <= 5% of runs.

    Flagging needs D > 0.15 and a Bonferroni-corrected p < 0.05 (p < 0.0125 per feature). At 100 rows the
    p-value half binds (p < 0.0125 already needs D > 0.159) and Bonferroni is nearly exact for 4 independent
    KS tests, so the expected share is 1 - (1 - 0.0125)^4 = 4.9%: a finite number of runs lands above 5% about
    as often as below. The assertion there is that the count is consistent with a rate <= 5% (at most the 99.9%
    binomial quantile, 73 of 1,000 runs, which a rate of 10%, e.g. a missing correction, exceeds with near
    certainty), plus the per-test size of the p-values (1.25% of tests at 0.0125). That size check only holds
    while the window's own noise dominates (n_eff ~ 98 against a 5,000-row reference): every run reuses one
    reference sample, and for large windows the p-values reflect that sample's fixed deviation, not a fresh
    draw. From 1,000 rows on the threshold binds: the 95% point of D is 1.36 / sqrt(n_eff) <= 0.05 and
    P(D > 0.15) ~ 2 exp(-2 * 0.15^2 * n_eff) < 1e-15, so the expected share is ~0 and a few hundred runs (60 at
    100,000 rows, to keep the runtime low) show it with the literal bound.
    """
    rng = np.random.default_rng(rows)
    reference = numeric_reference_prepare(names=list("abcd"), values=four_features(rng, 5_000))
    flagged_runs = 0
    small_p = 0
    for _ in range(runs):
        # given
        window = four_features(rng, rows)
        # when
        flags, p_values = default_flags(reference, window)
        flagged_runs += bool(flags.any())
        small_p += int(np.sum(p_values < DEFAULT_ALPHA / 4))
    # then
    assert flagged_runs <= stats.binom.ppf(0.999, runs, 0.05), flagged_runs / runs
    if rows == 100:
        assert small_p <= stats.binom.ppf(0.999, 4 * runs, DEFAULT_ALPHA / 4), small_p / (4 * runs)
    else:
        assert flagged_runs / runs <= 0.05


def test_half_a_standard_deviation_shift_is_flagged_alone() -> None:
    """A 0.5 sd shift of the normal feature at 1,000 rows is flagged in >= 99% of runs, nearly always alone.

    The shift moves the normal CDF by up to Phi(0.25) - Phi(-0.25) = 0.197, above the 0.15 threshold by about
    three standard deviations of D at n_eff ~ 833, and its p-value is far below 0.0125; 300 runs tell 99% from
    the ~99.9% expected. The other features are unshifted and, at 1,000 rows, essentially never pass 0.15.
    """
    rng = np.random.default_rng(12)
    reference = numeric_reference_prepare(names=list("abcd"), values=four_features(rng, 5_000))
    runs = 300
    shifted_flagged = 0
    only_shifted = 0
    for _ in range(runs):
        # given
        window = four_features(rng, 1_000, shift=0.5)
        # when
        flags, _ = default_flags(reference, window)
        # then (counted)
        shifted_flagged += bool(flags[0])
        only_shifted += flags.tolist() == [True, False, False, False]
    assert shifted_flagged / runs >= 0.99
    assert only_shifted / runs >= 0.98
