"""`python manage.py load_demo`: register the iris demo model and its reference data (idempotent)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from demo.iris import IRIS_LABEL_COLUMN, IRIS_SCHEMA, iris_demo_train, iris_reference_csv
from drift.selectors import reference_dataset_active_get
from drift.services import reference_dataset_upload
from predictions import services
from predictions.selectors import model_version_get


class Command(BaseCommand):
    help = (
        "Train the iris demo classifier, register it as model 'iris' v1 (default), upload its training split with "
        "its labels."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        demo = iris_demo_train()
        version = model_version_get(model_name="iris", version="1")
        if version is None:
            version = services.model_version_register(
                model_name="iris",
                version="1",
                artifact=demo.artifact,
                feature_schema=IRIS_SCHEMA,
                class_labels=demo.class_labels,
                make_default=True,
            )
            self.stdout.write(self.style.SUCCESS("Registered model iris v1 (default, active)."))
        else:
            self.stdout.write("Model iris v1 is already registered.")
        if reference_dataset_active_get(model_version=version) is not None:
            self.stdout.write("Its reference dataset is already uploaded.")
            return
        reference = reference_dataset_upload(
            model_version=version,
            file=iris_reference_csv(demo.x_train, demo.y_train),
            filename="iris-train.csv",
            name="iris training split",
            label_column=IRIS_LABEL_COLUMN,  # with its true labels: accuracy and F1 are estimated per drift run
        )
        self.stdout.write(self.style.SUCCESS(f"Uploaded reference {reference.name} ({reference.row_count} rows)."))
