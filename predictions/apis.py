"""HTTP API of the registry, predictions and feedback: thin views that call one service or selector and shape JSON.

Input is validated once, by the service's parse functions (prediction_request_parse, feedback_payload_parse,
feedback_items_parse), which give the error codes and messages of docs/api.md; the input serializers here only
document the bodies in the OpenAPI schema. The predict views answer their common request through a plain Django view
in front of DRF (predictions/lean.py); these classes document them and answer everything else."""

from __future__ import annotations

from itertools import repeat
from typing import Any

from django.conf import settings
from drf_spectacular.utils import (
    OpenApiExample,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_serializer,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from mlmonitor.auth import ReadAccess
from mlmonitor.errors import ERROR_SCHEMA

from . import selectors, services
from .lean import LeanPostMixin
from .models import MLModel, ModelVersion
from .services import PredictionResult

ROW_DOC = "One row: a list of values in schema order, or an object {feature name: value}."


class ScoredRowSerializer(serializers.Serializer[dict[str, Any]]):
    """One scored row, as listed in a batch answer."""

    prediction_id = serializers.UUIDField()
    prediction = serializers.CharField()
    confidence = serializers.FloatField(help_text="The top class probability.")
    probabilities = serializers.DictField(child=serializers.FloatField(), help_text="{class label: probability}")


class PredictionOutputSerializer(ScoredRowSerializer):
    """The answer to one row: the scored row with the model, version and latency."""

    model = serializers.CharField()
    version = serializers.CharField()
    latency_ms = serializers.FloatField()


class BatchPredictionOutputSerializer(serializers.Serializer[dict[str, Any]]):
    """A scored batch."""

    predictions = ScoredRowSerializer(many=True)
    model = serializers.CharField()
    version = serializers.CharField()
    latency_ms = serializers.FloatField()


# The body as exactly as services.prediction_request_parse takes it: one object with exactly one key, `features` (a row)
# or `instances` (1 to PREDICTION_MAX_BATCH_SIZE rows). Whether a row fits the model's schema is checked per model.
_ROW_SCHEMA = {"oneOf": [{"type": "array", "items": {}}, {"type": "object"}], "description": ROW_DOC}
PREDICT_REQUEST_SCHEMA = {
    "oneOf": [
        {
            "type": "object",
            "title": "OneRow",
            "properties": {"features": _ROW_SCHEMA},
            "required": ["features"],
            "additionalProperties": False,
        },
        {
            "type": "object",
            "title": "Batch",
            "properties": {
                "instances": {
                    "type": "array",
                    "items": _ROW_SCHEMA,
                    "minItems": 1,
                    "maxItems": settings.PREDICTION_MAX_BATCH_SIZE,
                }
            },
            "required": ["instances"],
            "additionalProperties": False,
        },
    ]
}

PREDICT_SCHEMA = extend_schema(
    request={"application/json": PREDICT_REQUEST_SCHEMA},
    responses={
        # One row answers a PredictionOutput, a batch a BatchPredictionOutput.
        200: PolymorphicProxySerializer(
            component_name="PredictResponse",
            serializers=[PredictionOutputSerializer, BatchPredictionOutputSerializer],
            resource_type_field_name=None,
        ),
        400: ERROR_SCHEMA,
        404: ERROR_SCHEMA,
        409: ERROR_SCHEMA,
        413: ERROR_SCHEMA,
        422: ERROR_SCHEMA,
        503: ERROR_SCHEMA,
    },
    examples=[
        OpenApiExample("one row by position", value={"features": [5.1, 3.5, 1.4, 0.2]}, request_only=True),
        OpenApiExample(
            "one row by name",
            value={"features": {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}},
            request_only=True,
        ),
        OpenApiExample("a batch", value={"instances": [[5.1, 3.5, 1.4, 0.2], [6.2, 2.9, 4.3, 1.3]]}, request_only=True),
    ],
    description="Score one row (`features`) or a batch (`instances`; answers `{predictions: [...], ...}`).",
)


def prediction_payload(result: PredictionResult) -> dict[str, Any]:
    """The JSON answer to a predict request: one scored row with the model, version and latency, or for a batch
    `{"predictions": [rows], "model", "version", "latency_ms"}` (docs/api.md). Built by hand, not by the output
    serializers above (which document it): on a 5000-row batch a serializer per row costs more than the scoring."""
    labels = result.class_labels
    # Each row's {label: probability} built by map and zip, looping in C: a third of the answer's cost less than a
    # dict(zip(..)) call per row (the model's output has one column per label, checked when the artifact was loaded).
    probability_maps = map(dict, map(zip, repeat(labels), result.probabilities.tolist()))
    rows = [
        {
            "prediction_id": prediction_id,  # a UUID: orjson and DRF's encoder write its string form
            "prediction": labels[index],
            "confidence": confidence,
            "probabilities": probabilities,
        }
        for prediction_id, index, confidence, probabilities in zip(
            result.prediction_ids,
            result.predicted.tolist(),
            result.confidences.tolist(),
            probability_maps,
            strict=True,
        )
    ]
    meta = {"model": result.model_name, "version": result.model_version, "latency_ms": result.latency_ms}
    if result.is_batch:
        return {"predictions": rows, **meta}
    return {**rows[0], **meta}


class ModelListApi(APIView):
    """GET /api/v1/models: registered models with their active version, feature schema and classes."""

    permission_classes = [ReadAccess]

    @extend_schema_serializer(component_name="Model")
    class OutputSerializer(serializers.Serializer[MLModel]):
        name = serializers.CharField()
        description = serializers.CharField()
        is_default = serializers.BooleanField()
        active_version = serializers.SerializerMethodField()
        versions = serializers.SerializerMethodField()

        def _active(self, model: MLModel) -> ModelVersion | None:
            return next((v for v in model.versions.all() if v.is_active), None)

        def get_active_version(self, model: MLModel) -> dict[str, Any] | None:
            version = self._active(model)
            if version is None:
                return None
            return {
                "version": version.version,
                "framework": version.framework,
                "feature_schema": version.feature_schema,
                "classes": version.class_labels,
                "created_at": version.created_at.isoformat(),
            }

        def get_versions(self, model: MLModel) -> list[str]:
            return [v.version for v in model.versions.all()]

    @extend_schema(responses=OutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        """List enabled models."""
        models = selectors.model_list()
        return Response(self.OutputSerializer(models, many=True).data)  # type: ignore[arg-type]  # stubs: one instance


class PredictApi(LeanPostMixin, APIView):
    """POST /api/v1/models/{name}/predict: score with the active version."""

    permission_classes = [ReadAccess]

    @PREDICT_SCHEMA
    def post(self, request: Request, name: str) -> Response:
        """Score and log."""
        return Response(
            prediction_payload(services.prediction_create(model_name=name, version=None, payload=request.data))
        )


class VersionPredictApi(LeanPostMixin, APIView):
    """POST /api/v1/models/{name}/versions/{version}/predict: score with a named version."""

    permission_classes = [ReadAccess]

    @PREDICT_SCHEMA
    def post(self, request: Request, name: str, version: str) -> Response:
        """Score and log."""
        result = services.prediction_create(model_name=name, version=version, payload=request.data)
        return Response(prediction_payload(result))


class DefaultPredictApi(LeanPostMixin, APIView):
    """POST /predict: the seed's path, scored by the default model."""

    permission_classes = [ReadAccess]

    @PREDICT_SCHEMA
    def post(self, request: Request) -> Response:
        """Score and log with the default model."""
        return Response(
            prediction_payload(services.prediction_create(model_name=None, version=None, payload=request.data))
        )


# The feedback bodies as exactly as services.feedback_payload_parse / feedback_items_parse take them.
_LABEL_SCHEMA = {"oneOf": [{"type": "string"}, {"type": "integer"}], "description": "One of the model's classes."}
FEEDBACK_ONE_SCHEMA = {
    "type": "object",
    "properties": {"label": _LABEL_SCHEMA},
    "required": ["label"],
    "additionalProperties": False,
}
FEEDBACK_BULK_SCHEMA = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {"prediction_id": {"type": "string", "format": "uuid"}, "label": _LABEL_SCHEMA},
        "required": ["prediction_id", "label"],
        "additionalProperties": False,
    },
    "minItems": 1,
    "maxItems": settings.FEEDBACK_MAX_BULK,
    "description": "Each prediction at most once; all or nothing.",
}


class FeedbackApi(APIView):
    """POST /api/v1/predictions/{prediction_id}/feedback: the true label of one prediction (token required)."""

    permission_classes = [IsAuthenticated]
    throttle_scope = "feedback"  # API_THROTTLE_RATES

    @extend_schema(
        # The body, for the OpenAPI schema only: services.feedback_payload_parse validates it.
        request={"application/json": FEEDBACK_ONE_SCHEMA},
        responses={200: inline_serializer("FeedbackOne", {"updated": serializers.IntegerField()}), 400: ERROR_SCHEMA},
    )
    def post(self, request: Request, prediction_id: str) -> Response:
        """Record the label."""
        item = services.feedback_payload_parse(prediction_id=prediction_id, payload=request.data)
        return Response({"updated": services.feedback_record(items=[item])})


class FeedbackBulkApi(APIView):
    """POST /api/v1/feedback: true labels in bulk, all or nothing (token required)."""

    permission_classes = [IsAuthenticated]
    throttle_scope = "feedback"  # API_THROTTLE_RATES

    @extend_schema(
        # The body, for the OpenAPI schema only: services.feedback_items_parse validates it.
        request={"application/json": FEEDBACK_BULK_SCHEMA},
        responses={
            200: inline_serializer("FeedbackBulk", {"updated": serializers.IntegerField()}),
            400: ERROR_SCHEMA,
            404: ERROR_SCHEMA,  # a prediction id that is not logged
        },
    )
    def post(self, request: Request) -> Response:
        """Record the labels."""
        items = services.feedback_items_parse(payload=request.data, max_items=settings.FEEDBACK_MAX_BULK)
        return Response({"updated": services.feedback_record(items=items)})
