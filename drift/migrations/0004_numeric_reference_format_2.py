"""Re-prepare numeric reference blobs of format 1 (decile bins that merged tied values) in format 2.

Format 1 stores every distinct finite value of each feature with its count, the row count and the missing counts:
everything preparation reads of the data, so re-preparing from it equals re-preparing from the uploaded file (without
needing the file store or the schema at migration time). Going back leaves format 2 in place: the code of before this
migration refuses it with "unsupported ... format version 2", and a new upload fixes that.
"""

from __future__ import annotations

from django.db import migrations


def upgrade(apps, schema_editor):  # type: ignore[no-untyped-def]
    from drift.statistics.references import NUMERIC_FORMAT_VERSION, numeric_reference_upgrade, reference_format_version

    ReferenceDataset = apps.get_model("drift", "ReferenceDataset")
    # One blob in memory at a time: a wide reference is tens of MB.
    for pk in ReferenceDataset.objects.order_by("pk").values_list("pk", flat=True):
        data = bytes(ReferenceDataset.objects.values_list("numeric_reference", flat=True).get(pk=pk))
        if reference_format_version(data) == ("numeric", NUMERIC_FORMAT_VERSION):
            continue
        upgraded = numeric_reference_upgrade(data).to_bytes()
        ReferenceDataset.objects.filter(pk=pk).update(numeric_reference=upgraded)


class Migration(migrations.Migration):
    dependencies = [("drift", "0003_feature_chart_and_data_quality")]
    operations = [migrations.RunPython(upgrade, migrations.RunPython.noop)]
