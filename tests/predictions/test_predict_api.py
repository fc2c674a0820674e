"""The predict endpoints: single and batch, by position and by name, logging, and the error contract."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from prometheus_client import REGISTRY

from predictions.models import Prediction

ROW = [5.1, 3.5, 1.4, 0.2]


def sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.mark.django_db
def test_seed_predict_answers_with_the_default_model_and_logs_the_row(api_client: Any, iris_version: Any) -> None:
    """POST /predict with the seed's body scores with the default model and stores one row."""
    # given
    before = sample("ml_prediction_requests_total", {"model_name": "iris", "model_version": "1", "status": "success"})
    # when
    response = api_client.post("/predict", {"features": [0.1, 0.5, 0.3, 0.8]}, format="json")
    # then
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"prediction_id", "prediction", "confidence", "probabilities", "model", "version", "latency_ms"}
    assert body["model"] == "iris" and body["version"] == "1"
    assert body["prediction"] in {"setosa", "versicolor", "virginica"}
    assert body["confidence"] == pytest.approx(max(body["probabilities"].values()))
    assert sum(body["probabilities"].values()) == pytest.approx(1.0)
    row = Prediction.objects.get(id=body["prediction_id"])
    assert row.feature_values() == dict(
        zip(["sepal_length", "sepal_width", "petal_length", "petal_width"], [0.1, 0.5, 0.3, 0.8], strict=True)
    )
    assert row.predicted_label == body["prediction"]
    after = sample("ml_prediction_requests_total", {"model_name": "iris", "model_version": "1", "status": "success"})
    assert after - before == 1


@pytest.mark.django_db
def test_batch_by_name_and_position_agrees_with_the_model(api_client: Any, iris_version: Any) -> None:
    """A batch mixing both row forms answers one prediction per row, equal to the estimator's own output."""
    # given
    from tests.conftest import iris_demo

    demo = iris_demo()
    rows = demo.x_test[:5].tolist()
    named = dict(zip(["sepal_length", "sepal_width", "petal_length", "petal_width"], rows[0], strict=True))
    # when
    response = api_client.post("/api/v1/models/iris/predict", {"instances": [named, *rows[1:]]}, format="json")
    # then
    assert response.status_code == 200
    body = response.json()
    assert len(body["predictions"]) == 5
    from predictions.inference import model_cache

    loaded = model_cache.loaded_models()[-1]
    expected = loaded.estimator.predict_proba(np.asarray(rows))
    for answer, probs in zip(body["predictions"], expected, strict=True):
        assert list(answer["probabilities"].values()) == pytest.approx(probs.tolist())
    assert Prediction.objects.count() == 5


@pytest.mark.django_db
def test_a_batch_answer_has_exactly_the_documented_keys(api_client: Any, iris_version: Any) -> None:
    """A batch answers {"predictions", "model", "version", "latency_ms"}; each prediction has exactly its id, class,
    confidence and probabilities per class label, in class order, as logged."""
    # when
    response = api_client.post("/api/v1/models/iris/predict", {"instances": [[5.1, 3.5, 1.4, 0.2]] * 2}, format="json")
    # then
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"predictions", "model", "version", "latency_ms"}
    assert (body["model"], body["version"]) == ("iris", "1") and body["latency_ms"] > 0
    for answer in body["predictions"]:
        assert set(answer) == {"prediction_id", "prediction", "confidence", "probabilities"}
        assert list(answer["probabilities"]) == ["setosa", "versicolor", "virginica"]
        stored = Prediction.objects.get(id=answer["prediction_id"])
        assert stored.probability_map() == answer["probabilities"]
        assert (stored.predicted_label, stored.confidence) == (answer["prediction"], answer["confidence"])


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "status", "code", "fragment"),
    [
        ({"features": [1, 2, 3]}, 400, "invalid_input", "expected 4 features"),
        ({"features": [1, 2, 3, "x"]}, 400, "invalid_input", "petal_width"),
        ({"features": [1, 2, 3, True]}, 400, "invalid_input", "must be a number"),
        ({"features": [1, 2, 3, None]}, 400, "invalid_input", "does not allow missing"),
        ({"features": {"sepal_length": 1, "sepal_width": 2, "petal_length": 3}}, 400, "invalid_input", "petal_width"),
        (
            {"features": {"sepal_length": 1, "sepal_width": 2, "petal_length": 3, "petal_width": 4, "x": 1}},
            400,
            "invalid_input",
            "unknown features: x",
        ),
        ({"instances": []}, 400, "empty_batch", "empty"),
        ({"instances": [ROW, [1, 2]]}, 400, "invalid_input", "row 1"),
        ({"instances": "nope"}, 400, "invalid_input", "list"),
        ({"rows": [ROW]}, 400, "invalid_input", "exactly one key"),
        ({"features": ROW, "instances": [ROW]}, 400, "invalid_input", "exactly one key"),
        ([ROW], 400, "invalid_input", "JSON object"),
        ({"features": "1,2,3,4"}, 400, "invalid_input", "a row must be"),
    ],
)
def test_bad_input_is_a_4xx_json_error_and_logs_nothing(
    api_client: Any, iris_version: Any, body: Any, status: int, code: str, fragment: str
) -> None:
    """Each malformed body answers the JSON error shape naming the problem, and stores no prediction."""
    # when
    response = api_client.post("/api/v1/models/iris/predict", body, format="json")
    # then
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == code
    assert fragment in error["message"]
    assert Prediction.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("raw", "status", "code"),
    [
        (b'{"features": [NaN, 1, 2, 3]}', 400, "invalid_input"),
        (b'{"features": [Infinity, 1, 2, 3]}', 400, "invalid_input"),
        (b'{"features": [1, 2, 3', 400, "parse_error"),
        (b"", 400, "invalid_input"),
        (b"\xff\xfe", 400, "parse_error"),
        (b'{"features": [1e999, 1, 2, 3]}', 400, "invalid_input"),
        (b'{"features": [-Infinity, 1, 2, 3]}', 400, "invalid_input"),
        (b'{"features": [1, 2, 3, 4]} trailing', 400, "parse_error"),
        (b"[" * 100_000 + b"]" * 100_000, 400, "parse_error"),
    ],
)
def test_raw_bodies_that_are_not_acceptable_json(
    api_client: Any, iris_version: Any, raw: bytes, status: int, code: str
) -> None:
    """NaN/Infinity literals, truncated JSON, empty and non-UTF-8 bodies are 400s, never 500s."""
    response = api_client.generic("POST", "/predict", raw, content_type="application/json")
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert Prediction.objects.count() == 0


@pytest.mark.django_db
def test_limits_on_batch_rows_and_body_size(api_client: Any, iris_version: Any, settings: Any) -> None:
    """A batch over PREDICTION_MAX_BATCH_SIZE is 400, a body over MAX_REQUEST_BYTES is 413; neither logs rows."""
    settings.PREDICTION_MAX_BATCH_SIZE = 3
    response = api_client.post("/predict", {"instances": [ROW] * 4}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "batch_too_large"
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    response = api_client.post("/predict", {"instances": [ROW] * 3, "pad": "x" * 200}, format="json")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"
    assert Prediction.objects.count() == 0


@pytest.mark.django_db
def test_unknown_model_and_version_are_404(api_client: Any, iris_version: Any) -> None:
    """Unknown model or version names answer 404 in the JSON error shape."""
    response = api_client.post("/api/v1/models/nope/predict", {"features": ROW}, format="json")
    assert response.status_code == 404
    assert "nope" in response.json()["error"]["message"]
    response = api_client.post("/api/v1/models/iris/versions/9/predict", {"features": ROW}, format="json")
    assert response.status_code == 404
    assert "9" in response.json()["error"]["message"]


@pytest.mark.django_db
def test_named_version_answers_while_another_is_active(api_client: Any, register_iris: Any) -> None:
    """A named version scores even when it is not the active one; the active one answers the plain path."""
    register_iris(version="1")
    register_iris(version="2")
    assert api_client.post("/api/v1/models/iris/predict", {"features": ROW}, format="json").json()["version"] == "2"
    answer = api_client.post("/api/v1/models/iris/versions/1/predict", {"features": ROW}, format="json").json()
    assert answer["version"] == "1"


def assert_json_error(response: Any, status: int, code: str) -> dict[str, Any]:
    """The response has this status and the JSON error shape with this code; returns the error object."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["code"] == code, error
    assert error["message"]
    return error


@pytest.mark.django_db
def test_a_model_without_an_active_version_is_409(api_client: Any, register_iris: Any) -> None:
    """A model whose versions are all inactive answers 409 no_active_version; a named version still answers."""
    # given
    register_iris(version="1", activate=False)
    # when
    response = api_client.post("/api/v1/models/iris/predict", {"features": ROW}, format="json")
    # then
    assert "no active version" in assert_json_error(response, 409, "no_active_version")["message"]
    assert Prediction.objects.count() == 0
    assert (
        api_client.post("/api/v1/models/iris/versions/1/predict", {"features": ROW}, format="json").status_code == 200
    )


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/v1/models/iris/predict", "/api/v1/models/iris/versions/1/predict", "/predict"])
def test_a_disabled_model_is_404(api_client: Any, iris_version: Any, path: str) -> None:
    """Disabling a model makes every predict path for it 404, including the seed's /predict when it is the default."""
    # given
    iris_version.model.is_enabled = False
    iris_version.model.save()
    # when
    response = api_client.post(path, {"features": ROW}, format="json")
    # then
    assert_json_error(response, 404, "not_found")
    assert Prediction.objects.count() == 0


@pytest.mark.django_db
def test_seed_predict_without_a_default_model_is_404(api_client: Any, register_iris: Any) -> None:
    """With models registered but none marked default, /predict says so with a 404."""
    # given
    register_iris(default=False)
    # when
    response = api_client.post("/predict", {"features": ROW}, format="json")
    # then
    assert "No default model" in assert_json_error(response, 404, "not_found")["message"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "code"),
    [
        ("get", "/predict", {}, 405, "method_not_allowed"),
        (
            "put",
            "/api/v1/models/iris/predict",
            {"data": {"features": ROW}, "format": "json"},
            405,
            "method_not_allowed",
        ),
        ("get", "/api/v1/feedback", {}, 401, "not_authenticated"),
        ("get", "/api/v1/no-such-endpoint", {}, 404, "not_found"),
        ("get", "/nowhere", {}, 404, "not_found"),
        (
            "post",
            "/predict",
            {"data": "features=1,2,3,4", "content_type": "application/x-www-form-urlencoded"},
            415,
            "unsupported_media_type",
        ),
        ("post", "/predict", {"data": "5.1 3.5 1.4 0.2", "content_type": "text/plain"}, 415, "unsupported_media_type"),
    ],
)
def test_method_path_and_media_type_errors_are_json(
    api_client: Any, iris_version: Any, method: str, path: str, kwargs: dict[str, Any], status: int, code: str
) -> None:
    """Wrong methods, unknown paths and non-JSON bodies answer the JSON error shape, and log nothing."""
    # when
    response = getattr(api_client, method)(path, **kwargs)
    # then
    assert_json_error(response, status, code)
    assert Prediction.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"instances": [ROW, ROW, [1, 2, 3, "NaN"]]}, "row 2: feature 'petal_width' must be a number"),
        ({"instances": [ROW, None]}, "row 1: a row must be a list"),
        ({"instances": [ROW, [1, 2, 3, [4]]]}, "row 1: feature 'petal_width' must be a number"),
        ({"features": {"sepal_length": "5.1", "sepal_width": 1, "petal_length": 1, "petal_width": 1}}, "sepal_length"),
        ({"features": None}, "a row must be"),
        ({"instances": {"0": ROW}}, '"instances" must be a list'),
        ({}, "exactly one key"),
    ],
)
def test_more_bad_rows_name_the_row_and_feature(api_client: Any, iris_version: Any, body: Any, fragment: str) -> None:
    """Batches with one bad row, numbers sent as strings, overflowing numbers and null rows are 400s that say where;
    none of the good rows of a batch is logged."""
    # when
    response = api_client.post("/api/v1/models/iris/predict", body, format="json")
    # then
    assert fragment in assert_json_error(response, 400, "invalid_input")["message"]
    assert Prediction.objects.count() == 0


@pytest.mark.django_db
def test_an_unreadable_stored_artifact_is_a_503_json_error(api_client: Any, iris_version: Any) -> None:
    """When the stored artifact is gone, predict answers 503 model_unavailable (JSON), counts an error, logs nothing."""
    # given
    iris_version.artifact.storage.delete(iris_version.artifact.name)
    before = sample("ml_prediction_requests_total", {"model_name": "iris", "model_version": "1", "status": "error"})
    # when
    response = api_client.post("/predict", {"features": ROW}, format="json")
    # then
    assert_json_error(response, 503, "model_unavailable")
    assert Prediction.objects.count() == 0
    after = sample("ml_prediction_requests_total", {"model_name": "iris", "model_version": "1", "status": "error"})
    assert after - before == 1


@pytest.mark.django_db
def test_an_integer_beyond_float_range_is_a_400(api_client: Any, iris_version: Any) -> None:
    """A 400-digit integer cannot become a float: 400 naming the feature, not a 500, and nothing logged."""
    body = b'{"instances": [[1, 2, 3, 4], [1, 2, 3, 1' + b"0" * 400 + b"]]}"
    response = api_client.generic("POST", "/predict", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["details"] == {"field": "petal_width", "row": 1}
    assert Prediction.objects.count() == 0
