"""A reference may carry true labels: the label column, the model's probabilities on the reference with the labels,
and the CBPE state fitted on them (drift/estimation.py)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("drift", "0004_numeric_reference_format_2"),
    ]

    operations = [
        migrations.AddField(
            model_name="referencedataset",
            name="cbpe_reference",
            field=models.BinaryField(
                help_text="drift.estimation.CBPEReference bytes (calibrators fitted on the labelled reference); null without labels.",
                null=True,
            ),
        ),
        migrations.AddField(
            model_name="referencedataset",
            name="label_column",
            field=models.CharField(
                blank=True, editable=False, help_text="The file's true-label column; empty: no labels.", max_length=200
            ),
        ),
        migrations.AddField(
            model_name="referencedataset",
            name="reference_scores",
            field=models.BinaryField(
                help_text="npz: the model's probabilities on the reference rows [n, classes] and their true class indices (-1 without a label column), scored once at upload.",
                null=True,
            ),
        ),
    ]
