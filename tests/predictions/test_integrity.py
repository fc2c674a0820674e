"""The prediction log's reference to its model version, kept by triggers (predictions/integrity.py) instead of a
foreign key constraint: every way a prediction is written refuses a version that does not exist, a version's
deletion takes its predictions with it however it is deleted, and its id cannot change under them."""

from __future__ import annotations

import time
import uuid
from typing import Any

import numpy as np
import pytest
from django.db import IntegrityError, connection, transaction

from predictions import services
from predictions.coalescing import ScoringJob
from predictions.models import ModelVersion, Prediction
from tests.conftest import ROW

pytestmark = pytest.mark.django_db

# the message each database gives for a violation of the version check (PostgreSQL: the trigger's own)
VIOLATION = "violates" if connection.vendor == "postgresql" else "FOREIGN KEY constraint failed"


def _missing_version_id() -> int:
    return (ModelVersion.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1000


def _rows(version_id: int, count: int) -> list[tuple[Any, ...]]:
    """Prediction-log rows in services._LOG_COLUMNS order."""
    features, probabilities = np.zeros(4).tobytes(), np.array([0.9, 0.05, 0.05]).tobytes()
    return [(uuid.uuid4(), version_id, features, 0, 0.9, probabilities, 1.0) for _ in range(count)]


def _checks_now() -> None:
    """Run the deferred checks of the current transaction now (PostgreSQL; SQLite's triggers run at once)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


@pytest.mark.parametrize("count", [1, 3, 501], ids=["one-row", "multi-row-insert", "copy-or-executemany"])
def test_rows_of_a_version_that_does_not_exist_are_refused_and_none_is_stored(
    iris_version: ModelVersion, count: int
) -> None:
    # given
    rows = _rows(_missing_version_id(), count)
    # when
    with pytest.raises(IntegrityError, match=VIOLATION), transaction.atomic():
        services._prediction_rows_insert(rows)
    # then
    assert Prediction.objects.count() == 0


def test_a_scored_batch_for_a_version_deleted_meanwhile_is_refused_by_the_binary_copy(
    iris_version: ModelVersion,
) -> None:
    """A process that still holds a version its cache resolved before the version was deleted: the batch's binary
    COPY (over 500 rows, PostgreSQL) or INSERT is refused as a whole, and no row points at nothing."""
    # given: a loaded model and 600 encoded rows, for a version id that no longer exists
    loaded = services.model_load(model_version=iris_version)
    model_input, log_matrix = loaded.encoder.encode_rows([ROW] * 600)
    job = ScoringJob(model_input=model_input, log_matrix=log_matrix, started=time.perf_counter())
    job.model, job.version_id, job.metric_labels = loaded, _missing_version_id(), ("iris", "gone")
    # when
    with pytest.raises(IntegrityError, match=VIOLATION), transaction.atomic():
        services._scoring_batch_process([job])
    # then
    assert job.ids is None
    assert Prediction.objects.count() == 0


def test_a_prediction_moved_to_a_version_that_does_not_exist_is_refused(iris_version: ModelVersion) -> None:
    # given
    services._prediction_rows_insert(_rows(iris_version.pk, 1))
    # when
    with pytest.raises(IntegrityError, match=VIOLATION), transaction.atomic():
        Prediction.objects.update(model_version_id=_missing_version_id())
    # then
    assert Prediction.objects.get().model_version_id == iris_version.pk


def test_a_version_deleted_without_django_takes_its_predictions_with_it(iris_version: ModelVersion) -> None:
    """A DELETE that bypasses Django's cascade leaves no prediction pointing at nothing."""
    # given
    services._prediction_rows_insert(_rows(iris_version.pk, 2))
    # when
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM predictions_modelversion WHERE id = %s", [iris_version.pk])
        _checks_now()
    # then
    assert not ModelVersion.objects.filter(pk=iris_version.pk).exists()
    assert Prediction.objects.count() == 0


def test_a_version_id_cannot_change_under_its_predictions(iris_version: ModelVersion) -> None:
    # given
    services._prediction_rows_insert(_rows(iris_version.pk, 1))
    # when
    with pytest.raises(IntegrityError), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE predictions_modelversion SET id = %s WHERE id = %s", [_missing_version_id(), iris_version.pk]
            )
        _checks_now()
    # then
    assert Prediction.objects.get().model_version_id == iris_version.pk


def test_deleting_a_version_through_django_deletes_its_predictions(iris_version: ModelVersion) -> None:
    # given
    services._prediction_rows_insert(_rows(iris_version.pk, 2))
    # when
    with transaction.atomic():
        iris_version.delete()
        _checks_now()
    # then
    assert Prediction.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_predict_for_a_version_deleted_after_it_was_resolved_answers_as_after_the_deletion(
    api_client: Any, register_iris: Any, settings: Any
) -> None:
    """This process still holds the version it resolved (cached) when an admin deletes it: the log's version check
    refuses the rows, and the request is resolved again: the model's other active version answers (200), a named
    version that is gone is a 404, never a 500 (found by a fresh-user trial: 500 server_error for about half a
    second after a version's deletion under load). Nothing is counted as an error of the deleted version."""
    # given: v1 active and resolved by this process (remembered as in production); v2 registered inactive
    settings.MODEL_REGISTRY_CACHE_SECONDS = 60.0
    first = register_iris(version="1")
    second = register_iris(version="2", activate=False)
    assert api_client.post("/api/v1/models/iris/predict", {"features": ROW}, format="json").json()["version"] == "1"
    assert (
        api_client.post("/api/v1/models/iris/versions/1/predict", {"features": ROW}, format="json").status_code == 200
    )
    errors = version_one_errors(api_client)
    # when: v2 becomes the active version and v1 goes, behind this process' back (no cache forgotten)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE predictions_modelversion SET is_active = false WHERE id = %s", [first.pk])
        cursor.execute("UPDATE predictions_modelversion SET is_active = true WHERE id = %s", [second.pk])
        cursor.execute("DELETE FROM predictions_modelversion WHERE id = %s", [first.pk])
    active = api_client.post("/api/v1/models/iris/predict", {"features": ROW}, format="json")
    named = api_client.post("/api/v1/models/iris/versions/1/predict", {"features": ROW}, format="json")
    # then
    assert active.status_code == 200 and active.json()["version"] == "2"
    assert named.status_code == 404 and named.json()["error"]["code"] == "not_found"
    assert Prediction.objects.filter(model_version_id=first.pk).count() == 0
    assert version_one_errors(api_client) == errors


def version_one_errors(api_client: Any) -> float:
    """ml_prediction_requests_total{status="error"} of iris v1 as /metrics shows it."""
    from tests.exposition import Exposition

    scraped = Exposition.parse(api_client.get("/metrics").content)
    return scraped.value("ml_prediction_requests_total", status="error", model_name="iris", model_version="1") or 0.0
