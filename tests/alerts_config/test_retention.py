"""Retention of the alert history: episodes that Alertmanager last posted before the retention go, in batches; an
alert still being posted (firing, re-sent every repeat interval) stays however long ago it started."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from alerts_config.models import AlertEvent
from alerts_config.services import alert_event_prune

pytestmark = pytest.mark.django_db


def event(fingerprint: str, *, started_days_ago: float, last_posted_days_ago: float, status: str) -> AlertEvent:
    """An alert episode that started and was last posted that many days ago."""
    now = timezone.now()
    row = AlertEvent.objects.create(
        fingerprint=fingerprint,
        alertname="DataDriftDetected",
        status=status,
        starts_at=now - timedelta(started_days_ago),
    )
    AlertEvent.objects.filter(pk=row.pk).update(updated_at=now - timedelta(days=last_posted_days_ago))
    return row


def test_old_episodes_go_and_a_long_firing_one_stays() -> None:
    """Retention 180 days, batches of 2: three resolved episodes last posted 200+ days ago go; one that started 400
    days ago but was posted yesterday (still firing) stays, as does a recent one."""
    # given
    for index in range(3):
        event(f"old{index}", started_days_ago=300, last_posted_days_ago=200 + index, status="resolved")
    firing = event("firing", started_days_ago=400, last_posted_days_ago=1, status="firing")
    recent = event("recent", started_days_ago=3, last_posted_days_ago=3, status="resolved")
    # when
    result = alert_event_prune(retention_days=180, batch_size=2)
    # then
    assert (result.rows, result.batches) == (3, 2)
    assert set(AlertEvent.objects.values_list("pk", flat=True)) == {firing.pk, recent.pk}
