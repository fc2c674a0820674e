"""HTTP API of the registry, predictions and feedback: thin views that parse, call one service, and serialize."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.utils import (
    OpenApiExample,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_serializer,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from mlmonitor.auth import ReadAccess
from mlmonitor.errors import ERROR_SCHEMA

from . import selectors, services

ROW_DOC = "One row: a list of values in schema order, or an object {feature name: value}."


class PredictInputSerializer(serializers.Serializer):
    """Either `features` (one row) or `instances` (a batch of rows); documented here, checked by the service."""

    features = serializers.JSONField(required=False, help_text=ROW_DOC)
    instances = serializers.ListField(child=serializers.JSONField(), required=False, help_text="Rows, " + ROW_DOC)


class ScoredRowSerializer(serializers.Serializer):
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


class BatchPredictionOutputSerializer(serializers.Serializer):
    """A scored batch."""

    predictions = ScoredRowSerializer(many=True)
    model = serializers.CharField()
    version = serializers.CharField()
    latency_ms = serializers.FloatField()


PREDICT_SCHEMA = extend_schema(
    request=PredictInputSerializer,
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


class ModelListApi(APIView):
    """GET /api/v1/models: registered models with their active version, feature schema and classes."""

    permission_classes = [ReadAccess]

    @extend_schema_serializer(component_name="Model")
    class OutputSerializer(serializers.Serializer):
        name = serializers.CharField()
        description = serializers.CharField()
        is_default = serializers.BooleanField()
        active_version = serializers.SerializerMethodField()
        versions = serializers.SerializerMethodField()

        def _active(self, model: Any) -> Any:
            return next((v for v in model.versions.all() if v.is_active), None)

        def get_active_version(self, model: Any) -> dict[str, Any] | None:
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

        def get_versions(self, model: Any) -> list[str]:
            return [v.version for v in model.versions.all()]

    @extend_schema(responses=OutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        """List enabled models."""
        return Response(self.OutputSerializer(selectors.model_list(), many=True).data)


class PredictApi(APIView):
    """POST /api/v1/models/{name}/predict: score with the active version."""

    permission_classes = [ReadAccess]

    @PREDICT_SCHEMA
    def post(self, request: Request, name: str) -> Response:
        """Score and log."""
        return Response(services.prediction_create(model_name=name, version=None, payload=request.data))


class VersionPredictApi(APIView):
    """POST /api/v1/models/{name}/versions/{version}/predict: score with a named version."""

    permission_classes = [ReadAccess]

    @PREDICT_SCHEMA
    def post(self, request: Request, name: str, version: str) -> Response:
        """Score and log."""
        return Response(services.prediction_create(model_name=name, version=version, payload=request.data))


class DefaultPredictApi(APIView):
    """POST /predict: the seed's path, scored by the default model."""

    permission_classes = [ReadAccess]

    @PREDICT_SCHEMA
    def post(self, request: Request) -> Response:
        """Score and log with the default model."""
        return Response(services.prediction_create(model_name=None, version=None, payload=request.data))


class FeedbackApi(APIView):
    """POST /api/v1/predictions/{prediction_id}/feedback: the true label of one prediction (token required)."""

    permission_classes = [IsAuthenticated]

    # Nested serializers share the class name "InputSerializer": each OpenAPI component gets its own name.
    @extend_schema_serializer(component_name="FeedbackInput")
    class InputSerializer(serializers.Serializer):
        label = serializers.CharField()

    @extend_schema(
        request=InputSerializer,
        responses={200: inline_serializer("FeedbackOne", {"updated": serializers.IntegerField()}), 400: ERROR_SCHEMA},
    )
    def post(self, request: Request, prediction_id: str) -> Response:
        """Record the label."""
        payload = request.data
        if not isinstance(payload, dict) or set(payload) != {"label"}:
            return Response(
                {"error": {"code": "invalid_input", "message": 'The body must be {"label": ...}.', "details": None}},
                status=status.HTTP_400_BAD_REQUEST,
            )
        item = services.feedback_item_parse(prediction_id=prediction_id, label=payload["label"])
        return Response({"updated": services.feedback_record(items=[item])})


class FeedbackBulkApi(APIView):
    """POST /api/v1/feedback: true labels in bulk, all or nothing (token required)."""

    permission_classes = [IsAuthenticated]

    @extend_schema_serializer(component_name="FeedbackBulkItem")
    class InputSerializer(serializers.Serializer):
        prediction_id = serializers.UUIDField()
        label = serializers.CharField()

    @extend_schema(
        request=InputSerializer(many=True),
        responses={200: inline_serializer("FeedbackBulk", {"updated": serializers.IntegerField()}), 400: ERROR_SCHEMA},
    )
    def post(self, request: Request) -> Response:
        """Record the labels."""
        items = services.feedback_items_parse(payload=request.data, max_items=settings.FEEDBACK_MAX_BULK)
        return Response({"updated": services.feedback_record(items=items)})
