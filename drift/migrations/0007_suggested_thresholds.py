import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("drift", "0006_drift_run_performance_estimate"),
    ]

    operations = [
        migrations.CreateModel(
            name="SuggestedThreshold",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "feature_name",
                    models.CharField(blank=True, help_text="Empty: the prediction-drift threshold.", max_length=200),
                ),
                ("test", models.CharField(max_length=20)),
                ("window_size", models.PositiveIntegerField()),
                ("quantile", models.FloatField(help_text="Share of no-drift runs at or below the value.")),
                (
                    "confidence",
                    models.FloatField(help_text="Probability that the value is at or above that quantile.", null=True),
                ),
                ("value", models.FloatField(help_text="Null: too few resamples produced a score.", null=True)),
                ("median_score", models.FloatField(help_text="The typical no-drift score.", null=True)),
                ("resamples", models.PositiveIntegerField()),
                ("computed_at", models.DateTimeField()),
                (
                    "reference",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="suggested_thresholds",
                        to="drift.referencedataset",
                    ),
                ),
            ],
            options={
                "ordering": ["reference", "window_size", "feature_name"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("reference", "feature_name", "window_size"), name="unique_suggested_threshold"
                    )
                ],
            },
        ),
    ]
