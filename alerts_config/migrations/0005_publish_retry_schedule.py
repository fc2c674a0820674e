"""Beat retries a publish that did not go live every minute (a no-op while the last publish is live)."""

from __future__ import annotations

from django.db import migrations
from django.utils import timezone

TASK_NAME = "alerting: retry a publish that did not go live"
TASK = "alerts_config.tasks.alerting_publish_retry"


def schedule(apps, schema_editor):  # type: ignore[no-untyped-def]
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    every, _ = IntervalSchedule.objects.get_or_create(every=1, period="minutes")
    PeriodicTask.objects.update_or_create(
        name=TASK_NAME,
        defaults={"task": TASK, "interval": every, "enabled": True, "expire_seconds": 50},
    )
    # A data migration bypasses save() signals: move beat's change counter so a running beat reloads.
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def unschedule(apps, schema_editor):  # type: ignore[no-untyped-def]
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=TASK_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("alerts_config", "0004_publish_state_row"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(schedule, unschedule)]
