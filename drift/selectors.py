"""Reads of drift runs: the latest per model, history, and what the collector exports."""

from __future__ import annotations

from django.db.models import OuterRef, QuerySet, Subquery

from predictions.models import MLModel

from .models import DriftJobStats, DriftRun


def drift_run_latest(*, model: MLModel) -> DriftRun | None:
    """The most recent run of a model, with its feature results."""
    return DriftRun.objects.filter(model=model).prefetch_related("features").select_related("model_version").first()


def drift_run_history(*, model: MLModel) -> QuerySet[DriftRun]:
    """A model's runs, newest first, with their feature results."""
    return DriftRun.objects.filter(model=model).prefetch_related("features").select_related("model_version")


def drift_run_latest_per_model() -> list[DriftRun]:
    """The latest run of every enabled model (one query for runs, one for their features)."""
    latest = DriftRun.objects.filter(model=OuterRef("model")).order_by("-computed_at", "-id").values("pk")[:1]
    return list(
        DriftRun.objects.filter(model__is_enabled=True, pk=Subquery(latest))
        .select_related("model")
        .prefetch_related("features")
    )


def drift_job_stats_list() -> QuerySet[DriftJobStats]:
    """Drift job totals of enabled models."""
    return DriftJobStats.objects.filter(model__is_enabled=True).select_related("model")


def drift_run_latest_ids() -> QuerySet[DriftRun]:
    """The primary key of the latest run of every model (enabled or not), as a subquery-ready values queryset."""
    latest = DriftRun.objects.filter(model=OuterRef("model")).order_by("-computed_at", "-id").values("pk")[:1]
    return DriftRun.objects.filter(pk=Subquery(latest)).values("pk")
