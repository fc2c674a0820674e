"""The drift schedule as an operator sets it: on the drift settings page, every N minutes or a cron expression,
kept in django-celery-beat (beat's own entry changes); Celery's clocked and solar schedules are not offered."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django_celery_beat.models import PeriodicTask

from drift.models import DriftSettings
from drift.services import drift_schedule_set
from tests.alerts_config.test_admin_under_traffic import _FormFields


def change_form(admin_client: Client, settings_row: DriftSettings) -> tuple[str, dict[str, str]]:
    """The drift settings change page's URL and the fields a browser would submit."""
    url = f"/admin/drift/driftsettings/{settings_row.pk}/change/"
    parser = _FormFields()
    parser.feed(admin_client.get(url).content.decode())
    return url, {**parser.fields, "_save": "Save"}


def beat_entry() -> PeriodicTask:
    return PeriodicTask.objects.select_related("interval", "crontab").get(task="drift.tasks.compute_all_drift")


def test_the_settings_page_shows_and_sets_every_n_minutes(admin_client: Client, iris_reference: Any) -> None:
    """The page shows the current 5 minutes; saving 10 stores a 10-minute interval on beat's entry."""
    # given
    row = DriftSettings.objects.get(model=iris_reference.model_version.model)
    url, fields = change_form(admin_client, row)
    assert fields["schedule_every_minutes"] == "5" and fields.get("schedule_cron", "") == ""
    # when
    response = admin_client.post(url, {**fields, "schedule_every_minutes": "10"})
    # then
    assert response.status_code == 302, response.content.decode()[:3000]
    entry = beat_entry()
    assert entry.interval is not None and (entry.interval.every, entry.interval.period) == (10, "minutes")
    assert entry.crontab is None and entry.enabled


def test_a_cron_expression_replaces_the_interval(admin_client: Client, iris_reference: Any) -> None:
    """ "*/15 8-18 * * 1-5" is stored as beat's crontab (UTC); the interval goes."""
    row = DriftSettings.objects.get(model=iris_reference.model_version.model)
    url, fields = change_form(admin_client, row)
    response = admin_client.post(url, {**fields, "schedule_every_minutes": "", "schedule_cron": "*/15 8-18 * * 1-5"})
    assert response.status_code == 302, response.content.decode()[:3000]
    entry = beat_entry()
    assert entry.interval is None and entry.crontab is not None
    cron = entry.crontab
    assert (cron.minute, cron.hour, cron.day_of_month, cron.month_of_year, cron.day_of_week) == (
        "*/15",
        "8-18",
        "*",
        "*",
        "1-5",
    )


@pytest.mark.parametrize(
    ("every", "cron", "message"),
    [("10", "*/5 * * * *", "not both"), ("", "", "Give the schedule"), ("", "61 * * * *", "cron"), ("0", "", "1")],
)
def test_a_bad_schedule_is_refused_on_the_form(
    admin_client: Client, iris_reference: Any, every: str, cron: str, message: str
) -> None:
    """Both, neither, a bad cron field or 0 minutes: the form says so and beat's entry stays as it was."""
    row = DriftSettings.objects.get(model=iris_reference.model_version.model)
    url, fields = change_form(admin_client, row)
    response = admin_client.post(url, {**fields, "schedule_every_minutes": every, "schedule_cron": cron})
    assert response.status_code == 200
    assert message in response.content.decode()
    entry = beat_entry()
    assert entry.interval is not None and entry.interval.every == 5


@pytest.mark.django_db
def test_the_service_sets_the_schedule() -> None:
    """drift_schedule_set(every_minutes=3) and back to cron, on the migrated beat entry."""
    drift_schedule_set(every_minutes=3, cron="")
    assert beat_entry().interval.every == 3  # type: ignore[union-attr]
    drift_schedule_set(every_minutes=None, cron="0 * * * *")
    assert beat_entry().crontab.minute == "0"  # type: ignore[union-attr]


def test_celery_internals_are_not_offered(admin_client: Client, db: None) -> None:
    """The admin index lists neither clocked nor solar schedules."""
    page = admin_client.get("/admin/").content.decode()
    assert "/admin/django_celery_beat/clockedschedule/" not in page
    assert "/admin/django_celery_beat/solarschedule/" not in page
