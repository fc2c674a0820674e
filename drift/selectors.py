"""Reads of drift runs: the latest per model, history, and what the collector exports."""

from __future__ import annotations

from django.db.models import OuterRef, Prefetch, QuerySet, Subquery

from predictions.models import MLModel

from .models import DriftJobStats, DriftRun, FeatureDriftResult


def _feature_results(*, charts: bool) -> Prefetch:
    """Prefetch of a run's feature results, without their chart data (a few KB each) unless asked for."""
    results = FeatureDriftResult.objects.all() if charts else FeatureDriftResult.objects.defer("chart")
    return Prefetch("features", queryset=results)


def drift_run_latest(*, model: MLModel, charts: bool = True) -> DriftRun | None:
    """The most recent run of a model, with its feature results (and their chart data when `charts`)."""
    return (
        DriftRun.objects.filter(model=model)
        .prefetch_related(_feature_results(charts=charts))
        .select_related("model_version")
        .first()
    )


def drift_run_history(*, model: MLModel, charts: bool = True) -> QuerySet[DriftRun]:
    """A model's runs, newest first, with their feature results (and their chart data when `charts`)."""
    return (
        DriftRun.objects.filter(model=model)
        .prefetch_related(_feature_results(charts=charts))
        .select_related("model_version")
    )


def drift_run_latest_per_model() -> list[DriftRun]:
    """The latest run of every enabled model (one query for runs, one for their features)."""
    latest = DriftRun.objects.filter(model=OuterRef("model")).order_by("-computed_at", "-id").values("pk")[:1]
    return list(
        DriftRun.objects.filter(model__is_enabled=True, pk=Subquery(latest))
        .select_related("model")
        .prefetch_related(_feature_results(charts=False))
    )


def drift_job_stats_list() -> QuerySet[DriftJobStats]:
    """Drift job totals of enabled models."""
    return DriftJobStats.objects.filter(model__is_enabled=True).select_related("model")
