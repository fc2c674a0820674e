"""An unreachable database (a PostgreSQL URL on a closed port, an SQLite file that cannot be opened) answers a fast
JSON 503 `database_unavailable` with Retry-After, counts the failed predict, and the service recovers by itself."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from predictions.models import ModelVersion
from tests.conftest import ROW
from tests.exposition import Exposition
from tests.outages import database_unreachable

pytestmark = pytest.mark.django_db(transaction=True)


def assert_database_unavailable(response: Any) -> None:
    """The 503 of an unreachable database: the JSON error shape, its code and a Retry-After header."""
    assert response.status_code == 503, response.content
    assert response.json()["error"]["code"] == "database_unavailable"
    assert int(response["Retry-After"]) > 0


def errors_counted(api_client: Any, **labels: str) -> float:
    """ml_prediction_requests_total{status="error", **labels} as /metrics shows it now."""
    response = api_client.get("/metrics")
    assert response.status_code == 200
    return Exposition.parse(response.content).value("ml_prediction_requests_total", status="error", **labels) or 0.0


@pytest.mark.parametrize("path", ["/predict", "/api/v1/models/iris/predict", "/api/v1/models/iris/versions/1/predict"])
def test_predict_answers_503_while_the_database_is_down_and_recovers(
    api_client: Any, iris_version: ModelVersion, path: str
) -> None:
    """Each predict path: 503 database_unavailable with Retry-After, within a second; 200 again once it is back."""
    # given
    assert api_client.post(path, {"features": ROW}, format="json").status_code == 200
    # when
    with database_unreachable():
        started = time.monotonic()
        response = api_client.post(path, {"features": ROW}, format="json")
        elapsed = time.monotonic() - started
    # then
    assert_database_unavailable(response)
    assert elapsed < 1.0
    assert api_client.post(path, {"features": ROW}, format="json").status_code == 200


def test_failed_predicts_are_counted_with_the_labels_known(api_client: Any, iris_version: ModelVersion) -> None:
    """Every predict that fails on the database counts as an error: by model name, version "unknown" when it was not
    resolved, the version of the URL when named; the default path counts under "unknown"."""
    # given
    before = {
        "named": errors_counted(api_client, model_name="iris", model_version="unknown"),
        "versioned": errors_counted(api_client, model_name="iris", model_version="1"),
        "default": errors_counted(api_client, model_name="unknown", model_version="unknown"),
    }
    # when
    with database_unreachable():
        for _ in range(3):
            assert_database_unavailable(
                api_client.post("/api/v1/models/iris/predict", {"features": ROW}, format="json")
            )
        assert_database_unavailable(
            api_client.post("/api/v1/models/iris/versions/1/predict", {"features": ROW}, format="json")
        )
        assert_database_unavailable(api_client.post("/predict", {"features": ROW}, format="json"))
    # then
    assert errors_counted(api_client, model_name="iris", model_version="unknown") - before["named"] == 3
    assert errors_counted(api_client, model_name="iris", model_version="1") - before["versioned"] == 1
    assert errors_counted(api_client, model_name="unknown", model_version="unknown") - before["default"] == 1


def test_an_unknown_model_is_not_counted(api_client: Any, iris_version: ModelVersion) -> None:
    """A client's error before resolution (404: no such model) makes no series: names nobody registered stay out."""
    # when
    response = api_client.post("/api/v1/models/nosuch/predict", {"features": ROW}, format="json")
    # then
    assert response.status_code == 404
    scraped = Exposition.parse(api_client.get("/metrics").content)
    assert all(serie.get("model_name") != "nosuch" for serie in scraped.series("ml_prediction_requests_total"))


def test_token_endpoints_and_reads_answer_503(api_client: Any, token_client: Any, iris_version: ModelVersion) -> None:
    """Authentication itself reads the database: a token write and an open read both answer the 503."""
    # when
    with database_unreachable():
        feedback = token_client.post("/api/v1/feedback", [], format="json")
        models = api_client.get("/api/v1/models")
    # then
    assert_database_unavailable(feedback)
    assert_database_unavailable(models)


def test_a_plain_django_view_answers_503(iris_version: ModelVersion) -> None:
    """A view outside DRF (the dashboard, behind a login that reads the session and user) answers the same 503."""
    # given
    user = get_user_model().objects.create_user(username="viewer", password="x-not-used", is_staff=True)
    client = Client()
    client.force_login(user)
    assert client.get("/dashboard/").status_code == 200
    # when
    with database_unreachable():
        response = client.get("/dashboard/")
    # then
    assert_database_unavailable(response)


def test_the_helper_for_plain_views_maps_database_errors_only() -> None:
    """error_response_for: a database error (as Django raises it) is the JSON 503 with Retry-After; an
    ApplicationError is its own answer; anything else is not ours to answer (None: it stays a 500)."""
    from django.db import InterfaceError, OperationalError

    from mlmonitor.errors import ApplicationError, error_response_for

    for error in (OperationalError("connection refused"), InterfaceError("connection already closed")):
        response = error_response_for(error)
        assert response is not None
        assert response.status_code == 503
        assert json.loads(response.content)["error"]["code"] == "database_unavailable"
        assert int(response["Retry-After"]) > 0
    own = error_response_for(ApplicationError("gone", code="not_found", status=404))
    assert own is not None and own.status_code == 404
    assert error_response_for(ValueError("a bug")) is None


def test_predict_answers_503_when_the_prediction_log_stays_locked(
    api_client: Any, iris_version: ModelVersion, settings: Any
) -> None:
    """A prediction log locked by another session (a migration, VACUUM FULL: ACCESS EXCLUSIVE) fails a predict with
    503 database_unavailable once DATABASE_LOCK_TIMEOUT_SECONDS has passed (PostgreSQL's lock_timeout), as SQLite's
    busy timeout does; without it the request waited as long as the lock was held. Nothing is stored, and predicts
    succeed again once the lock is gone."""
    import threading

    from django.db import connection, connections

    from predictions.models import Prediction

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's lock_timeout; SQLite has its busy timeout (SQLITE_BUSY_TIMEOUT_SECONDS)")
    # given: this thread's next connection with a 1 s lock timeout, another session holding the table for 20 s
    options = connection.settings_dict["OPTIONS"]
    assert "-c lock_timeout=20000" in options["options"]  # the default
    options["options"] = options["options"].replace("lock_timeout=20000", "lock_timeout=1000")
    connection.close()
    assert api_client.post("/predict", {"features": ROW}, format="json").status_code == 200
    stored = Prediction.objects.count()
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with connections["default"].cursor() as cursor:
                cursor.execute("BEGIN")
                cursor.execute(f"LOCK TABLE {Prediction._meta.db_table} IN ACCESS EXCLUSIVE MODE")
                locked.set()
                release.wait(timeout=20)
                cursor.execute("ROLLBACK")
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold)
    try:
        holder.start()
        assert locked.wait(timeout=10)
        # when
        started = time.monotonic()
        response = api_client.post("/predict", {"features": ROW}, format="json")
        elapsed = time.monotonic() - started
    finally:
        release.set()
        holder.join(timeout=30)
        options["options"] = options["options"].replace("lock_timeout=1000", "lock_timeout=20000")
        connection.close()
    # then
    assert_database_unavailable(response)
    assert elapsed < 5.0
    assert Prediction.objects.count() == stored
    assert api_client.post("/predict", {"features": ROW}, format="json").status_code == 200
