"""Default all-models thresholds for the kinds the seed did not have (accuracy, F1, a stale drift job, the service
down), so every kind the README lists alerts out of the box; operators change them in the admin. Values: README,
"Alerting". Existing rows of the same scope are left as they are."""

from __future__ import annotations

from django.db import migrations

DEFAULTS = [
    # kind, value, for, severity: summaries and descriptions stay empty (the kind's default text)
    ("accuracy_below", 0.8, "15m", "warning"),
    ("f1_below", 0.7, "15m", "warning"),
    ("drift_stale", 1800.0, "5m", "warning"),  # seconds: six missed runs of the 5-minute schedule
    ("service_down", 0.0, "1m", "critical"),
]


def seed(apps, schema_editor):  # type: ignore[no-untyped-def]
    Threshold = apps.get_model("alerts_config", "Threshold")
    for kind, value, for_duration, severity in DEFAULTS:
        Threshold.objects.get_or_create(
            kind=kind,
            model=None,
            feature_name="",
            defaults={"value": value, "for_duration": for_duration, "severity": severity},
        )


def unseed(apps, schema_editor):  # type: ignore[no-untyped-def]
    Threshold = apps.get_model("alerts_config", "Threshold")
    for kind, value, for_duration, severity in DEFAULTS:
        Threshold.objects.filter(
            kind=kind, model=None, feature_name="", value=value, for_duration=for_duration, severity=severity
        ).delete()


class Migration(migrations.Migration):
    dependencies = [("alerts_config", "0007_performance_estimation_threshold_kinds")]
    operations = [migrations.RunPython(seed, unseed)]
