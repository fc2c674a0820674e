"""Celery drift tasks with a real worker against the real Redis broker, the beat schedule, and the per-model lock."""

from __future__ import annotations

import os
from typing import Any

import pytest
from celery.contrib.testing.worker import start_worker
from celery.result import AsyncResult
from django_celery_beat.models import PeriodicTask

from drift.models import DriftRun
from drift.tasks import COMPUTE_ALL_DRIFT, COMPUTE_DRIFT, _lock, drift_run_compute, drift_runs_queue_due
from mlmonitor.celery import app

SCHEDULED_TASK_NAMES = {"drift: recompute all models": "drift.tasks.compute_all_drift"}


def broker_available() -> bool:
    import redis

    try:
        redis.Redis.from_url(app.conf.broker_url, socket_connect_timeout=1).ping()
    except redis.RedisError:
        return False
    return True


@pytest.fixture
def celery_worker_thread(transactional_db: None) -> Any:
    """A real Celery worker (in a thread of this process) consuming from the real Redis broker."""
    if not broker_available():
        if os.environ.get("MLMONITOR_ALLOW_MISSING_TOOLS") == "1":
            pytest.skip(f"no Redis at {app.conf.broker_url}")
        pytest.fail(f"Redis is needed at {app.conf.broker_url} (scripts/test.sh starts one)")
    app.control.purge()
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10) as worker:
        yield worker


def test_scheduled_task_names_are_pinned(db: None) -> None:
    """The data migration's periodic task points at a registered task name (a rename would orphan the schedule)."""
    assert COMPUTE_ALL_DRIFT == "drift.tasks.compute_all_drift" and COMPUTE_DRIFT == "drift.tasks.compute_drift"
    for name, task in SCHEDULED_TASK_NAMES.items():
        periodic = PeriodicTask.objects.get(name=name)
        assert periodic.task == task and periodic.enabled
        assert periodic.interval.every == 5 and periodic.interval.period == "minutes"
        assert periodic.expire_seconds is not None
        assert task in app.tasks


def test_task_decorator_declares_retries_limits_and_late_ack() -> None:
    """The drift run task is acks_late with soft and hard time limits and retries on transient errors."""
    assert drift_run_compute.acks_late is True
    assert drift_run_compute.soft_time_limit < drift_run_compute.time_limit
    assert drift_run_compute.max_retries == 3 and drift_run_compute.autoretry_for


@pytest.mark.slow
def test_worker_recomputes_drift_queued_from_the_api(
    celery_worker_thread: Any, iris_reference: Any, send_iris: Any, token_client: Any, api_client: Any
) -> None:
    """POST drift/run answers 202 with a task id; the real worker computes the run; shifted features flag."""
    # given: traffic like the reference
    send_iris(300)
    # when
    response = token_client.post("/api/v1/models/iris/drift/run")
    # then
    assert response.status_code == 202
    result = AsyncResult(response.json()["task_id"], app=app).get(timeout=60)
    assert result["status"] == "ok" and result["drifted"] == 0
    # given: two shifted features fill the window
    send_iris(1000, shift={2: 2.0, 3: 1.0}, seed=3)
    # when: beat's task fans out to every model with a reference
    queued = drift_runs_queue_due.delay().get(timeout=60)
    assert queued == [iris_reference.model_version.model_id]
    # then
    for _ in range(120):
        if DriftRun.objects.count() == 2:
            break
        import time

        time.sleep(0.25)
    body = api_client.get("/api/v1/models/iris/drift").json()
    assert {f["feature"] for f in body["features"] if f["drifted"]} == {"petal_length", "petal_width"}


def test_a_model_already_being_computed_is_skipped(db: None, iris_reference: Any) -> None:
    """While the per-model lock is held (a run in progress elsewhere), a second run does nothing."""
    if not broker_available():
        pytest.fail(f"Redis is needed at {app.conf.broker_url}")
    model_id = iris_reference.model_version.model_id
    lock = _lock(model_id)
    assert lock.acquire(blocking=False)
    try:
        outcome = drift_run_compute(model_id)
    finally:
        lock.release()
    assert outcome["skipped"] == "already running"
    assert not DriftRun.objects.exists()


def test_a_model_without_reference_is_a_logged_noop(db: None, iris_version: Any) -> None:
    """No reference: the task records nothing and does not retry."""
    outcome = drift_run_compute(iris_version.model_id)
    assert "reference" in outcome["skipped"]
    assert not DriftRun.objects.exists()


def test_the_drift_lock_key_carries_the_deployments_prefix(settings: Any) -> None:
    """Two deployments on one Redis (different REDIS_KEY_PREFIX) never share a model's drift lock."""
    settings.REDIS_KEY_PREFIX = "stack-a:"
    first = _lock(7)
    settings.REDIS_KEY_PREFIX = "stack-b:"
    second = _lock(7)
    assert first.name == "stack-a:drift-lock:7"
    assert second.name == "stack-b:drift-lock:7"


def test_tasks_are_routed_to_the_deployments_queue() -> None:
    """A drift task goes to CELERY_QUEUE (settings), which the worker of the same settings consumes."""
    from django.conf import settings as django_settings

    route = app.amqp.router.route({}, COMPUTE_DRIFT)
    assert route["queue"].name == django_settings.CELERY_TASK_DEFAULT_QUEUE != "celery"
