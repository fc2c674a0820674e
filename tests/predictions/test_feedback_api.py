"""Feedback: true labels for logged predictions, one or in bulk, token only, all or nothing; and the accuracy and
F1 gauges that /metrics derives from them."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from sklearn.metrics import accuracy_score, f1_score

from predictions.models import ModelVersion, Prediction
from tests.conftest import iris_demo
from tests.exposition import Exposition

CLASSES = ["setosa", "versicolor", "virginica"]


@pytest.fixture
def predict(api_client: APIClient, iris_version: ModelVersion) -> Callable[[int], list[dict[str, Any]]]:
    """Factory: score the first n iris test rows as one batch; returns the answers (ids in creation order)."""

    def run(count: int) -> list[dict[str, Any]]:
        rows = iris_demo().x_test[:count].tolist()
        response = api_client.post("/api/v1/models/iris/predict", {"instances": rows}, format="json")
        assert response.status_code == 200
        return response.json()["predictions"]

    return run


def labels_by_id() -> dict[str, str | None]:
    """{prediction id: true label or None} for every logged prediction."""
    return {str(row.id): row.true_label for row in Prediction.objects.select_related("model_version")}


@pytest.mark.django_db
def test_single_feedback_stores_the_label(token_client: APIClient, predict: Any) -> None:
    """POST {"label"} to a prediction's feedback URL stores the true label and when it came."""
    # given
    answer = predict(1)[0]
    # when
    response = token_client.post(
        f"/api/v1/predictions/{answer['prediction_id']}/feedback", {"label": "virginica"}, format="json"
    )
    # then
    assert response.status_code == 200
    assert response.json() == {"updated": 1}
    row = Prediction.objects.select_related("model_version").get(id=answer["prediction_id"])
    assert row.true_label == "virginica" and row.labelled_at is not None


@pytest.mark.django_db
@pytest.mark.parametrize("keyword", ["Bearer", "Token", "bearer", "token"])
def test_both_token_keywords_are_accepted(api_client: APIClient, predict: Any, keyword: str) -> None:
    """`Authorization: Bearer <key>` (Alertmanager's form) and `Token <key>` (DRF's) both authenticate."""
    # given
    answer = predict(1)[0]
    user = get_user_model().objects.create_user(username="labeller")
    key = Token.objects.create(user=user).key
    api_client.credentials(HTTP_AUTHORIZATION=f"{keyword} {key}")
    # when
    response = api_client.post(
        f"/api/v1/predictions/{answer['prediction_id']}/feedback", {"label": "setosa"}, format="json"
    )
    # then
    assert response.status_code == 200
    assert labels_by_id()[answer["prediction_id"]] == "setosa"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer not-a-valid-key", "Token not-a-valid-key", "Basic dXNlcjpwdw==", "Bearer", "Bearer a b"],
    ids=["none", "wrong-bearer", "wrong-token", "basic", "keyword-only", "two-keys"],
)
@pytest.mark.parametrize("bulk", [False, True], ids=["single", "bulk"])
def test_feedback_without_a_valid_token_is_401_and_writes_nothing(
    api_client: APIClient, predict: Any, authorization: str | None, bulk: bool
) -> None:
    """No token, a wrong token or another scheme answers 401 in the JSON error shape; no label is stored."""
    # given
    answer = predict(1)[0]
    if authorization is not None:
        api_client.credentials(HTTP_AUTHORIZATION=authorization)
    # when
    if bulk:
        body: Any = [{"prediction_id": answer["prediction_id"], "label": "setosa"}]
        response = api_client.post("/api/v1/feedback", body, format="json")
    else:
        url = f"/api/v1/predictions/{answer['prediction_id']}/feedback"
        response = api_client.post(url, {"label": "setosa"}, format="json")
    # then
    assert response.status_code == 401
    error = response.json()["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["code"] in {"not_authenticated", "authentication_failed"}
    assert labels_by_id() == {answer["prediction_id"]: None}


@pytest.mark.django_db
def test_relabelling_replaces_the_label(token_client: APIClient, predict: Any) -> None:
    """A second label for the same prediction replaces the first, by either endpoint."""
    # given
    answer = predict(1)[0]
    url = f"/api/v1/predictions/{answer['prediction_id']}/feedback"
    assert token_client.post(url, {"label": "setosa"}, format="json").status_code == 200
    # when
    first = token_client.post(url, {"label": "versicolor"}, format="json")
    after_single = labels_by_id()[answer["prediction_id"]]
    second = token_client.post(
        "/api/v1/feedback", [{"prediction_id": answer["prediction_id"], "label": "virginica"}], format="json"
    )
    # then
    assert first.status_code == second.status_code == 200
    assert after_single == "versicolor"
    assert labels_by_id() == {answer["prediction_id"]: "virginica"}


@pytest.mark.django_db
def test_bulk_feedback_labels_every_item(token_client: APIClient, predict: Any) -> None:
    """POST /api/v1/feedback with a list stores each label on its own prediction."""
    # given
    answers = predict(3)
    wanted = {answer["prediction_id"]: label for answer, label in zip(answers, CLASSES, strict=True)}
    # when
    response = token_client.post(
        "/api/v1/feedback", [{"prediction_id": pid, "label": label} for pid, label in wanted.items()], format="json"
    )
    # then
    assert response.status_code == 200
    assert response.json() == {"updated": 3}
    assert labels_by_id() == wanted


@pytest.mark.django_db
def test_an_unknown_id_in_a_bulk_is_404_and_nothing_is_written(token_client: APIClient, predict: Any) -> None:
    """One unknown prediction id rejects the whole request: the valid items before and after it stay unlabelled."""
    # given
    answers = predict(2)
    missing = str(uuid.uuid4())
    body = [
        {"prediction_id": answers[0]["prediction_id"], "label": "setosa"},
        {"prediction_id": missing, "label": "setosa"},
        {"prediction_id": answers[1]["prediction_id"], "label": "virginica"},
    ]
    # when
    response = token_client.post("/api/v1/feedback", body, format="json")
    # then
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "not_found" and missing in error["message"]
    assert error["details"] == {"item": 1, "prediction_id": missing}
    assert set(labels_by_id().values()) == {None}


@pytest.mark.django_db
def test_an_unknown_id_on_the_single_endpoint_is_404(token_client: APIClient, predict: Any) -> None:
    """Labelling a prediction that does not exist answers 404 and writes nothing."""
    # given
    answer = predict(1)[0]
    missing = str(uuid.uuid4())
    # when
    response = token_client.post(f"/api/v1/predictions/{missing}/feedback", {"label": "setosa"}, format="json")
    # then
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert labels_by_id() == {answer["prediction_id"]: None}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path_id", "body", "code", "fragment"),
    [
        (None, {"label": "rose"}, "invalid_label", "not a class"),
        (None, {"label": ""}, "invalid_label", "not a class"),
        (None, {"label": None}, "invalid_input", "label must be a string"),
        (None, {"label": 1.5}, "invalid_input", "label must be a string"),
        (None, {"label": True}, "invalid_input", "label must be a string"),
        (None, {"label": ["setosa"]}, "invalid_input", "label must be a string"),
        (None, {}, "invalid_input", '{"label": ...}'),
        (None, {"label": "setosa", "extra": 1}, "invalid_input", '{"label": ...}'),
        (None, ["setosa"], "invalid_input", '{"label": ...}'),
        (None, "setosa", "invalid_input", '{"label": ...}'),
        ("not-a-uuid", {"label": "setosa"}, "invalid_input", "not a UUID"),
    ],
)
def test_bad_single_feedback_is_400_and_writes_nothing(
    token_client: APIClient, predict: Any, path_id: str | None, body: Any, code: str, fragment: str
) -> None:
    """A label outside the model's classes, a label of the wrong type, a wrong body shape or a bad UUID is a 400."""
    # given
    answer = predict(1)[0]
    # when
    response = token_client.post(
        f"/api/v1/predictions/{path_id or answer['prediction_id']}/feedback", body, format="json"
    )
    # then
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == code
    assert fragment in error["message"]
    assert labels_by_id() == {answer["prediction_id"]: None}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("make_body", "code", "fragment"),
    [
        (lambda ids: {"prediction_id": ids[0], "label": "setosa"}, "invalid_input", "JSON list"),
        (lambda ids: [], "empty_batch", "empty"),
        (lambda ids: [{"prediction_id": ids[0]}], "invalid_input", "item 0"),
        (lambda ids: [{"prediction_id": ids[0], "label": "setosa", "x": 1}], "invalid_input", "item 0"),
        (lambda ids: ["setosa"], "invalid_input", "item 0"),
        (
            lambda ids: [{"prediction_id": ids[0], "label": "setosa"}, {"prediction_id": "nope", "label": "setosa"}],
            "invalid_input",
            "item 1: prediction_id 'nope' is not a UUID",
        ),
        (
            lambda ids: [{"prediction_id": ids[0], "label": "setosa"}, {"prediction_id": ids[1], "label": "rose"}],
            "invalid_label",
            "item 1",
        ),
        (
            lambda ids: [{"prediction_id": ids[0], "label": "setosa"}, {"prediction_id": ids[1], "label": None}],
            "invalid_input",
            "item 1",
        ),
        (
            lambda ids: [{"prediction_id": ids[0], "label": "setosa"}, {"prediction_id": ids[0], "label": "virginica"}],
            "invalid_input",
            "labelled twice",
        ),
        (
            lambda ids: [
                {"prediction_id": ids[0], "label": "setosa"},
                {"prediction_id": ids[0].upper(), "label": "setosa"},
            ],
            "invalid_input",
            "labelled twice",
        ),
    ],
    ids=[
        "object-not-list",
        "empty",
        "no-label",
        "extra-key",
        "not-an-object",
        "bad-uuid",
        "unknown-label",
        "null-label",
        "duplicate",
        "duplicate-other-case",
    ],
)
def test_bad_bulk_feedback_is_400_and_writes_nothing(
    token_client: APIClient, predict: Any, make_body: Callable[[list[str]], Any], code: str, fragment: str
) -> None:
    """Wrong shapes, an empty list, bad ids or labels and duplicates answer 400 naming the item; nothing is stored."""
    # given
    ids = [answer["prediction_id"] for answer in predict(2)]
    # when
    response = token_client.post("/api/v1/feedback", make_body(ids), format="json")
    # then
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == code
    assert fragment in error["message"]
    assert set(labels_by_id().values()) == {None}


@pytest.mark.django_db
def test_a_bulk_over_the_limit_is_400(token_client: APIClient, predict: Any, settings: Any) -> None:
    """More items than FEEDBACK_MAX_BULK answers 400 batch_too_large and stores nothing."""
    # given
    settings.FEEDBACK_MAX_BULK = 2
    ids = [answer["prediction_id"] for answer in predict(3)]
    # when
    response = token_client.post(
        "/api/v1/feedback", [{"prediction_id": pid, "label": "setosa"} for pid in ids], format="json"
    )
    # then
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "batch_too_large"
    assert set(labels_by_id().values()) == {None}


@pytest.mark.django_db
def test_accuracy_and_f1_gauges_match_sklearn_over_the_feedback_window(
    api_client: APIClient, token_client: APIClient, predict: Any, settings: Any
) -> None:
    """With FEEDBACK_WINDOW = 5, /metrics reports sklearn's accuracy and macro F1 over the 5 most recently labelled
    predictions, the count of labelled predictions in the window, and the labelled share of the 5 newest predictions.
    """
    # given: 10 predictions, the 8 oldest labelled one by one (oldest first), then the oldest one relabelled
    settings.FEEDBACK_WINDOW = 5
    answers = predict(10)
    predicted = [answer["prediction"] for answer in answers]
    rng = np.random.default_rng(7)
    truth = [str(label) for label in rng.choice(CLASSES, size=10)]
    truth[0] = "versicolor" if predicted[0] != "versicolor" else "setosa"  # the oldest ones disagree with the model
    truth[1] = "versicolor" if predicted[1] != "versicolor" else "setosa"
    for index in range(8):
        url = f"/api/v1/predictions/{answers[index]['prediction_id']}/feedback"
        assert token_client.post(url, {"label": truth[index]}, format="json").status_code == 200
    truth[0] = predicted[0]
    url = f"/api/v1/predictions/{answers[0]['prediction_id']}/feedback"
    assert token_client.post(url, {"label": truth[0]}, format="json").status_code == 200
    window = [0, 7, 6, 5, 4]  # most recently labelled first
    expected_accuracy = accuracy_score([truth[i] for i in window], [predicted[i] for i in window])
    expected_f1 = f1_score([truth[i] for i in window], [predicted[i] for i in window], average="macro")
    everything = list(range(8))
    assert (expected_accuracy, expected_f1) != (
        accuracy_score([truth[i] for i in everything], [predicted[i] for i in everything]),
        f1_score([truth[i] for i in everything], [predicted[i] for i in everything], average="macro"),
    ), "the data must tell the window apart from all labels"
    # when
    metrics = Exposition.parse(api_client.get("/metrics").content)
    # then
    labels = {"model_name": "iris", "model_version": "1"}
    assert metrics.value("ml_model_accuracy", **labels) == pytest.approx(expected_accuracy)
    assert metrics.value("ml_model_f1_score", **labels) == pytest.approx(expected_f1)
    assert metrics.value("ml_model_labelled_predictions", **labels) == 5
    assert metrics.value("ml_model_label_coverage", **labels) == pytest.approx(3 / 5)  # 5, 6, 7 of 5..9


@pytest.mark.django_db
def test_accuracy_is_absent_until_a_label_arrives(api_client: APIClient, predict: Any) -> None:
    """Without labels there is no accuracy or F1 series (not a misleading 0), and 0 labelled predictions."""
    # given
    predict(3)
    # when
    metrics = Exposition.parse(api_client.get("/metrics").content)
    # then
    labels = {"model_name": "iris", "model_version": "1"}
    assert metrics.value("ml_model_accuracy", **labels) is None
    assert metrics.value("ml_model_f1_score", **labels) is None
    assert metrics.value("ml_model_labelled_predictions", **labels) == 0
    assert metrics.value("ml_model_label_coverage", **labels) == 0
