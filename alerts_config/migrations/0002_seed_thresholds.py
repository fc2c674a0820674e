"""The seed's five alert rules, with the seed's values (docs/architecture.md, "The seed")."""

from __future__ import annotations

from django.db import migrations

SEED = [
    ("latency_p95", 0.5, "5m", "warning", "High prediction latency detected", "95th percentile latency is above 500ms"),
    ("error_rate", 0.05, "5m", "critical", "High error rate in predictions", "Error rate is above 5%"),
    ("feature_drift", 0.15, "10m", "warning", "Data drift detected", "Feature drift score is elevated"),
    ("prediction_drift", 0.1, "10m", "warning", "Prediction distribution drift detected",
     "Prediction drift score is elevated"),
    ("low_confidence", 0.6, "15m", "warning", "Low confidence predictions", "Median confidence is below 60%"),
]


def seed(apps, schema_editor):  # type: ignore[no-untyped-def]
    Threshold = apps.get_model("alerts_config", "Threshold")
    for kind, value, for_duration, severity, summary, description in SEED:
        Threshold.objects.get_or_create(
            kind=kind,
            model=None,
            feature_name="",
            defaults={"value": value, "for_duration": for_duration, "severity": severity, "summary": summary,
                      "description": description},
        )


def unseed(apps, schema_editor):  # type: ignore[no-untyped-def]
    Threshold = apps.get_model("alerts_config", "Threshold")
    for kind, *_ in SEED:
        Threshold.objects.filter(kind=kind, model=None, feature_name="").delete()


class Migration(migrations.Migration):
    dependencies = [("alerts_config", "0001_initial")]
    operations = [migrations.RunPython(seed, unseed)]
