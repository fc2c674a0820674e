"""PSI and Jensen-Shannon bins: no shift between distinct values hides, and both scores agree with an independent
computation on bins written out here (value bins, heavy values alone, equal-mass stretches, out-of-range bins)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon

from drift.statistics import (
    OK,
    PSI_EPSILON,
    FeatureDrift,
    NumericReference,
    numeric_drift_compute,
    numeric_reference_prepare,
)
from drift.statistics.binning import MAX_BIN_EDGES, reference_bin_edges

Predicate = Callable[[np.ndarray], np.ndarray]


def explicit_bins(reference: np.ndarray) -> list[Predicate]:
    """The bins the binned scores must use, written from their definition as membership tests on values.

    Below the reference minimum, above its maximum; with at most 20 distinct values one bin per value and one per
    open gap between neighbours; otherwise each value holding >= n / 10 of the reference alone, and the values
    between such heavy values cut into max(1, floor(10 m / n)) bins, each new bin starting at the smallest value x
    of the stretch with #(stretch values < x) >= j m / bins (between two neighbouring heavy values, the open gap
    is one bin).
    """
    values, counts = np.unique(reference, return_counts=True)
    low, high = values[0], values[-1]
    bins: list[Predicate] = [lambda x: x < low]
    if values.size <= 20:
        for i, v in enumerate(values):
            bins.append(lambda x, v=v: x == v)
            if i + 1 < values.size:
                bins.append(lambda x, a=v, b=values[i + 1]: (x > a) & (x < b))
        bins.append(lambda x: x > high)
        return bins
    n = reference.size
    heavy = [i for i, c in enumerate(counts) if c * 10 >= n]
    stretch_bounds = [-1, *heavy, values.size]
    for h_index, (start, stop) in enumerate(itertools.pairwise(stretch_bounds)):
        first, last = start + 1, stop  # the stretch is values[first:last]
        if last > first:
            mass = int(counts[first:last].sum())
            parts = max(1, (10 * mass) // n)
            cuts = []
            for j in range(1, parts):
                below = 0
                for i in range(first, last):
                    if below >= j * mass / parts:
                        cuts.append(values[i])
                        break
                    below += counts[i]
            # The stretch spans from just above the previous heavy value (or the minimum) to just below the next one
            # (or the maximum): consecutive bins [lower, cut) between those ends.
            lower_open = values[start] if start >= 0 else None
            upper_open = values[stop] if stop < values.size else None
            ends: list[float | None] = [None, *cuts, None]
            for a, b in itertools.pairwise(ends):
                bins.append(
                    lambda x, a=a, b=b, lo=lower_open, hi=upper_open: (
                        (x >= low if lo is None else x > lo)
                        & (x <= high if hi is None else x < hi)
                        & (True if a is None else x >= a)
                        & (True if b is None else x < b)
                    )
                )
        elif start >= 0 and stop < values.size:  # two neighbouring heavy values: the open gap between them
            bins.append(lambda x, a=values[start], b=values[stop]: (x > a) & (x < b))
        if h_index < len(heavy):
            bins.append(lambda x, v=values[heavy[h_index]]: x == v)
    bins.append(lambda x: x > high)
    return bins


def expected_scores(reference: np.ndarray, window: np.ndarray) -> tuple[float, float]:
    """(PSI, JS distance) on explicit_bins: PSI with natural log and empty shares set to 1e-4, JS from scipy."""
    bins = explicit_bins(reference)
    ref_counts = np.array([np.count_nonzero(member(reference)) for member in bins], dtype=float)
    window_counts = np.array([np.count_nonzero(member(window)) for member in bins], dtype=float)
    # The bins partition the real line: every value lands in exactly one.
    assert ref_counts.sum() == reference.size and window_counts.sum() == window.size
    p = ref_counts / ref_counts.sum()
    q = window_counts / window_counts.sum()
    p[p == 0] = 1e-4
    q[q == 0] = 1e-4
    return float(np.sum((q - p) * np.log(q / p))), float(jensenshannon(ref_counts, window_counts, base=2))


def binned_case(rng: np.random.Generator, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """A reference and a window of one kind of data."""
    n1, n2 = int(rng.integers(50, 3000)), int(rng.integers(20, 2000))
    if kind == "discrete":  # a flag, a count or codes: 1 to 25 distinct values, some unseen in the reference
        k = int(rng.integers(1, 26))
        shares = rng.dirichlet(np.full(k, 0.7))
        return rng.choice(k, n1, p=shares).astype(float), rng.choice(k + 2, n2).astype(float) - 1
    if kind == "tied":  # rounded values plus a heavy atom at 0 (zero-inflated)
        zero_share = float(rng.uniform(0.0, 0.7))
        reference = np.round(rng.normal(2.0, 1.0, n1), 1)
        reference[rng.random(n1) < zero_share] = 0.0
        window = np.round(rng.normal(2.0 + rng.uniform(-0.5, 0.5), 1.0, n2), 1)
        window[rng.random(n2) < rng.uniform(0.0, 0.7)] = 0.0
        return reference, window
    if kind == "constant":
        value = float(rng.choice([0.0, 5.0, -2.5, 1e12]))
        window = np.full(n2, value) if rng.random() < 0.3 else rng.choice([value, value + 1.0, value - 1.0], n2)
        return np.full(n1, value), window
    if kind == "heavy_tailed":
        draw = [rng.standard_cauchy, lambda size: rng.pareto(1.1, size), lambda size: rng.lognormal(0.0, 3.0, size)]
        sample = draw[int(rng.integers(0, 3))]
        return sample(size=n1), sample(size=n2) * float(rng.choice([1.0, 1.5]))
    if kind == "out_of_range":  # windows reaching past either end of the reference's range
        reference = rng.uniform(0.0, 1.0, n1)
        return reference, rng.uniform(-0.5, 1.5, n2) + float(rng.choice([0.0, 2.0, -2.0]))
    # extreme finite magnitudes, as the predict API accepts them
    extremes = np.array([1e308, -1e308, 1e200, -1.5e306, 1.7976931348623157e308, 5e-324, 0.0])
    reference, window = rng.normal(size=n1), rng.normal(size=n2)
    for sample, share in ((reference, 0.05), (window, 0.2)):
        chosen = rng.random(sample.size) < share
        sample[chosen] = rng.choice(extremes, int(chosen.sum()))
    return reference, window


KINDS = ["discrete", "tied", "constant", "heavy_tailed", "out_of_range", "extreme"]


@pytest.mark.parametrize("kind", KINDS)
def test_psi_and_jensenshannon_agree_with_explicit_bins(kind: str, numeric_run: Callable[..., Any]) -> None:
    """On randomized inputs of each kind, PSI and JS equal the independent computation on explicit_bins."""
    rng = np.random.default_rng(sum(map(ord, kind)))
    for case in range(15):
        # given
        reference, window = binned_case(rng, kind)
        # when
        psi, js = (numeric_run(reference[:, None], window[:, None], test)[0] for test in ("psi", "jensenshannon"))
        # then
        expected_psi, expected_js = expected_scores(reference, window)
        assert psi.status == OK and js.status == OK
        assert psi.score == pytest.approx(expected_psi, rel=1e-9, abs=1e-12), (kind, case)
        assert js.score == pytest.approx(expected_js, rel=1e-9, abs=1e-12), (kind, case)
        assert psi.p_value is None and js.p_value is None


def test_a_flag_whose_ones_rise_from_5_to_50_percent() -> None:
    """Reference 5% ones, window 50% ones: PSI = 1.3249975 (natural log) and JS = 0.4531553 (base 2), not 0."""
    # given
    reference = np.r_[np.zeros(950), np.ones(50)][:, None]
    window = np.r_[np.zeros(300), np.ones(300)][:, None]
    prepared = numeric_reference_prepare(names=["flag"], values=reference)
    # when
    psi, js = (_drift(prepared, window, test) for test in ("psi", "jensenshannon"))
    # then: 0.45 ln(0.5 / 0.05) - 0.45 ln(0.5 / 0.95), and the JS distance of (0.95, 0.05) and (0.5, 0.5)
    assert psi.score == pytest.approx(1.3249975, abs=1e-6)
    assert js.score == pytest.approx(0.4531553, abs=1e-6)


def test_a_constant_that_moves_scores_the_maximum_shift() -> None:
    """Reference constant 5.0, window constant 6.0: JS = 1 and PSI = 2 (1 - eps) ln(1 / eps), not 0."""
    # given
    prepared = numeric_reference_prepare(names=["c"], values=np.full((400, 1), 5.0))
    window = np.full((150, 1), 6.0)
    # when
    psi, js, ks = (_drift(prepared, window, test) for test in ("psi", "jensenshannon", "ks"))
    # then
    assert js.score == 1.0 and ks.score == 1.0
    assert psi.score == pytest.approx(2 * (1 - PSI_EPSILON) * math.log(1 / PSI_EPSILON), rel=1e-12)


def _drift(prepared: NumericReference, window: np.ndarray, test: str) -> FeatureDrift:
    """One feature's result with one test."""
    return numeric_drift_compute(reference=prepared, window=window, tests=[test], min_samples=1)[0]


def test_moving_mass_between_distinct_reference_values_never_hides() -> None:
    """Moving up to 10% of the rows from one distinct value to another changes PSI and JS, for any two values of a
    feature with few distinct values, and from any heavy value of the others."""
    rng = np.random.default_rng(17)
    for case in range(30):
        # given: few distinct values, or a continuous feature with heavy atoms
        if case % 2:
            reference = rng.choice(rng.normal(size=int(rng.integers(2, 21))), 2000)
            source, target = rng.choice(np.unique(reference), 2, replace=False)
        else:  # three values of about 20% each, the rest continuous: from a heavy value to any other value
            reference = rng.normal(size=2000)
            atoms = rng.normal(size=3)
            reference[:1200] = rng.choice(atoms, 1200)
            source = rng.choice(atoms)
            target = rng.choice(np.setdiff1d(np.unique(reference), [source]))
        prepared = numeric_reference_prepare(names=["x"], values=reference[:, None])
        window = reference.copy()
        moved = np.flatnonzero(window == source)[:200]
        window[moved] = target
        # when
        psi, js = (_drift(prepared, window[:, None], test) for test in ("psi", "jensenshannon"))
        # then
        assert psi.score > 1e-3 and js.score > 1e-3, (case, source, target)


def test_bin_edges_of_a_small_example() -> None:
    """Edges: each value and the next float above it; a heavy value's bin holds it alone; stretches equal mass."""
    # given: three values
    values, cumulative = np.array([0.0, 1.0, 3.0]), np.array([5, 7, 10])
    # when
    edges = reference_bin_edges(values, cumulative)
    # then
    assert edges.tolist() == [0.0, np.nextafter(0.0, 1.0), 1.0, np.nextafter(1.0, 2.0), 3.0, np.nextafter(3.0, 4.0)]

    # given: 0 holds half of 100 values, 50 distinct others above it
    values = np.r_[0.0, np.arange(1.0, 51.0)]
    cumulative = np.r_[50, 50 + np.arange(1, 51)]
    # when
    edges = reference_bin_edges(values, cumulative)
    # then: 0 alone, the 50 others cut into floor(10 * 50 / 100) = 5 bins of 10
    assert edges.tolist() == [0.0, np.nextafter(0.0, 1.0), 11.0, 21.0, 31.0, 41.0, np.nextafter(50.0, 51.0)]


def test_bin_edges_stay_within_the_stored_width() -> None:
    """However the mass is spread, a feature never needs more than MAX_BIN_EDGES edges, and they ascend."""
    rng = np.random.default_rng(23)
    for _ in range(200):
        # given: a random mixture of heavy values and a continuous part
        size = int(rng.integers(1, 400))
        values = np.sort(rng.choice(rng.normal(size=size), size, replace=False))
        counts = rng.integers(1, 4, size) * np.where(rng.random(size) < 0.05, int(rng.integers(10, 200)), 1)
        # when
        edges = reference_bin_edges(values, np.cumsum(counts))
        # then
        assert edges.size <= MAX_BIN_EDGES and np.all(np.diff(edges) > 0)
        assert edges[0] == values[0] and edges[-1] == np.nextafter(values[-1], np.inf)
