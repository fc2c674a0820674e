"""Chart data stored with each numeric result: the agreed format, counts and ECDF values that match the data, outliers
that do not squash the bins, and a few KB per feature."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from scipy import stats

from drift.statistics import CHART_BINS, ECDF_POINTS

NUMERIC_KEYS = {
    "kind",
    "edges",
    "reference_counts",
    "current_counts",
    "reference_below",
    "reference_above",
    "current_below",
    "current_above",
    "ecdf",
    "ks",
}


def chart_case(rng: np.random.Generator, case: int) -> tuple[np.ndarray, np.ndarray]:
    """A reference and a window: continuous, shifted, discrete, tied, heavy-tailed, extreme, tiny, constant."""
    kind = case % 8
    n1, n2 = int(rng.integers(30, 3000)), int(rng.integers(30, 3000))
    if kind == 0:
        return rng.normal(size=n1), rng.normal(rng.uniform(-0.5, 0.5), 1.0, n2)
    if kind == 1:
        return rng.normal(size=n1), rng.normal(8.0, 0.5, n2)
    if kind == 2:
        return rng.poisson(2.0, n1).astype(float), rng.poisson(5.0, n2).astype(float)
    if kind == 3:
        return np.round(rng.lognormal(0.0, 1.0, n1), 1), np.round(rng.lognormal(0.2, 1.0, n2), 1)
    if kind == 4:
        return rng.standard_cauchy(n1), rng.standard_cauchy(n2) * 2
    if kind == 5:
        reference, window = rng.normal(size=n1), rng.normal(size=n2)
        window[rng.random(n2) < 0.01] = rng.choice([1e200, -1.5e306, 1.7976931348623157e308])
        return reference, window
    if kind == 6:
        return rng.normal(size=n1), rng.normal(size=int(rng.integers(1, 4)))
    return np.full(n1, 3.0), rng.choice([3.0, 4.0], n2)


def check_side(chart: dict[str, Any], side: str, values: np.ndarray) -> None:
    """Bin counts, below/above and ECDF values of one side agree with counting the data directly."""
    edges = np.array(chart["edges"])
    counts = chart[f"{side}_counts"]
    assert all(isinstance(count, int) for count in counts)
    # bin 0 is [e_0, e_1], bin i is (e_i, e_(i+1)]
    expected = [np.count_nonzero((values > lo) & (values <= hi)) for lo, hi in itertools.pairwise(edges)]
    expected[0] += np.count_nonzero(values == edges[0])
    assert counts == expected
    assert chart[f"{side}_below"] == np.count_nonzero(values < edges[0])
    assert chart[f"{side}_above"] == np.count_nonzero(values > edges[-1])
    x = np.array(chart["ecdf"]["x"])
    ecdf = [np.count_nonzero(values <= point) / values.size for point in x]
    assert chart["ecdf"][side] == np.round(ecdf, 4).tolist()  # 4 decimals


def test_numeric_charts_follow_the_format_and_count_the_data(numeric_run: Callable[..., Any]) -> None:
    """Edges are at most 41 finite ascending floats, every count matches the data, the ECDF holds at most 101
    points with both sides' values, ks is the largest ECDF gap (as scipy finds it), and the chart is plain JSON."""
    rng = np.random.default_rng(77)
    for case in range(48):
        # given
        reference, window = chart_case(rng, case)
        test = ("ks", "psi", "wasserstein", "jensenshannon")[case % 4]
        # when
        (result,) = numeric_run(reference[:, None], window[:, None], test)
        chart = result.chart
        # then
        assert set(chart) == NUMERIC_KEYS and chart["kind"] == "numeric"
        assert json.loads(json.dumps(chart, allow_nan=False)) == chart
        edges = np.array(chart["edges"])
        assert 2 <= edges.size <= CHART_BINS + 1 and np.all(np.isfinite(edges)) and np.all(np.diff(edges) > 0)
        assert len(chart["reference_counts"]) == len(chart["current_counts"]) == edges.size - 1
        x = np.array(chart["ecdf"]["x"])
        assert 1 <= x.size <= ECDF_POINTS and np.all(np.diff(x) > 0) and np.all(np.isfinite(x))
        check_side(chart, "reference", reference)
        check_side(chart, "current", window)
        expected = stats.ks_2samp(reference, window, method="asymp")
        assert chart["ks"]["d"] == expected.statistic
        assert chart["ks"]["reference"] == np.count_nonzero(reference <= chart["ks"]["x"]) / reference.size
        assert chart["ks"]["current"] == np.count_nonzero(window <= chart["ks"]["x"]) / window.size
        assert len(json.dumps(chart)) < 4096, case


def test_a_flag_is_shown_with_one_bin_per_value(numeric_run: Callable[..., Any]) -> None:
    """A feature with few distinct values gets one bin per value, edges halfway between them, the ECDF at each."""
    # given
    reference = np.r_[np.zeros(950), np.ones(50)][:, None]
    window = np.r_[np.zeros(300), np.ones(300)][:, None]
    # when
    (result,) = numeric_run(reference, window, "psi")
    # then
    assert result.chart == {
        "kind": "numeric",
        "edges": [-0.5, 0.5, 1.5],
        "reference_counts": [950, 50],
        "current_counts": [300, 300],
        "reference_below": 0,
        "reference_above": 0,
        "current_below": 0,
        "current_above": 0,
        "ecdf": {"x": [0.0, 1.0], "reference": [0.95, 1.0], "current": [0.5, 1.0]},
        "ks": {"x": 0.0, "reference": 0.95, "current": 0.5, "d": pytest.approx(0.45)},
    }


def test_one_huge_value_does_not_squash_the_bins(numeric_run: Callable[..., Any]) -> None:
    """A single 1e200 in the window is counted above the last edge; the bins still cover the bulk finely."""
    # given
    rng = np.random.default_rng(4)
    reference = rng.normal(size=(200, 1))
    window = rng.normal(size=(300, 1))
    window[0, 0] = 1e200
    # when
    (result,) = numeric_run(reference, window, "ks")
    # then
    chart = result.chart
    assert chart["current_above"] == 1 and chart["reference_above"] == 0
    assert chart["edges"][-1] < 100.0 and len(chart["edges"]) == CHART_BINS + 1
    assert max(chart["reference_counts"]) < 20 and max(chart["current_counts"]) < 30


def test_both_distributions_are_visible_when_they_do_not_overlap(numeric_run: Callable[..., Any]) -> None:
    """Reference around 0 and window around 10: the bins cover both, each side's bulk falls inside the edges."""
    # given
    rng = np.random.default_rng(5)
    reference, window = rng.normal(0.0, 1.0, (5000, 1)), rng.normal(10.0, 0.1, (200, 1))
    # when
    (result,) = numeric_run(reference, window, "ks")
    # then
    chart = result.chart
    for side, size in (("reference", 5000), ("current", 200)):
        assert chart[f"{side}_below"] + chart[f"{side}_above"] <= 0.01 * size
        assert np.count_nonzero(chart[f"{side}_counts"]) >= 10
    assert chart["ks"]["d"] == 1.0


def test_a_side_without_values_has_zero_counts_and_no_ecdf(numeric_run: Callable[..., Any]) -> None:
    """All-missing reference, all-missing window, both: zero counts, empty ECDF lists, ks null, never NaN."""
    # given
    values = np.column_stack([np.full(50, np.nan), np.arange(50.0), np.full(50, np.nan)])
    window = np.column_stack([np.arange(20.0), np.full(20, np.inf), np.full(20, np.nan)])
    # when
    no_reference, no_window, neither = numeric_run(values, window, "ks")
    # then
    assert no_reference.chart["reference_counts"] == [0] * (len(no_reference.chart["edges"]) - 1)
    assert sum(no_reference.chart["current_counts"]) == 20
    assert no_reference.chart["ecdf"]["reference"] == [] and len(no_reference.chart["ecdf"]["current"]) > 0
    assert no_window.chart["current_counts"] == [0] * (len(no_window.chart["edges"]) - 1)
    assert no_window.chart["ecdf"]["current"] == [] and no_window.chart["current_below"] == 0
    assert no_reference.chart["ks"] is None and no_window.chart["ks"] is None
    assert neither.chart == {
        "kind": "numeric",
        "edges": [],
        "reference_counts": [],
        "current_counts": [],
        "reference_below": 0,
        "reference_above": 0,
        "current_below": 0,
        "current_above": 0,
        "ecdf": {"x": [], "reference": [], "current": []},
        "ks": None,
    }


def test_charts_of_a_hundred_wide_features_stay_under_4_kb_each(numeric_run: Callable[..., Any]) -> None:
    """On 100 features of 20,000 rows (continuous, skewed, counts, rounded, uniform) no chart reaches 4 KB of JSON."""
    # given
    rng = np.random.default_rng(11)
    draws = [
        lambda n: rng.normal(size=n),
        lambda n: rng.lognormal(0.0, 0.8, n),
        lambda n: rng.poisson(4.0, n).astype(float),
        lambda n: np.round(rng.normal(0.0, 2.0, n), 1),
        lambda n: rng.uniform(0.0, 1.0, n),
    ]
    reference = np.column_stack([draws[j % 5](20_000) for j in range(100)])
    window = np.column_stack([draws[j % 5](20_000) for j in range(100)])
    # when
    results = numeric_run(reference, window, "ks")
    # then
    sizes = [len(json.dumps(result.chart)) for result in results]
    assert max(sizes) < 4096, max(sizes)
