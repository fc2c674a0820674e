"""mlmonitor.locks.row_lock on PostgreSQL: it orders the writers of what a row guards and blocks nothing else."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection, connections, transaction

from mlmonitor.locks import row_lock
from predictions.models import Prediction


@pytest.mark.django_db(transaction=True)
def test_a_locked_version_still_takes_predictions(iris_version: Any) -> None:
    """While a version's row is locked (a reference upload storing its blobs holds it to its commit), a prediction
    of that version is logged and committed: the lock leaves free the key-share lock that the prediction log's
    version check takes (predictions/integrity.py; before it, the foreign key's check at commit). With FOR UPDATE the
    prediction waited for the upload's commit."""
    from predictions.services import prediction_create

    if connection.vendor != "postgresql":
        pytest.skip("SQLite has no row locks (row_lock does nothing there)")
    # given: another connection holds the version's row lock until released
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                row_lock(type(iris_version), iris_version.pk)
                locked.set()
                release.wait(timeout=60)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold)
    holder.start()
    assert locked.wait(timeout=30)
    answered: list[Any] = []

    def predict() -> None:
        try:
            answered.append(
                prediction_create(model_name="iris", version=None, payload={"features": [5.1, 3.5, 1.4, 0.2]})
            )
        finally:
            connections.close_all()

    # when
    predictor = threading.Thread(target=predict)
    predictor.start()
    predictor.join(timeout=15)
    finished_while_locked = not predictor.is_alive()
    release.set()
    holder.join(timeout=30)
    predictor.join(timeout=30)
    # then
    assert finished_while_locked, "the prediction waited for the version's row lock"
    assert Prediction.objects.filter(pk=answered[0].prediction_ids[0]).exists()
