"""Alerting's scheduled task: the retry of a publish that did not go live, pinned by name."""

from __future__ import annotations

from typing import Any

import pytest
from django_celery_beat.models import PeriodicTask

from alerts_config.models import PublishState
from alerts_config.tasks import PUBLISH_RETRY, alerting_publish_retry
from mlmonitor.celery import app

from .conftest import ReloadRecorder, needs_amtool, needs_promtool

SCHEDULED_TASK_NAMES = {"alerting: retry a publish that did not go live": "alerts_config.tasks.alerting_publish_retry"}


def test_scheduled_task_names_are_pinned(db: None) -> None:
    """The data migration's periodic task points at a registered task name, every minute, with an expiry."""
    assert PUBLISH_RETRY == "alerts_config.tasks.alerting_publish_retry"
    for name, task in SCHEDULED_TASK_NAMES.items():
        periodic = PeriodicTask.objects.get(name=name)
        assert periodic.task == task and periodic.enabled
        assert periodic.interval.every == 1 and periodic.interval.period == "minutes"
        assert periodic.expire_seconds is not None and periodic.expire_seconds < 60
        assert task in app.tasks


@needs_promtool
@needs_amtool
def test_the_task_republishes_only_while_the_last_publish_is_not_live(db: None, reloads: ReloadRecorder) -> None:
    """With a failed publish recorded the task publishes (and the state becomes ok); then it does nothing."""
    # given
    PublishState.objects.update_or_create(pk=PublishState.SINGLETON_ID, defaults={"ok": False, "last_error": "x"})
    # when
    first: Any = alerting_publish_retry()
    second: Any = alerting_publish_retry()
    # then
    assert first == {"retried": True, "ok": True}
    assert second == {"retried": False}
    assert PublishState.objects.get().ok and len(reloads.calls) == 2


@pytest.mark.parametrize("ok", [True])
def test_a_live_publish_is_left_alone(db: None, ok: bool, reloads: ReloadRecorder) -> None:
    """The seeded state (ok) makes the task a no-op that calls no server."""
    PublishState.objects.update_or_create(pk=PublishState.SINGLETON_ID, defaults={"ok": ok})
    assert alerting_publish_retry() == {"retried": False} and reloads.calls == []
