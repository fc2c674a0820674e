"""Beat prunes history by the retention settings every hour (each run removes about an hour's worth of old rows)."""

from __future__ import annotations

from django.db import migrations
from django.utils import timezone

TASK_NAME = "retention: prune predictions, drift runs and alert events"
TASK = "predictions.tasks.history_prune"


def schedule(apps, schema_editor):  # type: ignore[no-untyped-def]
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    every, _ = IntervalSchedule.objects.get_or_create(every=1, period="hours")
    PeriodicTask.objects.update_or_create(
        name=TASK_NAME,
        defaults={"task": TASK, "interval": every, "enabled": True, "expire_seconds": 3000},
    )
    # A data migration bypasses save() signals: move beat's change counter so a running beat reloads.
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def unschedule(apps, schema_editor):  # type: ignore[no-untyped-def]
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=TASK_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("predictions", "0002_prediction_version_index_once"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(schedule, unschedule)]
