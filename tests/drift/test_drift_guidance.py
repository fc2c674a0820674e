"""A model with no drift run yet: the 404 says when the next scheduled run is and how to start one; `POST
.../drift/run` answers where to follow the run it queued, and that status URL says queued, done (with the run) or
failed."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from drift.selectors import drift_schedule_get
from mlmonitor.celery import app


@pytest.mark.django_db
def test_no_run_yet_says_when_the_next_one_is_and_how_to_start_one(api_client: Any, iris_reference: Any) -> None:
    """GET .../drift before the first run: 404 whose message names the next scheduled run and POST .../drift/run;
    details carry both as fields."""
    # given: the schedule (data migration) ran 2 minutes ago
    PeriodicTask.objects.filter(task="drift.tasks.compute_all_drift").update(
        last_run_at=timezone.now() - timedelta(minutes=2)
    )
    # when
    response = api_client.get("/api/v1/models/iris/drift")
    # then
    assert response.status_code == 404
    error = response.json()["error"]
    assert "POST /api/v1/models/iris/drift/run" in error["message"]
    assert "next scheduled run" in error["message"]
    next_run = datetime.fromisoformat(error["details"]["next_scheduled_run"])
    assert timedelta(minutes=2) < next_run - timezone.now() <= timedelta(minutes=3, seconds=5)
    assert error["details"]["start_run"] == {"method": "POST", "url": "/api/v1/models/iris/drift/run"}


@pytest.mark.django_db
def test_before_beat_ever_ran_the_next_run_counts_from_the_entrys_last_change(iris_reference: Any) -> None:
    """An entry that never ran: django-celery-beat takes its last change as the last run, so the first run is one
    interval after it, not now (the answer used to say "now", moving with every request)."""
    # given: the schedule written 2 minutes ago, never run
    PeriodicTask.objects.filter(task="drift.tasks.compute_all_drift").update(
        last_run_at=None, date_changed=timezone.now() - timedelta(minutes=2)
    )
    # when
    first, second = drift_schedule_get(), drift_schedule_get()
    # then
    assert first is not None and first.next_run_at is not None and second is not None
    assert timedelta(minutes=2, seconds=55) <= first.next_run_at - timezone.now() <= timedelta(minutes=3, seconds=1)
    assert first.next_run_at == second.next_run_at
    # given: a start time in the future instead: beat runs the entry then
    start = timezone.now() + timedelta(hours=1)
    PeriodicTask.objects.filter(task="drift.tasks.compute_all_drift").update(start_time=start)
    # then
    schedule = drift_schedule_get()
    assert schedule is not None and schedule.next_run_at == start


@pytest.mark.django_db
def test_the_schedule_is_read_from_beat(iris_reference: Any) -> None:
    """drift_schedule_get describes the beat entry: every 5 minutes by default, None next run when disabled."""
    schedule = drift_schedule_get()
    assert schedule is not None and schedule.description == "every 5 minutes" and schedule.next_run_at is not None
    PeriodicTask.objects.filter(task="drift.tasks.compute_all_drift").update(enabled=False)
    schedule = drift_schedule_get()
    assert schedule is not None and schedule.next_run_at is None


@pytest.mark.django_db
def test_a_queued_run_answers_its_status_url(token_client: Any, iris_reference: Any) -> None:
    """POST .../drift/run answers 202 with status_url (also as Location); GET status_url says queued until the
    worker stores an outcome, then done with the run's id, status and report URL."""
    # when
    queued = token_client.post("/api/v1/models/iris/drift/run")
    # then
    assert queued.status_code == 202
    body = queued.json()
    task_id = body["task_id"]
    assert body["status_url"] == f"/api/v1/models/iris/drift/run/{task_id}"
    assert queued["Location"] == body["status_url"]
    pending = token_client.get(body["status_url"])
    assert pending.status_code == 200
    assert pending.json()["state"] == "queued"
    # when: the worker's outcome lands in the result backend
    app.backend.store_result(task_id, {"model_id": 1, "run_id": 42, "status": "ok", "drifted": 2}, "SUCCESS")
    done = token_client.get(body["status_url"]).json()
    # then
    assert done["state"] == "done"
    assert done["run_id"] == 42 and done["run_status"] == "ok"
    assert done["report_url"] == "/dashboard/drift-runs/42/"
    # when: another queued run fails
    other = token_client.post("/api/v1/models/iris/drift/run").json()
    app.backend.store_result(other["task_id"], RuntimeError("boom"), "FAILURE")
    failed = token_client.get(other["status_url"]).json()
    assert failed["state"] == "failed" and "boom" in failed["message"]


@pytest.mark.django_db
def test_the_status_url_refuses_a_malformed_task_id(token_client: Any, iris_reference: Any) -> None:
    """A task id that is not a UUID is a 400."""
    response = token_client.get("/api/v1/models/iris/drift/run/not-a-task")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_parameter"
