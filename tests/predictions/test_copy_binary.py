"""Large batches are logged with a numpy-built binary COPY (predictions/copy_binary.py): the stored rows must be
exactly what the row-by-row INSERT stores for the same input."""

from __future__ import annotations

import time
import uuid
from typing import Any

import numpy as np
import psycopg
import pytest
from django.db import IntegrityError, connection, transaction

from predictions import services
from predictions.coalescing import ScoringJob
from predictions.copy_binary import prediction_copy_buffer
from predictions.encoding import vector_from_bytes
from predictions.ids import uuid7_batch
from predictions.models import ModelVersion, Prediction


def stored(prediction_ids: list[str]) -> list[tuple[Any, ...]]:
    by_id = {
        str(p.id): p
        for p in Prediction.objects.filter(id__in=prediction_ids).only(
            "id", "model_version_id", "features", "predicted_index", "confidence", "probabilities", "latency_ms"
        )
    }
    return [
        (
            by_id[i].model_version_id,
            vector_from_bytes(by_id[i].features).tolist(),
            by_id[i].predicted_index,
            by_id[i].confidence,
            vector_from_bytes(by_id[i].probabilities).tolist(),
        )
        for i in prediction_ids
    ]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="binary COPY is PostgreSQL's; SQLite uses executemany")
@pytest.mark.django_db(transaction=True)
def test_a_copied_batch_stores_what_the_row_insert_stores(api_client: Any, iris_version: ModelVersion) -> None:
    """600 rows (above the 500-row COPY threshold) and the same first 3 rows as a small batch: same stored values,
    same answers, one row per answered prediction, latencies stored."""
    # given
    rng = np.random.default_rng(3)
    rows = np.round(rng.uniform([4, 2, 1, 0.1], [8, 4.5, 7, 2.5], size=(600, 4)), 1).tolist()
    # when
    large = api_client.post("/predict", {"instances": rows}, format="json")
    small = api_client.post("/predict", {"instances": rows[:3]}, format="json")
    # then
    assert large.status_code == small.status_code == 200
    large_ids = [p["prediction_id"] for p in large.json()["predictions"]]
    small_ids = [p["prediction_id"] for p in small.json()["predictions"]]
    assert Prediction.objects.count() == 603
    assert stored(large_ids[:3]) == stored(small_ids)
    assert [p["confidence"] for p in large.json()["predictions"][:3]] == [
        p["confidence"] for p in small.json()["predictions"]
    ]
    copied = stored(large_ids)
    assert [r[1] for r in copied] == rows
    assert {r[0] for r in copied} == {iris_version.pk}
    latencies = Prediction.objects.filter(id__in=large_ids).values_list("latency_ms", flat=True)
    assert len(set(latencies)) == 1 and next(iter(latencies)) > 0


def test_the_buffer_refuses_columns_of_different_lengths() -> None:
    """A shape mismatch is an error, never a misaligned COPY stream."""
    with pytest.raises(ValueError, match="different lengths"):
        prediction_copy_buffer(
            ids=uuid.uuid4().bytes,
            version_id=1,
            features=np.zeros((2, 4)),
            predicted=np.zeros(2, dtype=np.intp),
            confidences=np.zeros(2),
            probabilities=np.zeros((2, 3)),
            latencies_ms=np.zeros(2),
        )


def failing_copy(version: ModelVersion) -> None:
    """Log 600 scored rows whose last id repeats the first: PostgreSQL refuses the COPY at its last row."""
    loaded = services.model_load(model_version=version)
    rows = np.round(np.random.default_rng(5).uniform([4, 2, 1, 0.1], [8, 4.5, 7, 2.5], size=(600, 4)), 1)
    job = ScoringJob(model_input=rows, log_matrix=rows, started=time.perf_counter())
    ids = uuid7_batch(600)
    ids[-1] = ids[0]
    batch = services._ScoredBatch.of([(job, loaded.predict_proba(rows))])
    services._prediction_rows_copy(batch, version.pk, ids, time.perf_counter())


@pytest.mark.skipif(connection.vendor != "postgresql", reason="binary COPY is PostgreSQL's; SQLite uses executemany")
@pytest.mark.django_db(transaction=True)
def test_a_copy_refused_at_its_last_row_writes_nothing(iris_version: ModelVersion) -> None:
    """Outside a transaction the COPY is its own: refused at row 600 (Django's IntegrityError, from the driver's
    error), none of the 599 rows before it stays, and the connection is back in autocommit, usable."""
    # when
    with pytest.raises(IntegrityError) as refused:
        failing_copy(iris_version)
    assert isinstance(refused.value.__cause__, psycopg.errors.UniqueViolation)
    # then
    assert Prediction.objects.count() == 0
    assert connection.get_autocommit() and not connection.in_atomic_block


@pytest.mark.skipif(connection.vendor != "postgresql", reason="binary COPY is PostgreSQL's; SQLite uses executemany")
@pytest.mark.django_db
def test_a_copy_refused_inside_a_transaction_leaves_that_transaction_usable(iris_version: ModelVersion) -> None:
    """Inside a caller's transaction the COPY runs in a savepoint: its failure rolls back its own rows only."""
    # given
    with transaction.atomic():
        Prediction.objects.create(
            model_version=iris_version,
            features=b"",
            predicted_index=0,
            confidence=1.0,
            probabilities=b"",
            latency_ms=1.0,
        )
        # when
        with pytest.raises(IntegrityError):
            failing_copy(iris_version)
        # then
        assert Prediction.objects.count() == 1
