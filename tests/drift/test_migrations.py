"""Data migration drift 0004: stored references of numeric format 1 are re-prepared in format 2."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from drift.statistics import (
    NumericReference,
    categorical_reference_prepare,
    numeric_drift_compute,
    numeric_reference_prepare,
)

BEFORE = ("drift", "0003_feature_chart_and_data_quality")
AFTER = ("drift", "0004_numeric_reference_format_2")


def migrate(target: tuple[str, str]) -> Any:
    """Migrate the drift app to target; return the app registry of that state."""
    executor = MigrationExecutor(connection)
    executor.migrate([target])
    executor.loader.build_graph()
    return executor.loader.project_state([target]).apps


@pytest.fixture
def back_to_latest() -> Any:
    """After the test, the drift app migrated forward to its latest migration again (later migrations add columns
    that the following tests read)."""
    yield
    executor = MigrationExecutor(connection)
    migrate(executor.loader.graph.leaf_nodes("drift")[0])


@pytest.mark.django_db(transaction=True)
def test_format_1_references_are_re_prepared_by_the_migration(
    iris_version: Any, legacy_numeric_blob: Callable[..., bytes], back_to_latest: None
) -> None:
    """A reference stored in format 1 comes out of the migration in format 2, equal to preparing its data now (a
    flag's shift is then seen by PSI); a reference already in format 2 is left byte for byte as it was."""
    rng = np.random.default_rng(5)
    names = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    values = np.column_stack(
        [rng.normal(5, 1, 200), (rng.random(200) < 0.05).astype(float), rng.poisson(2, 200), np.full(200, 0.2)]
    )
    current = numeric_reference_prepare(names=names, values=values).to_bytes()
    categorical = categorical_reference_prepare(names=[], categories=[], codes=np.empty((200, 0))).to_bytes()
    # given: the database before the migration, with one old and one current reference
    old_apps = migrate(BEFORE)
    stored = old_apps.get_model("drift", "ReferenceDataset")
    common = {
        "model_version_id": iris_version.pk,
        "file": "reference/ref.csv",
        "file_format": "csv",
        "row_count": 200,
        "categorical_reference": categorical,
        "class_counts": {},
    }
    legacy = stored.objects.create(
        name="old", numeric_reference=legacy_numeric_blob(names, values), is_active=False, **common
    )
    fresh = stored.objects.create(name="new", numeric_reference=current, is_active=True, **common)
    with pytest.raises(ValueError, match="format version 1"):
        NumericReference.from_bytes(bytes(legacy.numeric_reference))
    # when
    stored = migrate(AFTER).get_model("drift", "ReferenceDataset")
    # then
    upgraded = NumericReference.from_bytes(bytes(stored.objects.get(pk=legacy.pk).numeric_reference))
    expected = NumericReference.from_bytes(current)
    for name in ("values", "cumulative_counts", "offsets", "bin_edges", "bin_counts", "summaries"):
        np.testing.assert_array_equal(getattr(upgraded, name), getattr(expected, name), err_msg=name)
    assert bytes(stored.objects.get(pk=fresh.pk).numeric_reference) == current
    window = values.copy()
    window[:100, 1] = 1.0
    flag = numeric_drift_compute(reference=upgraded, window=window, tests=["psi"] * 4, min_samples=1)[1]
    assert flag.score > 0.5
