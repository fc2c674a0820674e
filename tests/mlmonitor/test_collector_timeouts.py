"""/metrics while the tables the collectors read are locked (mlmonitor/metrics.py: CachedCollector,
database_time_bounded): the scrape answers within a few seconds with the last values, marked stale, instead of
waiting for the lock past Prometheus' scrape timeout."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from drift.models import DriftRun, FeatureDriftResult
from mlmonitor import metrics
from predictions.models import ModelVersion
from tests.exposition import Exposition

LOCK_SECONDS = 8.0  # the lock holder gives up after this, so a scrape that waits for it cannot hang the suite
DB_TIMEOUT = 0.5


@contextlib.contextmanager
def tables_locked(tables: Sequence[str]) -> Iterator[None]:
    """Hold a lock on `tables` from another connection, as a migration or a long write would, for the block (at most
    LOCK_SECONDS): ACCESS EXCLUSIVE on PostgreSQL, an open write transaction on SQLite."""
    settings_dict = connection.settings_dict
    if connection.vendor == "postgresql":
        import psycopg

        other: Any = psycopg.connect(
            dbname=settings_dict["NAME"],
            host=settings_dict["HOST"] or None,
            port=settings_dict["PORT"] or None,
            user=settings_dict["USER"] or None,
            password=settings_dict["PASSWORD"] or None,
        )
        other.execute("LOCK TABLE " + ", ".join(tables) + " IN ACCESS EXCLUSIVE MODE")
    else:
        other = sqlite3.connect(settings_dict["NAME"], uri=True, timeout=1, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")
        for table in tables:
            other.execute(f"UPDATE {table} SET id = id")
    released = threading.Event()

    def release() -> None:
        if not released.is_set():
            released.set()
            other.rollback()
            other.close()

    timer = threading.Timer(LOCK_SECONDS, release)
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        release()


@pytest.fixture
def scrape(api_client: Any) -> Callable[[], tuple[Exposition, float]]:
    """Factory: GET /metrics; the parsed answer and how long it took (seconds)."""

    def run() -> tuple[Exposition, float]:
        started = time.monotonic()
        response = api_client.get("/metrics")
        elapsed = time.monotonic() - started
        assert response.status_code == 200
        return Exposition.parse(response.content), elapsed

    return run


@pytest.fixture
def drift_run(iris_version: ModelVersion) -> DriftRun:
    """A persisted drift run of iris with one drifted feature (score 0.42) and a prediction drift of 0.2."""
    run = DriftRun.objects.create(
        model=iris_version.model,
        model_version=iris_version,
        status=DriftRun.STATUS_OK,
        computed_at=timezone.now(),
        duration_seconds=1.0,
        window_size=500,
        feature_count=1,
        drifted_count=1,
        prediction_score=0.2,
    )
    FeatureDriftResult.objects.create(
        run=run, feature_name="petal_length", feature_type="numeric", test="ks", status="ok", score=0.42, threshold=0.15
    )
    return run


@pytest.mark.django_db(transaction=True)
def test_metrics_answer_fast_with_the_last_values_while_drift_tables_are_locked(
    settings: Any, scrape: Callable[[], tuple[Exposition, float]], drift_run: DriftRun
) -> None:
    """With the drift tables locked by another connection, /metrics answers within a few seconds (the collector's
    read is cut at METRICS_COLLECTOR_DB_TIMEOUT_SECONDS) and still shows the drift values of the last good read,
    marked by ml_metrics_collector_stale and counted in ml_metrics_collector_errors_total; once the lock is gone the
    next scrape is fresh again."""
    # given: a scrape that read the drift run
    settings.METRICS_COLLECTOR_DB_TIMEOUT_SECONDS = DB_TIMEOUT
    drift = {"model_name": "iris", "feature_name": "petal_length"}
    before, _ = scrape()
    assert before.value("ml_feature_drift_score", **drift) == 0.42
    assert before.value("ml_metrics_collector_stale", collector="DriftCollector") == 0
    errors_before = before.get("ml_metrics_collector_errors_total", collector="DriftCollector")
    # when
    with tables_locked(["drift_driftrun", "drift_featuredriftresult"]):
        during, elapsed = scrape()
    after, _ = scrape()
    # then
    assert elapsed < LOCK_SECONDS / 2, f"/metrics waited {elapsed:.1f} s for the lock"
    assert during.value("ml_feature_drift_score", **drift) == 0.42
    assert during.value("ml_prediction_drift_score", model_name="iris") == 0.2
    assert during.value("ml_model_info", model_name="iris", model_version="1", framework="sklearn") == 1
    assert during.value("ml_metrics_collector_stale", collector="DriftCollector") == 1
    assert during.value("ml_metrics_collector_stale", collector="ModelRegistryCollector") == 0
    assert after.value("ml_metrics_collector_stale", collector="DriftCollector") == 0
    # (counters are collected before the scrape-time collectors run: the failure shows from the next scrape on)
    assert after.get("ml_metrics_collector_errors_total", collector="DriftCollector") == errors_before + 1
    assert after.value("ml_feature_drift_score", **drift) == 0.42


@pytest.mark.django_db(transaction=True)
def test_a_collector_that_never_read_serves_nothing_but_still_answers(
    settings: Any,
    scrape: Callable[[], tuple[Exposition, float]],
    drift_run: DriftRun,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A process whose first drift read hits the lock has no last values: the drift series are absent (not zero),
    the scrape still answers fast and says the collector is stale."""
    # given: a fresh set of collectors in this process
    settings.METRICS_COLLECTOR_DB_TIMEOUT_SECONDS = DB_TIMEOUT
    monkeypatch.setattr(metrics, "_collectors", None)
    # when
    with tables_locked(["drift_driftrun", "drift_featuredriftresult"]):
        during, elapsed = scrape()
    # then
    assert elapsed < LOCK_SECONDS / 2
    assert during.series("ml_feature_drift_score") == []
    assert during.value("ml_metrics_collector_stale", collector="DriftCollector") == 1
