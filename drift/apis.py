"""HTTP API of drift: latest run, history, and queueing a recompute."""

from __future__ import annotations

import uuid
from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from mlmonitor.auth import ReadAccess
from mlmonitor.errors import ApplicationError
from predictions.apis import ERROR_SCHEMA
from predictions.selectors import model_get

from . import selectors
from .models import DriftRun, ReferenceDataset
from .tasks import TRANSIENT_ERRORS, compute_drift


class FeatureDriftOutputSerializer(serializers.Serializer):
    """One feature's drift in a run."""

    feature = serializers.CharField(source="feature_name")
    type = serializers.CharField(source="feature_type")
    test = serializers.CharField()
    status = serializers.CharField()
    score = serializers.FloatField(allow_null=True)
    statistic = serializers.FloatField(allow_null=True)
    p_value = serializers.FloatField(allow_null=True)
    p_value_corrected = serializers.FloatField(allow_null=True)
    threshold = serializers.FloatField()
    drifted = serializers.BooleanField()
    missing_share = serializers.FloatField()
    out_of_range_share = serializers.FloatField()
    unseen_category_share = serializers.FloatField()
    window_size = serializers.IntegerField()
    reference_size = serializers.IntegerField()
    reference_summary = serializers.JSONField()
    current_summary = serializers.JSONField()
    chart = serializers.JSONField(
        required=False, help_text="With ?charts=1 only: both distributions for display (drift/statistics/charts.py)."
    )
    message = serializers.CharField()

    def get_fields(self) -> dict[str, serializers.Field]:
        """Leave the chart out unless the view's context asks for it (the schema, without context, keeps it)."""
        fields = super().get_fields()
        if not self.context.get("charts", True):
            fields.pop("chart")
        return fields


class DriftRunOutputSerializer(serializers.Serializer):
    """A drift run: per-feature results, prediction drift, window, time."""

    id = serializers.IntegerField()
    model = serializers.CharField(source="model.name")
    version = serializers.SerializerMethodField()
    status = serializers.CharField()
    message = serializers.CharField()
    computed_at = serializers.DateTimeField()
    duration_seconds = serializers.FloatField()
    window_size = serializers.IntegerField()
    drifted_count = serializers.IntegerField()
    drifted_share = serializers.FloatField()
    dataset_drift = serializers.BooleanField()
    features = FeatureDriftOutputSerializer(many=True)
    prediction_drift = serializers.SerializerMethodField()
    settings = serializers.JSONField(source="settings_snapshot")

    def get_version(self, run: DriftRun) -> str | None:
        return run.model_version.version if run.model_version else None

    def get_prediction_drift(self, run: DriftRun) -> dict[str, Any]:
        return {
            "test": "chi2 + jensenshannon",
            "status": run.prediction_status,
            "score": run.prediction_score,
            "chi2": run.prediction_chi2,
            "p_value": run.prediction_p_value,
            "threshold": run.prediction_threshold,
            "drifted": run.prediction_drifted,
            "reference_distribution": run.prediction_reference_distribution,
            "current_distribution": run.prediction_current_distribution,
        }


CHARTS_PARAMETER = OpenApiParameter(
    "charts", bool, description="1 to include each feature's chart data (a few KB per feature); default 0."
)


def _charts_requested(request: Request) -> bool:
    """The ?charts= flag (1/true or 0/false; absent: false)."""
    value = request.query_params.get("charts", "0").strip().lower()
    if value not in ("0", "1", "true", "false"):
        raise ApplicationError(f"charts must be 1 or 0, got {value!r}.", code="invalid_parameter", status=400)
    return value in ("1", "true")


def _latest_or_404(model_name: str | None, *, charts: bool) -> DriftRun:
    model = model_get(name=model_name)
    run = selectors.drift_run_latest(model=model, charts=charts)
    if run is None:
        has_reference = ReferenceDataset.objects.filter(model_version__model=model, is_active=True).exists()
        hint = "" if has_reference else " Upload a reference dataset first."
        raise ApplicationError(f"No drift run for model {model.name!r} yet.{hint}", code="not_found", status=404)
    return run


class DriftLatestApi(APIView):
    """GET /api/v1/models/{name}/drift: the latest drift run."""

    permission_classes = [ReadAccess]

    @extend_schema(parameters=[CHARTS_PARAMETER], responses={200: DriftRunOutputSerializer, 404: ERROR_SCHEMA})
    def get(self, request: Request, name: str) -> Response:
        """The latest run of the model."""
        charts = _charts_requested(request)
        run = _latest_or_404(name, charts=charts)
        return Response(DriftRunOutputSerializer(run, context={"charts": charts}).data)


class DefaultDriftApi(APIView):
    """GET /drift: the seed's path, the default model's latest drift run."""

    permission_classes = [ReadAccess]

    @extend_schema(parameters=[CHARTS_PARAMETER], responses={200: DriftRunOutputSerializer, 404: ERROR_SCHEMA})
    def get(self, request: Request) -> Response:
        """The latest run of the default model."""
        charts = _charts_requested(request)
        run = _latest_or_404(None, charts=charts)
        return Response(DriftRunOutputSerializer(run, context={"charts": charts}).data)


class DriftHistoryApi(APIView):
    """GET /api/v1/models/{name}/drift/history: past runs, newest first, paginated."""

    permission_classes = [ReadAccess]

    @extend_schema(parameters=[CHARTS_PARAMETER], responses=DriftRunOutputSerializer(many=True))
    def get(self, request: Request, name: str) -> Response:
        """A page of runs."""
        charts = _charts_requested(request)
        paginator = PageNumberPagination()
        runs = selectors.drift_run_history(model=model_get(name=name), charts=charts)
        page = paginator.paginate_queryset(runs, request, view=self)
        data = DriftRunOutputSerializer(page, many=True, context={"charts": charts}).data
        return paginator.get_paginated_response(data)


class DriftRunApi(APIView):
    """POST /api/v1/models/{name}/drift/run: queue a recompute now (token required); 202 with the task id."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=None,
        responses={
            202: inline_serializer(
                "DriftQueued", {"task_id": serializers.CharField(), "model": serializers.CharField()}
            ),
            404: ERROR_SCHEMA,
        },
    )
    def post(self, request: Request, name: str) -> Response:
        """Queue compute_drift for the model."""
        model = model_get(name=name)
        task_id = str(uuid.uuid4())
        try:  # nothing is written here, so there is no commit to wait for: queue now and report a broker outage
            compute_drift.apply_async(args=[model.pk], task_id=task_id)
        except TRANSIENT_ERRORS as exc:
            raise ApplicationError(
                f"The task queue is unavailable, try again later: {type(exc).__name__}",
                code="broker_unavailable",
                status=503,
            ) from exc
        return Response({"task_id": task_id, "model": model.name}, status=202)
