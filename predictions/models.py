"""Model registry (models, versions, artifacts) and the prediction log with its ground-truth labels."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from functools import cached_property

from django.db import models
from django.db.models import Q

from .encoding import ModelValue, RowEncoder, vector_from_bytes
from .ids import uuid7, uuid7_time
from .schema import FeatureSchema, feature_schema_parse


class MLModel(models.Model):
    """A named model that answers predictions; it has versions, one of them active."""

    name = models.CharField(max_length=200, unique=True, help_text="Used in URLs and metric labels.")
    description = models.TextField(blank=True)
    is_default = models.BooleanField(default=False, help_text="The model behind the seed's /predict and /drift.")
    is_enabled = models.BooleanField(default=True, help_text="Disabled models refuse predictions and leave /metrics.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "model"
        constraints = [
            models.UniqueConstraint(fields=["is_default"], condition=Q(is_default=True), name="one_default_model"),
        ]

    def __str__(self) -> str:
        return self.name


class ModelVersion(models.Model):
    """One trained artifact of a model, with the feature schema and class labels it was checked against."""

    FRAMEWORK_SKLEARN = "sklearn"
    FRAMEWORK_CHOICES = [(FRAMEWORK_SKLEARN, "scikit-learn (skops)")]

    model = models.ForeignKey(MLModel, on_delete=models.CASCADE, related_name="versions")
    version = models.CharField(max_length=50)
    artifact = models.FileField(upload_to="artifacts/%Y/%m/", help_text="A .skops file (skops.io.dump).")
    artifact_sha256 = models.CharField(max_length=64, editable=False)
    framework = models.CharField(max_length=20, choices=FRAMEWORK_CHOICES, default=FRAMEWORK_SKLEARN)
    feature_schema = models.JSONField(
        help_text='Ordered features: [{"name": "x", "type": "numeric"|"categorical", '
        '"categories": [..], "nullable": false}, ..]'
    )
    class_labels = models.JSONField(help_text="The class labels, in the order of the model's classes_.")
    memory_bytes = models.BigIntegerField(default=0, editable=False, help_text="Size of the loaded model in memory.")
    is_active = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["model__name", "-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["model", "version"], name="unique_model_version"),
            models.UniqueConstraint(fields=["model"], condition=Q(is_active=True), name="one_active_version_per_model"),
        ]

    def __str__(self) -> str:
        return f"{self.model.name} v{self.version}"

    @cached_property
    def cache_key(self) -> str:
        """Fingerprint of what a loaded model depends on: the artifact, the schema and the class labels."""
        content = json.dumps([self.artifact_sha256, self.feature_schema, self.class_labels], sort_keys=True)
        return hashlib.sha256(content.encode()).hexdigest()

    @property
    def schema(self) -> FeatureSchema:
        """The parsed feature schema."""
        return feature_schema_parse(self.feature_schema)

    def encoder(self) -> RowEncoder:
        """A row encoder for this version's schema."""
        return RowEncoder(self.schema)


class Prediction(models.Model):
    """One logged prediction: the input row, the answer, its probabilities, latency, and the true label later.

    Features and probabilities are float64 vectors stored as bytes, in the row format of predictions/encoding.py.
    """

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    # No index of its own: the composite (model_version, id) index below serves every lookup by version. No
    # constraint: triggers check the version once per statement instead of once per row (predictions/integrity.py).
    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.CASCADE, related_name="predictions", db_index=False, db_constraint=False
    )
    features = models.BinaryField()
    predicted_index = models.SmallIntegerField()
    confidence = models.FloatField()
    probabilities = models.BinaryField()
    latency_ms = models.FloatField()
    label_index = models.SmallIntegerField(null=True, blank=True)
    labelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # Ascending, read backwards for "newest first": ids only grow, so each insert lands at the right end of
            # its version's range, where PostgreSQL splits pages leaving them full; a descending index took every
            # insert at the left end and split pages half and half (twice the size, more CPU per insert).
            models.Index(fields=["model_version", "id"], name="prediction_version_recent"),
            models.Index(
                fields=["model_version", "-labelled_at"],
                name="prediction_version_labelled",
                condition=Q(label_index__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return str(self.id)

    @property
    def created_at(self) -> datetime:
        """Creation time, read from the time-ordered id."""
        return datetime.fromtimestamp(uuid7_time(self.id), tz=UTC)

    def feature_values(self) -> dict[str, ModelValue]:
        """The input row as {feature name: value}."""
        return self.model_version.encoder().decode_vector(vector_from_bytes(self.features))

    def probability_map(self) -> dict[str, float]:
        """Probabilities as {class label: probability}."""
        values = vector_from_bytes(self.probabilities).tolist()
        return dict(zip(self.model_version.class_labels, values, strict=True))

    @property
    def predicted_label(self) -> str:
        """The predicted class label."""
        return str(self.model_version.class_labels[self.predicted_index])

    @property
    def true_label(self) -> str | None:
        """The ground-truth label, once posted."""
        if self.label_index is None:
            return None
        return str(self.model_version.class_labels[self.label_index])
