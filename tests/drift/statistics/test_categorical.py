"""Categorical drift: chi-squared and Jensen-Shannon equal scipy's on the 2 x k tables; unseen categories, charts."""

from __future__ import annotations

import json
import math
from collections.abc import Callable

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from drift.statistics import (
    INSUFFICIENT,
    OK,
    categorical_drift_compute,
    categorical_reference_prepare,
)


def contingency_table(reference_codes: np.ndarray, window_codes: np.ndarray, size: int) -> np.ndarray:
    """2 x k table of known codes 0..size-1 plus one column for unseen codes, all-zero columns dropped."""

    def row(codes: np.ndarray) -> np.ndarray:
        present = codes[~np.isnan(codes)]
        known = (present >= 0) & (present < size) & (present == np.floor(present))
        return np.append(np.bincount(present[known].astype(int), minlength=size), np.count_nonzero(~known))

    table = np.stack([row(reference_codes), row(window_codes)])
    return table[:, table.sum(axis=0) > 0]


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


def test_categorical_edge_cases_are_insufficient_or_defined(assert_all_finite: Callable[..., None]) -> None:
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


def test_unseen_category_share_counts_categories_the_reference_never_took(
    assert_all_finite: Callable[..., None],
) -> None:
    """unseen_category_share = window rows whose category has no reference row (a schema category absent from the
    reference, or a code outside the list) over all window rows; numeric-only shares stay 0."""
    # given: categories a, b, c; the reference never took c
    reference = categorical_reference_prepare(
        names=["x"], categories=[["a", "b", "c"]], codes=np.array([[0.0]] * 60 + [[1.0]] * 40)
    )
    window = np.array([0.0] * 50 + [1.0] * 20 + [2.0] * 15 + [7.0] * 5 + [np.nan] * 10)[:, None]
    # when
    (result,) = categorical_drift_compute(reference=reference, window=window, tests=["chi2"], min_samples=1)
    # then: 15 rows of c and 5 of an unknown code, out of 100 rows
    assert result.unseen_category_share == pytest.approx(0.2)
    assert result.out_of_range_share == 0.0
    assert result.missing_share == pytest.approx(0.1)
    assert_all_finite([result])


def test_categorical_chart_lists_the_counts_of_both_sides() -> None:
    """The chart holds each category's reference and window counts, plus "<unseen>" when either side has codes
    outside the category list; it is plain JSON."""
    # given
    reference = categorical_reference_prepare(
        names=["x", "y"],
        categories=[["red", "green"], ["s", "m", "l"]],
        codes=np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 2.0], [np.nan, 1.0]]),
    )
    window = np.array([[1.0, 2.0], [1.0, 2.0], [5.0, 0.0], [0.0, np.nan], [1.0, 1.0]])
    # when
    colour, size = categorical_drift_compute(
        reference=reference, window=window, tests=["jensenshannon", "chi2"], min_samples=1
    )
    # then
    assert colour.chart == {
        "kind": "categorical",
        "categories": ["red", "green", "<unseen>"],
        "reference_counts": [2, 1, 0],
        "current_counts": [1, 3, 1],
    }
    assert size.chart == {
        "kind": "categorical",
        "categories": ["s", "m", "l"],
        "reference_counts": [1, 2, 1],
        "current_counts": [1, 1, 2],
    }
    assert json.loads(json.dumps(size.chart, allow_nan=False)) == size.chart


def test_codes_of_any_float_value_count_as_unseen_or_missing() -> None:
    """Huge, negative, fractional and infinite codes are unseen categories, NaN is missing: nothing raises."""
    # given
    reference = categorical_reference_prepare(names=["x"], categories=[["a", "b"]], codes=np.array([[0.0], [1.0]]))
    codes = [1e200, -1.5e306, 1.7976931348623157e308, -1.0, 0.5, 2.0**63, np.inf, -np.inf, 2.0, np.nan, 0.0, 1.0]
    # when
    (result,) = categorical_drift_compute(
        reference=reference, window=np.array(codes)[:, None], tests=["chi2"], min_samples=1
    )
    # then
    assert result.chart["current_counts"] == [1, 1, 9]
    assert result.missing_share == pytest.approx(1 / 12)
    assert result.unseen_category_share == pytest.approx(9 / 12)
    assert result.status == OK and math.isfinite(result.score) and math.isfinite(result.p_value)
