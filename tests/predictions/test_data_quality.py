"""Data-quality monitors (predictions/data_quality.py): counts per batch against a row-by-row computation written
out here, the `__other__` fold, the counters the predict API moves, and the per-version cache (no query per
request; a new active reference is seen)."""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from drift.services import reference_dataset_upload
from mlmonitor.metrics import MetricWrites
from predictions import data_quality
from predictions.data_quality import (
    OTHER_FEATURE,
    data_quality_counts,
    data_quality_counts_small,
    data_quality_profile_build,
)
from predictions.models import ModelVersion
from predictions.schema import feature_schema_parse
from tests.exposition import Exposition

from .artifacts import CATEGORICAL_CLASSES, CATEGORICAL_SCHEMA, categorical_artifact

REPO = Path(__file__).resolve().parents[2]

MIXED_SCHEMA = feature_schema_parse(
    [
        {"name": "a", "type": "numeric", "nullable": True},
        {"name": "b", "type": "numeric", "nullable": False, "min": -5, "max": 5},
        {"name": "c", "type": "categorical", "categories": ["x", "y", "z", "w"], "nullable": True},
        {"name": "d", "type": "numeric", "nullable": True},
        {"name": "e", "type": "categorical", "categories": ["p", "q"], "nullable": False},
    ]
)
RANGES: dict[str, tuple[float, float]] = {
    "a": (0.0, 1.0),
    "d": (-2.0, 3.0),
}  # b has no reference values: its schema bounds apply
SEEN: dict[str, Sequence[bool]] = {"c": [True, False, True, False], "e": [True, True]}


def expected_counts(matrix: np.ndarray) -> dict[tuple[str, str], int]:
    """Row by row, in plain Python, from the definitions in predictions/data_quality.py's docstring."""
    lower = {"a": 0.0, "b": -5.0, "d": -2.0}
    upper = {"a": 1.0, "b": 5.0, "d": 3.0}
    counts: dict[tuple[str, str], int] = {}
    for row in matrix.tolist():
        for feature, value in zip(MIXED_SCHEMA.features, row, strict=True):
            checks = []
            if math.isnan(value):
                checks.append("missing")
            elif feature.kind == "numeric":
                if value < lower[feature.name]:
                    checks.append("below")
                if value > upper[feature.name]:
                    checks.append("above")
            elif not SEEN[feature.name][int(value)]:
                checks.append("unseen")
            for check in checks:
                counts[(check, feature.name)] = counts.get((check, feature.name), 0) + 1
    return counts


def random_matrix(rng: np.random.Generator, rows: int) -> np.ndarray:
    """Logged rows of MIXED_SCHEMA: numbers in and out of range (some huge), codes of every category, NaNs."""
    matrix = np.empty((rows, 5))
    matrix[:, 0] = rng.uniform(-0.5, 1.5, rows)
    matrix[:, 1] = rng.uniform(-5, 5, rows)  # within the schema bounds (the API refuses the rest)
    matrix[:, 2] = rng.integers(0, 4, rows)
    matrix[:, 3] = rng.choice([-1e300, -2.0, 0.0, 3.0, 3.0000001, 1e300], rows)
    matrix[:, 4] = rng.integers(0, 2, rows)
    for column in (0, 2, 3):
        matrix[rng.random(rows) < 0.2, column] = np.nan
    return matrix


def as_dict(profile: data_quality.DataQualityProfile, counts: np.ndarray) -> dict[tuple[str, str], int]:
    names = ("missing", "below", "above", "unseen")
    return {
        (names[row], profile.slot_names[slot]): int(counts[row, slot])
        for row, slot in zip(*np.nonzero(counts), strict=True)
    }


def test_batch_counts_equal_a_row_by_row_count_on_random_batches() -> None:
    """Missing, below, above and unseen counts of random batches (1 to 300 rows) equal the plain Python count."""
    profile = data_quality_profile_build(
        schema=MIXED_SCHEMA, max_features=50, reference_ranges=RANGES, reference_categories=SEEN
    )
    rng = np.random.default_rng(9)
    for case in range(40):
        matrix = random_matrix(rng, int(rng.integers(1, 300)))
        assert as_dict(profile, data_quality_counts(profile, matrix)) == expected_counts(matrix), case


@pytest.mark.parametrize("max_features", [50, 2, 1])
def test_the_small_batch_loop_counts_what_the_numpy_path_counts(max_features: int) -> None:
    """data_quality_counts_small (a few rows, in Python) gives exactly the non-zero counts of data_quality_counts on
    random batches of 1 to 12 rows, with and without a reference, folded or not."""
    rng = np.random.default_rng(17)
    with_reference = data_quality_profile_build(
        schema=MIXED_SCHEMA, max_features=max_features, reference_ranges=RANGES, reference_categories=SEEN
    )
    without = data_quality_profile_build(schema=MIXED_SCHEMA, max_features=max_features)
    for case in range(200):
        profile = with_reference if case % 2 else without
        matrix = random_matrix(rng, int(rng.integers(1, 13)))
        names = ("missing", "below", "above", "unseen")
        small = {
            (names[check], profile.slot_names[slot]): count
            for (check, slot), count in data_quality_counts_small(profile, matrix.tolist()).items()
        }
        assert small == as_dict(profile, data_quality_counts(profile, matrix)), case


def test_features_past_the_cap_are_summed_under_other() -> None:
    """With a cap of 2, features a and b keep their names and c, d, e are summed under __other__."""
    profile = data_quality_profile_build(
        schema=MIXED_SCHEMA, max_features=2, reference_ranges=RANGES, reference_categories=SEEN
    )
    matrix = random_matrix(np.random.default_rng(3), 500)
    # when
    counts = as_dict(profile, data_quality_counts(profile, matrix))
    # then
    expected = expected_counts(matrix)
    assert profile.slot_names == ("a", "b", OTHER_FEATURE)
    for check in ("missing", "below", "above", "unseen"):
        folded = sum(v for (c, f), v in expected.items() if c == check and f in "cde")
        assert counts.get((check, OTHER_FEATURE), 0) == folded, check
        for feature in "ab":
            assert counts.get((check, feature), 0) == expected.get((check, feature), 0), (check, feature)


def test_without_a_reference_only_schema_bounds_and_missing_values_count() -> None:
    """No reference: a has no range (nothing out of range), b its schema bounds; categories are not judged."""
    profile = data_quality_profile_build(schema=MIXED_SCHEMA, max_features=50)
    matrix = np.asarray([[1e300, 5.0, 3.0, np.nan, 1.0], [-1e300, -5.0, np.nan, 1e300, 0.0]])
    # when
    counts = as_dict(profile, data_quality_counts(profile, matrix))
    # then
    assert counts == {("missing", "c"): 1, ("missing", "d"): 1}


def test_the_cap_setting_default_is_the_one_documented() -> None:
    """docs/metrics.md and the README name DATA_QUALITY_MAX_FEATURES with the default the settings use."""
    from django.conf import settings

    metrics_doc = (REPO / "docs" / "metrics.md").read_text()
    readme = (REPO / "README.md").read_text()
    default = settings.DATA_QUALITY_MAX_FEATURES
    assert re.search(rf"`DATA_QUALITY_MAX_FEATURES` \(default {default}\)", metrics_doc)
    assert re.search(rf"\| `DATA_QUALITY_MAX_FEATURES` \| {default} \|", readme)
    for name in (
        "ml_feature_missing_total",
        "ml_feature_out_of_range_total",
        "ml_feature_unseen_category_total",
        "ml_data_quality_rows_total",
    ):
        assert f"`{name}`" in metrics_doc, name
    assert f'`feature_name="{OTHER_FEATURE}"`' in metrics_doc


# --- through the predict API ------------------------------------------------------------------------------------


def reference_csv(colors: list[str], sizes: list[float]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["color", "size"])
    writer.writerows(zip(colors, sizes, strict=True))
    return buffer.getvalue().encode()


@pytest.fixture
def categorical_version(register_iris: Callable[..., ModelVersion]) -> ModelVersion:
    """color (red/green/blue) + size (nullable), with a reference holding red and green only, size in [-1, 2]."""
    from predictions import services

    version = services.model_version_register(
        model_name="shapes",
        version="1",
        artifact=categorical_artifact(),
        feature_schema=CATEGORICAL_SCHEMA,
        class_labels=CATEGORICAL_CLASSES,
        make_default=False,
    )
    reference_dataset_upload(
        model_version=version,
        file=reference_csv(["red", "green"] * 30, [-1.0, 2.0] + [0.5] * 58),
        filename="ref.csv",
    )
    return version


def delta(before: Exposition, after: Exposition, name: str, **labels: str) -> float:
    return (after.value(name, **labels) or 0.0) - (before.value(name, **labels) or 0.0)


@pytest.mark.django_db
def test_the_predict_api_moves_the_counters_by_what_it_scored(
    api_client: Any, scrape: Callable[[], Exposition], categorical_version: ModelVersion
) -> None:
    """A batch of 5 rows: 2 missing sizes, 1 size above and 1 below the reference's range, 2 blue (unseen)."""
    before = scrape()
    rows = [
        {"color": "red", "size": None},
        {"color": "blue", "size": 2.5},
        {"color": "green", "size": -1.5},
        {"color": "blue", "size": None},
        {"color": "red", "size": 2.0},
    ]
    # when
    response = api_client.post("/api/v1/models/shapes/predict", {"instances": rows}, format="json")
    after = scrape()
    # then
    assert response.status_code == 200, response.content
    labels = {"model_name": "shapes"}
    assert delta(before, after, "ml_data_quality_rows_total", **labels) == 5
    assert delta(before, after, "ml_feature_missing_total", feature_name="size", **labels) == 2
    assert delta(before, after, "ml_feature_out_of_range_total", feature_name="size", side="above", **labels) == 1
    assert delta(before, after, "ml_feature_out_of_range_total", feature_name="size", side="below", **labels) == 1
    assert delta(before, after, "ml_feature_unseen_category_total", feature_name="color", **labels) == 2
    assert after.types.get("ml_feature_out_of_range") == "counter"


@pytest.mark.django_db
def test_the_profile_is_cached_and_a_new_reference_is_seen(
    api_client: Any, scrape: Callable[[], Exposition], categorical_version: ModelVersion, settings: Any
) -> None:
    """Within MODEL_REGISTRY_CACHE_SECONDS the counting runs no query; a newly uploaded reference (blue seen,
    size range wider) changes what counts."""
    settings.MODEL_REGISTRY_CACHE_SECONDS = 3600
    body = {"instances": [{"color": "blue", "size": 3.0}]}
    assert api_client.post("/api/v1/models/shapes/predict", body, format="json").status_code == 200
    schema = categorical_version.schema
    version_id = categorical_version.pk
    # when: counting again with the profile cached
    with CaptureQueriesContext(connection) as queries:
        data_quality.data_quality_batch_record(
            version_id=version_id,
            schema=data_quality._profiles[version_id].schema,
            model_name="shapes",
            matrix=np.asarray([[2.0, 3.0]]),
            writes=MetricWrites(),
        )
    # then
    assert len(queries) == 0
    assert data_quality._profiles[version_id].schema.names == schema.names
    # when: a new reference with blue and a size range up to 4
    reference_dataset_upload(
        model_version=categorical_version,
        file=reference_csv(["red", "green", "blue"] * 20, [0.0] * 59 + [4.0]),
        filename="ref2.csv",
    )
    before = scrape()
    assert api_client.post("/api/v1/models/shapes/predict", body, format="json").status_code == 200
    after = scrape()
    # then
    labels = {"model_name": "shapes"}
    assert delta(before, after, "ml_data_quality_rows_total", **labels) == 1
    assert delta(before, after, "ml_feature_unseen_category_total", feature_name="color", **labels) == 0
    assert delta(before, after, "ml_feature_out_of_range_total", feature_name="size", side="above", **labels) == 0


@pytest.mark.django_db
def test_another_process_sees_a_new_reference_after_the_cache_time(
    categorical_version: ModelVersion, settings: Any
) -> None:
    """A reference activated elsewhere (no forget in this process) is picked up once the cache time has passed."""
    settings.MODEL_REGISTRY_CACHE_SECONDS = 3600
    schema = categorical_version.schema
    first = data_quality.data_quality_profile_get(version_id=categorical_version.pk, schema=schema, model_name="shapes")
    from drift.models import ReferenceDataset

    ReferenceDataset.objects.filter(model_version=categorical_version).update(is_active=False)
    # when: within the cache time, then after it
    cached = data_quality.data_quality_profile_get(
        version_id=categorical_version.pk, schema=schema, model_name="shapes"
    )
    settings.MODEL_REGISTRY_CACHE_SECONDS = 0
    fresh = data_quality.data_quality_profile_get(version_id=categorical_version.pk, schema=schema, model_name="shapes")
    # then
    assert cached is first
    assert first.reference_key is not None and fresh.reference_key is None
    assert fresh.categorical_columns.size == 0
