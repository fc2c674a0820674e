"""Feature schemas with categorical and nullable features, end to end: a OneHotEncoder + KNNImputer +
LogisticRegression pipeline registered from a skops file, scored over the API, logged as codes and decoded back."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from predictions import services
from predictions.inference import artifact_load
from predictions.models import ModelVersion, Prediction
from predictions.schema import feature_schema_parse
from tests.predictions import artifacts

URL = "/api/v1/models/shapes/predict"


@pytest.fixture
def shapes_version(db: None) -> ModelVersion:
    """The categorical pipeline registered as `shapes` v1 (color: categorical, size: nullable numeric)."""
    return services.model_version_register(
        model_name="shapes",
        version="1",
        artifact=artifacts.categorical_artifact(),
        feature_schema=artifacts.CATEGORICAL_SCHEMA,
        class_labels=artifacts.CATEGORICAL_CLASSES,
    )


def test_the_categorical_pipeline_passes_the_trusted_type_check() -> None:
    """OneHotEncoder, KNNImputer, ColumnTransformer and LogisticRegression are all types skops trusts."""
    # when
    loaded = artifact_load(
        data=artifacts.categorical_artifact(),
        schema=feature_schema_parse(artifacts.CATEGORICAL_SCHEMA),
        class_labels=artifacts.CATEGORICAL_CLASSES,
    )
    # then
    assert loaded.class_labels == ("no", "yes")


@pytest.mark.django_db
def test_categories_are_logged_as_codes_and_decoded_back(api_client: Any, shapes_version: ModelVersion) -> None:
    """A row by name and a row by position score; the log holds the category's index, feature_values() the name."""
    # given
    rows = [{"color": "green", "size": 1.5}, ["red", -0.25]]
    # when
    response = api_client.post(URL, {"instances": rows}, format="json")
    # then
    assert response.status_code == 200, response.json()
    answers = response.json()["predictions"]
    assert [answer["prediction"] for answer in answers] == ["no", "yes"]
    logged = {str(row.id): row for row in Prediction.objects.select_related("model_version")}
    first, second = (logged[answer["prediction_id"]] for answer in answers)
    assert np.frombuffer(bytes(first.features), dtype=np.float64).tolist() == [1.0, 1.5]  # green = categories[1]
    assert first.feature_values() == {"color": "green", "size": 1.5}
    assert second.feature_values() == {"color": "red", "size": -0.25}


@pytest.mark.django_db
def test_null_in_a_nullable_numeric_feature_is_scored_and_logged_as_missing(
    api_client: Any, shapes_version: ModelVersion
) -> None:
    """size may be null: the pipeline's imputer fills it, and the log keeps it as missing (None when decoded)."""
    # when
    response = api_client.post(URL, {"features": {"color": "red", "size": None}}, format="json")
    # then
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["prediction"] == "yes"
    row = Prediction.objects.select_related("model_version").get(id=body["prediction_id"])
    assert row.feature_values() == {"color": "red", "size": None}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"features": {"color": "purple", "size": 1.0}}, "unknown category 'purple' (allowed: red, green, blue)"),
        ({"features": {"color": "RED", "size": 1.0}}, "unknown category 'RED'"),
        ({"features": {"color": None, "size": 1.0}}, "'color' is null but the schema does not allow missing values"),
        ({"features": {"color": 1, "size": 1.0}}, "'color' must be a string category"),
        ({"features": ["red", "big"]}, "'size' must be a number"),
        ({"features": ["red"]}, "expected 2 features (color, size), got 1"),
        ({"instances": [["red", 1.0], ["teal", 1.0]]}, "row 1: feature 'color': unknown category 'teal'"),
    ],
)
def test_bad_categorical_rows_are_400_and_log_nothing(
    api_client: Any, shapes_version: ModelVersion, body: Any, fragment: str
) -> None:
    """Unknown categories, nulls where the schema forbids them and wrong types answer 400 naming the feature."""
    # when
    response = api_client.post(URL, body, format="json")
    # then
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert fragment in error["message"]
    assert Prediction.objects.count() == 0


@pytest.mark.django_db
def test_a_nullable_feature_the_model_cannot_take_is_refused_at_registration() -> None:
    """A schema that marks color nullable over a pipeline that cannot encode a missing color is refused when the
    artifact is registered (the smoke prediction includes a row with the nullable features missing)."""
    from django.core.exceptions import ValidationError

    schema = [{**feature, "nullable": True} for feature in artifacts.CATEGORICAL_SCHEMA]
    with pytest.raises(ValidationError, match="test prediction"):
        services.model_version_register(
            model_name="shapes",
            version="1",
            artifact=artifacts.categorical_artifact(),
            feature_schema=schema,
            class_labels=artifacts.CATEGORICAL_CLASSES,
        )


def test_a_model_that_answers_nan_gets_422_and_logs_nothing(
    api_client: Any, register_iris: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If a model returns non-finite probabilities at serving time, the request is a 422 prediction_failed, no row
    is logged and the confidence histogram is untouched (NaN would sort past +Inf)."""
    import numpy as np

    from predictions.inference import LoadedModel

    register_iris()
    assert api_client.post("/predict", {"features": [5.1, 3.5, 1.4, 0.2]}, format="json").status_code == 200
    monkeypatch.setattr(LoadedModel, "predict_proba", lambda self, matrix: np.full((len(matrix), 3), np.nan))
    response = api_client.post("/predict", {"features": [5.1, 3.5, 1.4, 0.2]}, format="json")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "prediction_failed"
    assert Prediction.objects.count() == 1  # the earlier, healthy prediction only
