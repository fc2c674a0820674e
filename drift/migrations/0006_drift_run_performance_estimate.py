"""Each drift run stores the window's estimated accuracy and macro F1 with their bands, the realized values and the
label coverage."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("drift", "0005_reference_labels_and_cbpe_state"),
    ]

    operations = [
        migrations.AddField(
            model_name="driftrun",
            name="estimated_accuracy",
            field=models.FloatField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="driftrun",
            name="estimated_accuracy_lower",
            field=models.FloatField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="driftrun",
            name="estimated_accuracy_upper",
            field=models.FloatField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="driftrun",
            name="estimated_f1",
            field=models.FloatField(blank=True, help_text="Estimated macro F1.", null=True),
        ),
        migrations.AddField(
            model_name="driftrun",
            name="estimated_f1_lower",
            field=models.FloatField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="driftrun",
            name="estimated_f1_upper",
            field=models.FloatField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="driftrun",
            name="estimation",
            field=models.JSONField(
                blank=True,
                default=dict,
                help_text="The full estimate (PerformanceEstimate.as_dict) or why there is none.",
            ),
        ),
        migrations.AddField(
            model_name="driftrun",
            name="label_coverage",
            field=models.FloatField(
                blank=True,
                help_text="Share of the window's predictions with a true label (null: empty window).",
                null=True,
            ),
        ),
        migrations.AddField(
            model_name="driftrun",
            name="labelled_count",
            field=models.PositiveIntegerField(default=0, help_text="Window predictions with a true label."),
        ),
        migrations.AddField(
            model_name="driftrun",
            name="realized_accuracy",
            field=models.FloatField(blank=True, help_text="Over the window's labelled predictions.", null=True),
        ),
        migrations.AddField(
            model_name="driftrun",
            name="realized_f1",
            field=models.FloatField(blank=True, help_text="Macro F1 over the window's labelled rows.", null=True),
        ),
    ]
