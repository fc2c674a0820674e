"""HTTP API of drift: latest run, history, and queueing a recompute."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from mlmonitor.auth import ReadAccess
from mlmonitor.errors import ERROR_SCHEMA, ApplicationError
from predictions.selectors import model_get

from . import selectors, services
from .models import DriftRun, FeatureDriftResult


def _band_serializer(name: str) -> serializers.Serializer[Any]:
    """OpenAPI shape of an estimate with its sampling-error band (all in 0..1), or null."""
    return inline_serializer(
        name,
        {"value": serializers.FloatField(), "lower": serializers.FloatField(), "upper": serializers.FloatField()},
        allow_null=True,
    )


class FeatureDriftOutputSerializer(serializers.Serializer[FeatureDriftResult]):
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

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        """Leave the chart out unless the view's context asks for it (the schema, without context, keeps it)."""
        fields = super().get_fields()
        if not self.context.get("charts", True):
            fields.pop("chart")
        return fields


class DriftRunOutputSerializer(serializers.Serializer[DriftRun]):
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
    performance = serializers.SerializerMethodField()
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

    @extend_schema_field(
        inline_serializer(
            "DriftRunPerformance",
            {
                "status": serializers.CharField(),
                "message": serializers.CharField(required=False),
                "method": serializers.CharField(required=False),
                "estimated_accuracy": _band_serializer("EstimatedAccuracy"),
                "estimated_f1": _band_serializer("EstimatedF1"),
                "realized_accuracy": serializers.FloatField(allow_null=True),
                "realized_f1": serializers.FloatField(allow_null=True),
                "labelled_count": serializers.IntegerField(),
                "label_coverage": serializers.FloatField(allow_null=True),
            },
        )
    )
    def get_performance(self, run: DriftRun) -> dict[str, Any]:
        """Accuracy and macro F1 estimated without labels (CBPE) with their bands, the realized values over the
        window's labelled rows, and the window's label coverage; estimates are null when there are none (status and
        message say why)."""
        details = run.estimation or {}

        def band(value: float | None, lower: float | None, upper: float | None) -> dict[str, float] | None:
            return (
                None
                if value is None or lower is None or upper is None
                else {
                    "value": value,
                    "lower": lower,
                    "upper": upper,
                }
            )

        payload: dict[str, Any] = {
            "status": details.get("status", "not_computed"),
            "estimated_accuracy": band(
                run.estimated_accuracy, run.estimated_accuracy_lower, run.estimated_accuracy_upper
            ),
            "estimated_f1": band(run.estimated_f1, run.estimated_f1_lower, run.estimated_f1_upper),
            "realized_accuracy": run.realized_accuracy,
            "realized_f1": run.realized_f1,
            "labelled_count": run.labelled_count,
            "label_coverage": run.label_coverage,
        }
        for key in ("message", "method"):
            if key in details:
                payload[key] = details[key]
        return payload


CHARTS_PARAMETER = OpenApiParameter(
    "charts", bool, description="1 to include each feature's chart data (a few KB per feature); default 0."
)


def _charts_requested(request: Request) -> bool:
    """The ?charts= flag (1/true or 0/false; absent: false)."""
    value = request.query_params.get("charts", "0").strip().lower()
    if value not in ("0", "1", "true", "false"):
        raise ApplicationError(f"charts must be 1 or 0, got {value!r}.", code="invalid_parameter", status=400)
    return value in ("1", "true")


class DriftLatestApi(APIView):
    """GET /api/v1/models/{name}/drift: the latest drift run."""

    permission_classes = [ReadAccess]

    @extend_schema(parameters=[CHARTS_PARAMETER], responses={200: DriftRunOutputSerializer, 404: ERROR_SCHEMA})
    def get(self, request: Request, name: str) -> Response:
        """The latest run of the model."""
        charts = _charts_requested(request)
        run = selectors.drift_run_latest_get(model_name=name, charts=charts)
        return Response(DriftRunOutputSerializer(run, context={"charts": charts}).data)


class DefaultDriftApi(APIView):
    """GET /drift: the seed's path, the default model's latest drift run."""

    permission_classes = [ReadAccess]

    @extend_schema(parameters=[CHARTS_PARAMETER], responses={200: DriftRunOutputSerializer, 404: ERROR_SCHEMA})
    def get(self, request: Request) -> Response:
        """The latest run of the default model."""
        charts = _charts_requested(request)
        run = selectors.drift_run_latest_get(model_name=None, charts=charts)
        return Response(DriftRunOutputSerializer(run, context={"charts": charts}).data)


class DriftHistoryApi(APIView):
    """GET /api/v1/models/{name}/drift/history: past runs, newest first, paginated."""

    permission_classes = [ReadAccess]

    @extend_schema(
        parameters=[
            CHARTS_PARAMETER,
            OpenApiParameter(
                "page", int, description="Page number, from 1 (PAGE_SIZE runs a page); past the end: 404."
            ),
        ],
        responses={
            200: inline_serializer(
                "PaginatedDriftRunList",
                {
                    "count": serializers.IntegerField(help_text="Runs in all pages."),
                    "next": serializers.URLField(allow_null=True),
                    "previous": serializers.URLField(allow_null=True),
                    "results": DriftRunOutputSerializer(many=True),
                },
            ),
            404: ERROR_SCHEMA,
        },
    )
    def get(self, request: Request, name: str) -> Response:
        """A page of runs."""
        charts = _charts_requested(request)
        paginator = PageNumberPagination()
        runs = selectors.drift_run_history(model=model_get(name=name), charts=charts)
        page = paginator.paginate_queryset(runs, request, view=self)
        data = DriftRunOutputSerializer(
            page,  # type: ignore[arg-type]  # stubs type one instance only
            many=True,
            context={"charts": charts},
        ).data
        return paginator.get_paginated_response(data)


class DriftRunApi(APIView):
    """POST /api/v1/models/{name}/drift/run: queue a recompute now (token required); 202 with the task id."""

    permission_classes = [IsAuthenticated]
    throttle_scope = "writes"  # API_THROTTLE_RATES

    @extend_schema(
        request=None,
        responses={
            202: inline_serializer(
                "DriftQueued",
                {
                    "task_id": serializers.CharField(),
                    "model": serializers.CharField(),
                    "status_url": serializers.CharField(help_text="GET it to follow the run (also the Location)."),
                },
            ),
            404: ERROR_SCHEMA,
            409: ERROR_SCHEMA,
            503: ERROR_SCHEMA,
        },
    )
    def post(self, request: Request, name: str) -> Response:
        """Queue a drift run of the model."""
        queued = services.drift_run_queue(model_name=name)
        status_url = reverse("drift-run-status", kwargs={"name": queued.model_name, "task_id": queued.task_id})
        body = {"task_id": queued.task_id, "model": queued.model_name, "status_url": status_url}
        return Response(body, status=202, headers={"Location": status_url})


class DriftRunStatusOutputSerializer(serializers.Serializer[services.DriftRunTaskStatus]):
    """Where a queued drift run is."""

    task_id = serializers.CharField()
    model = serializers.CharField(source="model_name")
    state = serializers.ChoiceField(choices=["queued", "running", "done", "skipped", "failed"])
    run_id = serializers.IntegerField(allow_null=True)
    run_status = serializers.CharField(help_text="The run's status once done (ok, partial, insufficient_data).")
    message = serializers.CharField(help_text="Why it was skipped or failed.")
    report_url = serializers.SerializerMethodField(help_text="The run's visual report on the dashboard, once done.")

    def get_report_url(self, status: services.DriftRunTaskStatus) -> str | None:
        return reverse("dashboard:drift-run", args=[status.run_id]) if status.run_id is not None else None


class DriftRunStatusApi(APIView):
    """GET /api/v1/models/{name}/drift/run/{task_id}: the state of a run queued by POST .../drift/run (token)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        responses={200: DriftRunStatusOutputSerializer, 400: ERROR_SCHEMA, 404: ERROR_SCHEMA, 503: ERROR_SCHEMA}
    )
    def get(self, request: Request, name: str, task_id: str) -> Response:
        """The queued run's state, and the run once it is done."""
        status = services.drift_run_task_status_get(model_name=name, task_id=task_id)
        return Response(DriftRunStatusOutputSerializer(status).data)
