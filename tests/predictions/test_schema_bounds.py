"""Optional per-feature schema bounds `min`/`max` (predictions/schema.py): the schema checks them, the predict API
refuses a value outside them with a 422 `out_of_bounds` naming the feature (single rows and batches, nothing
logged), and without bounds any finite value is scored."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from demo.iris import IRIS_FEATURES
from predictions.models import ModelVersion, Prediction
from predictions.schema import SchemaError, feature_schema_parse

BOUNDED_SCHEMA = [
    {"name": "sepal_length", "type": "numeric", "nullable": False, "min": 0, "max": 10.0},
    {"name": "sepal_width", "type": "numeric", "nullable": False},
    {"name": "petal_length", "type": "numeric", "nullable": False, "min": 0.5},
    {"name": "petal_width", "type": "numeric", "nullable": False, "max": 3},
]


def test_bounds_round_trip_through_the_stored_json() -> None:
    """min/max are read as floats, kept in to_json, and absent where not given."""
    # when
    schema = feature_schema_parse(BOUNDED_SCHEMA)
    # then
    assert [(f.minimum, f.maximum) for f in schema.features] == [(0.0, 10.0), (None, None), (0.5, None), (None, 3.0)]
    assert feature_schema_parse(schema.to_json()) == schema
    assert "min" not in schema.to_json()[1] and "max" not in schema.to_json()[1]


@pytest.mark.parametrize(
    ("item", "fragment"),
    [
        ({"name": "a", "type": "numeric", "min": "0"}, "'min' must be a finite number"),
        ({"name": "a", "type": "numeric", "max": True}, "'max' must be a finite number"),
        ({"name": "a", "type": "numeric", "max": float("inf")}, "'max' must be a finite number"),
        ({"name": "a", "type": "numeric", "min": float("nan")}, "'min' must be a finite number"),
        ({"name": "a", "type": "numeric", "min": 10**400}, "'min' must be a finite number"),
        ({"name": "a", "type": "numeric", "min": 2, "max": 1}, "greater than 'max'"),
        ({"name": "a", "type": "categorical", "categories": ["x"], "min": 0}, "only numeric features"),
    ],
)
def test_malformed_bounds_are_refused(item: dict[str, Any], fragment: str) -> None:
    """Bounds must be finite numbers on numeric features, min <= max."""
    with pytest.raises(SchemaError, match=fragment):
        feature_schema_parse([item])


@pytest.fixture
def bounded_iris(register_iris: Callable[..., ModelVersion]) -> ModelVersion:
    """The iris demo model registered with bounds on three features."""
    return register_iris(feature_schema=BOUNDED_SCHEMA)


@pytest.mark.parametrize(
    ("body", "feature", "row"),
    [
        ({"features": [10.5, 3.0, 1.0, 0.2]}, "sepal_length", None),
        ({"features": [-0.1, 3.0, 1.0, 0.2]}, "sepal_length", None),
        ({"features": dict(zip(IRIS_FEATURES, [5.0, 3.0, 0.4, 0.2], strict=True))}, "petal_length", None),
        ({"instances": [[5.0, 3.0, 1.0, 0.2], [5.0, 3.0, 1.0, 3.5]]}, "petal_width", 1),
        ({"instances": [[5.0, 3.0, 1.0, 0.2], [5.0, 1e200, 1.0, 0.2], [1e200, 3.0, 1.0, 0.2]]}, "sepal_length", 2),
    ],
)
def test_a_value_outside_the_schema_bounds_is_a_422_naming_the_feature(
    api_client: Any, bounded_iris: ModelVersion, body: Any, feature: str, row: int | None
) -> None:
    """Single rows and batches (list and object rows): 422 out_of_bounds, the feature (and row) named, nothing
    logged; the unbounded feature takes 1e200."""
    # when
    response = api_client.post("/api/v1/models/iris/predict", body, format="json")
    # then
    assert response.status_code == 422, response.content
    error = response.json()["error"]
    assert error["code"] == "out_of_bounds"
    assert error["details"]["field"] == feature
    assert feature in error["message"]
    if row is not None:
        assert error["details"]["row"] == row
        assert error["message"].startswith(f"row {row}:")
    assert Prediction.objects.count() == 0


def test_values_on_the_bounds_are_accepted(api_client: Any, bounded_iris: ModelVersion) -> None:
    """Bounds are inclusive."""
    # when
    response = api_client.post(
        "/api/v1/models/iris/predict", {"instances": [[0, 3.0, 0.5, 3], [10, 3.0, 0.5, 0.0]]}, format="json"
    )
    # then
    assert response.status_code == 200, response.content
    assert Prediction.objects.count() == 2


def test_without_bounds_any_finite_value_is_scored(api_client: Any, iris_version: ModelVersion) -> None:
    """The demo's curl loop body answers 200, and so does a huge finite value (it is counted as out of range by the
    data-quality monitors instead, see tests/predictions/test_data_quality.py)."""
    # when
    demo = api_client.post("/predict", {"features": [0.1, 0.5, 0.3, 0.8]}, format="json")
    huge = api_client.post("/predict", {"features": [1e200, 0.5, 0.3, 0.8]}, format="json")
    # then
    assert demo.status_code == 200, demo.content
    assert huge.status_code == 200, huge.content
