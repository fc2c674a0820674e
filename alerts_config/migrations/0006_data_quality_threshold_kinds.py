"""Threshold kinds for the data-quality monitors (predictions/data_quality.py), with global defaults:
FeatureMissingRateHigh above 10% of rows, FeatureOutOfRangeRateHigh above 5%, UnseenCategoryRateHigh above 5%, each
a rate over 10m that must hold for 10m (docs/api.md, "Data quality")."""

from __future__ import annotations

from django.db import migrations, models

SEED = [
    ("feature_missing_rate", 0.1, "10m", "warning", "", ""),
    ("feature_out_of_range_rate", 0.05, "10m", "warning", "", ""),
    ("unseen_category_rate", 0.05, "10m", "warning", "", ""),
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
    Threshold.objects.filter(kind__in=[kind for kind, *_ in SEED]).delete()


class Migration(migrations.Migration):
    dependencies = [("alerts_config", "0005_publish_retry_schedule")]
    operations = [
        migrations.AlterField(
            model_name="threshold",
            name="kind",
            field=models.CharField(
                choices=[
                    ("latency_p95", "p95 latency above (seconds)"),
                    ("error_rate", "error rate above (0..1)"),
                    ("feature_drift", "feature drift score above"),
                    ("prediction_drift", "prediction drift score above"),
                    ("low_confidence", "median confidence below (0..1)"),
                    ("accuracy_below", "accuracy below (0..1)"),
                    ("f1_below", "macro F1 below (0..1)"),
                    ("drift_stale", "drift job older than (seconds)"),
                    ("service_down", "service down (scrape fails)"),
                    ("feature_missing_rate", "missing-value rate of a feature above (0..1)"),
                    ("feature_out_of_range_rate", "out-of-range rate of a feature above (0..1)"),
                    ("unseen_category_rate", "unseen-category rate of a feature above (0..1)"),
                ],
                max_length=30,
            ),
        ),
        migrations.AlterField(
            model_name="threshold",
            name="feature_name",
            field=models.CharField(
                blank=True, help_text="Feature drift and data-quality kinds only; empty: every feature.", max_length=200
            ),
        ),
        migrations.RunPython(seed, unseed),
    ]
