"""Prepared references: serialization round trips, subsets, and blobs of the earlier format."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from drift import statistics as drift_statistics
from drift.statistics import (
    CategoricalReference,
    NumericReference,
    ReferenceFormatError,
    categorical_drift_compute,
    categorical_reference_prepare,
    numeric_drift_compute,
    numeric_reference_prepare,
    numeric_reference_upgrade,
)
from drift.statistics.references import reference_format_version


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


def reference_arrays(reference: NumericReference) -> dict[str, np.ndarray]:
    """Every array of a numeric reference by name."""
    names = ("values", "cumulative_counts", "offsets", "missing_counts", "bin_edges", "bin_counts", "summaries")
    return {name: getattr(reference, name) for name in names}


def test_a_format_1_blob_is_refused_and_upgrades_to_a_fresh_preparation(
    legacy_numeric_blob: Callable[..., bytes],
) -> None:
    """from_bytes refuses a format-1 blob with a message that says how to re-prepare it; numeric_reference_upgrade
    turns it into exactly what preparing the original data gives now (value bins, not the old decile bins)."""
    rng = np.random.default_rng(12)
    # given: a flag, a count, continuous with missing values, a constant, an all-missing column
    values = np.column_stack(
        [
            (rng.random(1500) < 0.05).astype(float),
            rng.poisson(3, 1500),
            np.where(rng.random(1500) < 0.2, np.nan, rng.normal(size=1500)),
            np.full(1500, 5.0),
            np.full(1500, np.nan),
        ]
    )
    names = ["flag", "count", "normal", "constant", "empty"]
    blob = legacy_numeric_blob(names, values)
    # when
    with pytest.raises(ReferenceFormatError, match=r"format version 1.*numeric_reference_upgrade.*migrate"):
        NumericReference.from_bytes(blob)
    upgraded = numeric_reference_upgrade(blob)
    # then
    expected = numeric_reference_prepare(names=names, values=values)
    assert upgraded.names == expected.names and upgraded.row_count == expected.row_count
    for name, array in reference_arrays(expected).items():
        np.testing.assert_array_equal(reference_arrays(upgraded)[name], array, err_msg=name)
    assert reference_format_version(upgraded.to_bytes()) == ("numeric", 2)
    assert reference_format_version(numeric_reference_upgrade(upgraded.to_bytes()).to_bytes()) == ("numeric", 2)
    window = np.column_stack([(rng.random(600) < 0.5), rng.poisson(3, 600), rng.normal(size=600), np.full(600, 6.0)])
    window = np.column_stack([window, rng.normal(size=600)]).astype(float)
    psi = numeric_drift_compute(reference=upgraded, window=window, tests=["psi"] * 5, min_samples=1)
    assert psi[0].score > 1.0 and psi[3].score > 1.0  # the flag's and the constant's shifts are seen


def test_blobs_of_unknown_versions_or_the_other_kind_are_refused() -> None:
    """A blob of a later format, or a categorical blob read as numeric, is a ReferenceFormatError (a ValueError)."""
    # given
    numeric = numeric_reference_prepare(names=["a"], values=np.zeros((3, 1)))
    categorical = categorical_reference_prepare(names=["c"], categories=[["x"]], codes=np.zeros((3, 1)))
    # then
    with pytest.raises(ReferenceFormatError, match="expected a numeric reference"):
        NumericReference.from_bytes(categorical.to_bytes())
    with pytest.raises(ValueError, match="expected a categorical reference"):
        CategoricalReference.from_bytes(numeric.to_bytes())
    with pytest.raises(ReferenceFormatError, match="expected a numeric reference"):
        numeric_reference_upgrade(categorical.to_bytes())
