"""Retention of the prediction log: old predictions go by primary-key range in bounded batches, newer ones stay, the
dry run only counts; `manage.py prune_history` and the hourly beat task cover every table; the duplicate index on
the foreign key is gone."""

from __future__ import annotations

import io
import os
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from alerts_config.models import AlertEvent
from mlmonitor.celery import app
from predictions.ids import uuid7_floor
from predictions.models import ModelVersion, Prediction
from predictions.services import prediction_prune
from predictions.tasks import HISTORY_PRUNE

pytestmark = pytest.mark.django_db

SCHEDULED_TASK_NAMES = {"retention: prune predictions, drift runs and alert events": "predictions.tasks.history_prune"}


def id_at(moment: datetime) -> uuid.UUID:
    """A UUIDv7 created at `moment` (random low bits, as uuid7() makes them)."""
    return uuid.UUID(int=uuid7_floor(moment).int | int.from_bytes(os.urandom(7), "big"))


@pytest.fixture
def predictions_at(iris_version: ModelVersion) -> Callable[..., list[uuid.UUID]]:
    """Factory: `count` logged predictions of iris created `days_ago` days ago; returns their ids."""

    def create(count: int, *, days_ago: float) -> list[uuid.UUID]:
        moment = timezone.now() - timedelta(days=days_ago)
        rows = [
            Prediction(
                id=id_at(moment),
                model_version=iris_version,
                features=b"\0" * 32,
                predicted_index=0,
                confidence=0.9,
                probabilities=b"\0" * 24,
                latency_ms=1.0,
            )
            for _ in range(count)
        ]
        Prediction.objects.bulk_create(rows)
        return [row.id for row in rows]

    return create


def test_old_predictions_are_removed_in_bounded_batches_and_newer_ones_stay(
    predictions_at: Callable[..., list[uuid.UUID]],
) -> None:
    """30 predictions 40 days old go in batches of at most 7 (5 batches); those of 29 days and of now stay."""
    # given
    old = predictions_at(30, days_ago=40)
    kept = predictions_at(4, days_ago=29) + predictions_at(3, days_ago=0)
    # when
    result = prediction_prune(retention_days=30, batch_size=7)
    # then
    assert (result.rows, result.batches) == (30, 5)
    assert not Prediction.objects.filter(id__in=old).exists()
    assert set(Prediction.objects.values_list("id", flat=True)) == set(kept)


def test_each_batch_is_one_range_delete_on_the_primary_key(
    predictions_at: Callable[..., list[uuid.UUID]], django_assert_max_num_queries: Any
) -> None:
    """A batch reads the batch's last id and deletes the range up to it: a handful of queries per batch, never one
    per row, and no time column is scanned (the id carries the time)."""
    # given
    predictions_at(20, days_ago=60)
    # when
    # 2 batches of 10 and a last empty look, each: savepoint, read the last id, range delete, release
    with django_assert_max_num_queries(3 * 4) as captured:
        result = prediction_prune(retention_days=30, batch_size=10)
    # then
    assert result.rows == 20
    deletes = [q["sql"] for q in captured.captured_queries if q["sql"].startswith("DELETE")]
    assert deletes and all('"id" <' in sql and "IN (" not in sql for sql in deletes), deletes


def test_dry_run_counts_and_removes_nothing(predictions_at: Callable[..., list[uuid.UUID]]) -> None:
    """The dry run says how many rows would go and leaves them."""
    predictions_at(5, days_ago=31)
    result = prediction_prune(retention_days=30, batch_size=2, dry_run=True)
    assert result.rows == 5 and result.dry_run and Prediction.objects.count() == 5
    assert "would remove 5 rows" in result.describe()


def test_retention_zero_keeps_everything(predictions_at: Callable[..., list[uuid.UUID]]) -> None:
    """PREDICTION_RETENTION_DAYS=0 means keep forever."""
    predictions_at(3, days_ago=4000)
    result = prediction_prune(retention_days=0, batch_size=2)
    assert result.rows == 0 and Prediction.objects.count() == 3 and "kept forever" in result.describe()


def test_the_command_reports_every_table_and_the_dry_run_removes_nothing(
    settings: Any, predictions_at: Callable[..., list[uuid.UUID]]
) -> None:
    """`prune_history --dry-run` lists what each table would lose; without it the rows go."""
    # given
    settings.PREDICTION_RETENTION_DAYS, settings.ALERT_EVENT_RETENTION_DAYS = 30, 180
    predictions_at(6, days_ago=31)
    predictions_at(2, days_ago=1)
    event = AlertEvent.objects.create(fingerprint="f1", alertname="X", status="resolved", starts_at=timezone.now())
    AlertEvent.objects.filter(pk=event.pk).update(updated_at=timezone.now() - timedelta(days=200))
    dry, real = io.StringIO(), io.StringIO()
    # when
    call_command("prune_history", "--dry-run", stdout=dry)
    counts_after_dry_run = (Prediction.objects.count(), AlertEvent.objects.count())
    call_command("prune_history", stdout=real)
    # then
    lines = dry.getvalue().splitlines()
    assert lines[0].startswith("predictions_prediction: would remove 6 rows older than")
    assert lines[1].startswith("drift_driftrun: would remove 0 rows") and "latest run of each model is kept" in lines[1]
    assert lines[2].startswith("alerts_config_alertevent: would remove 1 rows")
    assert counts_after_dry_run == (8, 1)
    assert "predictions_prediction: removed 6 rows" in real.getvalue()
    assert (Prediction.objects.count(), AlertEvent.objects.count()) == (2, 0)


def test_scheduled_task_names_are_pinned() -> None:
    """The data migration's hourly periodic task points at a registered task name, with an expiry."""
    assert HISTORY_PRUNE == "predictions.tasks.history_prune"
    for name, task in SCHEDULED_TASK_NAMES.items():
        periodic = PeriodicTask.objects.get(name=name)
        assert periodic.task == task and periodic.enabled
        assert periodic.interval.every == 1 and periodic.interval.period == "hours"
        assert periodic.expire_seconds is not None and periodic.expire_seconds < 3600
        assert task in app.tasks


def test_the_task_prunes_and_reports_per_table(settings: Any, predictions_at: Callable[..., list[uuid.UUID]]) -> None:
    """The beat task runs the same pruning and returns what each table lost."""
    from predictions.tasks import history_prune

    predictions_at(3, days_ago=45)
    outcome = history_prune()
    assert [entry["table"] for entry in outcome] == [
        "predictions_prediction",
        "drift_driftrun",
        "alerts_config_alertevent",
    ]
    assert outcome[0]["rows"] == 3 and Prediction.objects.count() == 0


def test_the_version_foreign_key_has_no_index_of_its_own() -> None:
    """Only the composite (model_version, id) index starts with model_version_id: a second index on the same
    first column costs space and insert time for nothing."""
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, Prediction._meta.db_table)
    indexes = {name: c["columns"] for name, c in constraints.items() if c["index"] and not c["primary_key"]}
    leading = sorted(columns for columns in indexes.values() if columns and columns[0] == "model_version_id")
    assert leading == [["model_version_id", "id"], ["model_version_id", "labelled_at"]], indexes
