"""The prediction log's reference to its model version checked once per statement instead of once per row.

PostgreSQL checks a foreign key with a trigger per inserted row: a lookup of the referenced row under a key-share
lock, which under concurrent transactions goes through a multixact of all of them. About half of PostgreSQL's CPU per
row of a 1,000-row COPY went there (docs/benchmarks.md, "Batch path, in-process"). The foreign key constraint is
dropped (`db_constraint=False`; Django still cascades a version's deletion to its predictions) and the same rule is
kept by triggers (predictions/integrity.py): on PostgreSQL a statement-level trigger locks each distinct version of
the statement's new rows (FOR KEY SHARE, the foreign key's own lock) and refuses a version that does not exist, and a
version's deletion takes its predictions with it however it is deleted; on SQLite row-level triggers do the same. A
refused row is a foreign_key_violation (IntegrityError), as before.
"""

from django.db import migrations, models

from predictions.integrity import version_check_triggers_create, version_check_triggers_drop


def triggers_create(apps, schema_editor):
    version_check_triggers_create(schema_editor)


def triggers_drop(apps, schema_editor):
    version_check_triggers_drop(schema_editor)


class Migration(migrations.Migration):

    dependencies = [
        ('predictions', '0004_prediction_version_index_ascending'),
    ]

    operations = [
        migrations.AlterField(
            model_name='prediction',
            name='model_version',
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=models.deletion.CASCADE,
                related_name='predictions',
                to='predictions.modelversion',
            ),
        ),
        migrations.RunPython(triggers_create, triggers_drop),
    ]
