"""`python manage.py load_demo`: register the iris demo model (idempotent)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from predictions import services
from predictions.demo import IRIS_SCHEMA, iris_demo_train
from predictions.models import ModelVersion


class Command(BaseCommand):
    help = "Train the iris demo classifier and register it as model 'iris' version 1, the default model."

    def handle(self, *args: Any, **options: Any) -> None:
        existing = ModelVersion.objects.filter(model__name="iris", version="1").first()
        if existing is not None:
            self.stdout.write("Model iris v1 is already registered.")
            return
        demo = iris_demo_train()
        services.model_version_register(
            model_name="iris",
            version="1",
            artifact=demo.artifact,
            feature_schema=IRIS_SCHEMA,
            class_labels=demo.class_labels,
            activate=True,
            make_default=True,
        )
        self.stdout.write(self.style.SUCCESS("Registered model iris v1 (default, active)."))
