"""Global defaults of the three kinds of issue 13: estimated accuracy and macro F1 (CBPE, no labels needed) and
stale labels. Sensible starting points, documented in docs/alerts.md; operators override them per model.

- EstimatedAccuracyLow below 0.8 for 15m, EstimatedF1Low below 0.75 for 15m (warning): the gauges exist only for
  models whose reference was uploaded with a true-label column, so other models never fire.
- LabelsStale after 86400 s (a day) without a label while the model serves predictions, for 15m (info): only models
  that have received labels at some point have the last-label gauge.
"""

from __future__ import annotations

from django.db import migrations, models

SEED = [
    ("estimated_accuracy_below", 0.8, "15m", "warning", "", ""),
    ("estimated_f1_below", 0.75, "15m", "warning", "", ""),
    ("labels_stale", 86400.0, "15m", "info", "", ""),
]


def seed(apps, schema_editor):  # type: ignore[no-untyped-def]
    Threshold = apps.get_model("alerts_config", "Threshold")
    for kind, value, for_duration, severity, summary, description in SEED:
        Threshold.objects.get_or_create(
            kind=kind,
            model=None,
            feature_name="",
            defaults={
                "value": value,
                "for_duration": for_duration,
                "severity": severity,
                "summary": summary,
                "description": description,
            },
        )


def unseed(apps, schema_editor):  # type: ignore[no-untyped-def]
    Threshold = apps.get_model("alerts_config", "Threshold")
    for kind, *_ in SEED:
        Threshold.objects.filter(kind=kind, model=None, feature_name="").delete()


class Migration(migrations.Migration):
    dependencies = [("alerts_config", "0006_data_quality_threshold_kinds")]
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
                    ("accuracy_below", "accuracy (realized, from labels) below (0..1)"),
                    ("f1_below", "macro F1 (realized, from labels) below (0..1)"),
                    ("drift_stale", "drift job older than (seconds)"),
                    ("service_down", "service down (scrape fails)"),
                    ("feature_missing_rate", "missing-value rate of a feature above (0..1)"),
                    ("feature_out_of_range_rate", "out-of-range rate of a feature above (0..1)"),
                    ("unseen_category_rate", "unseen-category rate of a feature above (0..1)"),
                    ("estimated_accuracy_below", "estimated accuracy (no labels needed) below (0..1)"),
                    ("estimated_f1_below", "estimated macro F1 (no labels needed) below (0..1)"),
                    ("labels_stale", "no true label received for (seconds) while predictions flow"),
                ],
                max_length=30,
            ),
        ),
        migrations.AlterField(
            model_name="threshold",
            name="value",
            field=models.FloatField(
                help_text="Rates, confidences, accuracy, F1 (realized or estimated) and drift scores in 0..1; latency in seconds (> 0); drift job age and label age in seconds (> 0); ignored for service down."
            ),
        ),
        migrations.RunPython(seed, unseed),
    ]
