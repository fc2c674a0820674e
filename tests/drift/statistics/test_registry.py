"""The test registry: one entry per test, and every entry's description holds for what the test returns."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from drift.models import FeatureTest
from drift.statistics import (
    CATEGORICAL,
    CATEGORICAL_TESTS,
    DRIFT_TESTS,
    NUMERIC,
    NUMERIC_TESTS,
    categorical_drift_compute,
    categorical_reference_prepare,
    drift_test_get,
)


def test_every_registered_test_describes_itself() -> None:
    """Each entry is filed under its kind and name, has a label and a source, and a score range starting at 0."""
    for kind, tests in DRIFT_TESTS.items():
        for name, test in tests.items():
            assert (test.kind, test.name) == (kind, name)
            assert test.label and test.source
            assert test.score_min == 0.0 and (test.score_max is None or test.score_max == 1.0)
    assert tuple(DRIFT_TESTS[NUMERIC]) == NUMERIC_TESTS == ("ks", "psi", "wasserstein", "jensenshannon")
    assert tuple(DRIFT_TESTS[CATEGORICAL]) == CATEGORICAL_TESTS == ("chi2", "jensenshannon")
    assert {choice for choice, _ in FeatureTest.TEST_CHOICES} == {*NUMERIC_TESTS, *CATEGORICAL_TESTS}


@pytest.mark.parametrize("name", NUMERIC_TESTS)
def test_numeric_results_match_their_registry_entry(name: str, numeric_run: Callable[..., Any]) -> None:
    """Scores stay in the registered range and carry a p-value exactly when the entry says so."""
    test = drift_test_get(kind=NUMERIC, name=name)
    rng = np.random.default_rng(3)
    for shift in (0.0, 0.3, 5.0):
        # when
        results = numeric_run(rng.normal(size=(500, 2)), rng.normal(shift, 1.0, (400, 2)), name)
        # then
        for result in results:
            assert result.test == name
            assert result.score >= test.score_min and (test.score_max is None or result.score <= test.score_max)
            assert (result.p_value is not None) == test.has_p_value


@pytest.mark.parametrize("name", CATEGORICAL_TESTS)
def test_categorical_results_match_their_registry_entry(name: str) -> None:
    """Scores stay in the registered range and carry a p-value exactly when the entry says so."""
    test = drift_test_get(kind=CATEGORICAL, name=name)
    rng = np.random.default_rng(4)
    reference = categorical_reference_prepare(
        names=["x"], categories=[["a", "b", "c"]], codes=rng.integers(0, 3, (300, 1)).astype(float)
    )
    for high in (3, 5):
        # when
        (result,) = categorical_drift_compute(
            reference=reference, window=rng.integers(0, high, (200, 1)).astype(float), tests=[name], min_samples=1
        )
        # then
        assert test.score_min <= result.score <= test.score_max
        assert (result.p_value is not None) == test.has_p_value


def test_unknown_kinds_and_names_are_refused() -> None:
    """Looking up a test that is not registered names what is."""
    with pytest.raises(KeyError, match="unknown numeric test 'chi2'"):
        drift_test_get(kind=NUMERIC, name="chi2")
    with pytest.raises(KeyError, match="unknown feature kind 'text'"):
        drift_test_get(kind="text", name="ks")
