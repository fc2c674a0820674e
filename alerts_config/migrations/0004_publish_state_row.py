"""The one PublishState row: publishes lock it, the admin shows it."""

from __future__ import annotations

from django.db import migrations


def create(apps, schema_editor):  # type: ignore[no-untyped-def]
    PublishState = apps.get_model("alerts_config", "PublishState")
    PublishState.objects.get_or_create(pk=1)


class Migration(migrations.Migration):
    dependencies = [("alerts_config", "0003_alerting_channels_history")]
    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
