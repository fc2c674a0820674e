"""Reads of the drift app: which models are due for drift and what a run reads, reference datasets, drift runs
(latest, history, what the collector exports)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime

from django.db.models import OuterRef, Prefetch, QuerySet, Subquery
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from mlmonitor.errors import ApplicationError
from predictions.models import MLModel, ModelVersion
from predictions.selectors import model_get, model_version_resolve

from . import statistics
from .estimation import CBPEReference
from .models import (
    DriftJobStats,
    DriftRun,
    DriftSettings,
    FeatureDriftResult,
    FeatureTest,
    ReferenceDataset,
    SuggestedThreshold,
)

# --- which models are due ---------------------------------------------------------------------------------------


def drift_due_models() -> QuerySet[MLModel]:
    """The models whose drift is computed, on the schedule and on request: enabled, drift not switched off in their
    drift settings (no settings row means the defaults, on), and an active version with an active reference."""
    return (
        MLModel.objects.filter(is_enabled=True, versions__is_active=True, versions__reference_datasets__is_active=True)
        .exclude(drift_settings__enabled=False)
        .distinct()
        .order_by("pk")
    )


@dataclass(frozen=True)
class DriftInputs:
    """What a drift run of a due model reads: the model, its active version and that version's active reference."""

    model: MLModel
    version: ModelVersion
    reference: ReferenceDataset


def drift_inputs_get(*, model_id: int) -> DriftInputs:
    """The inputs of a drift run of a model that drift_due_models() lists; otherwise ApplicationError saying why
    (404 unknown model, 409 for a model that is disabled, has drift switched off, no active version or no reference)."""
    model = drift_due_models().filter(pk=model_id).first()
    version = ModelVersion.objects.filter(model=model, is_active=True).first() if model is not None else None
    reference = reference_dataset_active_get(model_version=version) if version is not None else None
    if model is None or version is None or reference is None:
        raise _not_due_error(model_id=model_id)
    return DriftInputs(model=model, version=version, reference=reference)


def _not_due_error(*, model_id: int) -> ApplicationError:
    """Why a model is not among drift_due_models() (a message for people; the decision is drift_due_models')."""
    model = MLModel.objects.filter(pk=model_id).first()
    if model is None:
        return ApplicationError(f"No model with id {model_id}.", code="not_found", status=404)
    if not model.is_enabled:
        return ApplicationError(f"Model {model.name!r} is disabled.", code="model_disabled", status=409)
    if DriftSettings.objects.filter(model=model, enabled=False).exists():
        return ApplicationError(
            f"Drift is switched off for model {model.name!r} (admin: Drift settings).",
            code="drift_disabled",
            status=409,
        )
    try:
        version = model_version_resolve(model_name=model.name)
    except ApplicationError as exc:  # no active version (409)
        return exc
    return ApplicationError(
        f"Model {model.name!r} v{version.version} has no reference dataset: upload one in the admin.",
        code="no_reference",
        status=409,
    )


# --- reference datasets -----------------------------------------------------------------------------------------


def reference_dataset_active_get(*, model_version: ModelVersion) -> ReferenceDataset | None:
    """The active reference dataset of a model version, without its prepared statistics (large; see
    reference_statistics_get), or None."""
    return (
        ReferenceDataset.objects.filter(model_version=model_version, is_active=True)
        .defer("numeric_reference", "categorical_reference", "reference_scores", "cbpe_reference")
        .first()
    )


@functools.lru_cache(maxsize=16)
def cbpe_reference_get(*, reference_id: int, uploaded_at: datetime) -> CBPEReference | None:
    """The CBPE state fitted on a labelled reference (None when it was uploaded without labels), kept per process
    as reference_statistics_get keeps the statistics (references are immutable once uploaded)."""
    blob = ReferenceDataset.objects.values_list("cbpe_reference", flat=True).get(pk=reference_id)
    return None if blob is None else CBPEReference.from_bytes(bytes(blob))


@functools.lru_cache(maxsize=16)
def reference_statistics_get(
    *, reference_id: int, uploaded_at: datetime
) -> tuple[statistics.NumericReference, statistics.CategoricalReference]:
    """The prepared statistics of a reference, kept per process: references are immutable once uploaded, and the
    blob (tens of MB for a wide reference) then crosses the database once per worker, not once per run. The upload
    time is part of the key so that a reused id (SQLite after a rollback) never returns another reference."""
    numeric, categorical = ReferenceDataset.objects.values_list("numeric_reference", "categorical_reference").get(
        pk=reference_id
    )
    return (
        statistics.NumericReference.from_bytes(bytes(numeric)),
        statistics.CategoricalReference.from_bytes(bytes(categorical)),
    )


def reference_dataset_active_key(*, model_version_id: int) -> tuple[int, datetime] | None:
    """(id, upload time) of a version's active reference, or None: one indexed query, no blob."""
    found = (
        ReferenceDataset.objects.filter(model_version_id=model_version_id, is_active=True)
        .values_list("id", "uploaded_at")
        .first()
    )
    return None if found is None else (int(found[0]), found[1])


def reference_data_quality_get(
    *, reference_id: int, uploaded_at: datetime
) -> tuple[dict[str, tuple[float, float]], dict[str, list[bool]]]:
    """What the data-quality monitors (predictions/data_quality.py) check rows against: per numeric feature its
    observed (min, max) in the reference (NaN when it has no finite value), per categorical feature whether each
    of its categories (schema order) occurs in the reference. From the per-process cached prepared statistics."""
    numeric, categorical = reference_statistics_get(reference_id=reference_id, uploaded_at=uploaded_at)
    low, high = (statistics.NUMERIC_SUMMARY_KEYS.index(key) for key in ("min", "max"))
    ranges = {
        name: (float(numeric.summaries[i, low]), float(numeric.summaries[i, high]))
        for i, name in enumerate(numeric.names)
    }
    seen = {
        name: (categorical.counts[i, : len(categorical.categories[i])] > 0).tolist()
        for i, name in enumerate(categorical.names)
    }
    return ranges, seen


def feature_tests_get(*, drift_settings: DriftSettings) -> dict[str, str]:
    """The test an operator chose per feature name (features not listed use their type's default)."""
    return dict(FeatureTest.objects.filter(settings=drift_settings).values_list("feature_name", "test"))


# --- drift runs -------------------------------------------------------------------------------------------------


def _feature_results(*, charts: bool) -> Prefetch[str, QuerySet[FeatureDriftResult], str]:
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


def drift_run_latest_get(*, model_name: str | None, charts: bool = True) -> DriftRun:
    """The latest run of an enabled model (the default model when model_name is None), with its feature results
    (and their chart data when `charts`); 404 saying why there is none, e.g. the missing reference dataset."""
    model = model_get(name=model_name)
    run = drift_run_latest(model=model, charts=charts)
    if run is None:
        try:
            drift_inputs_get(model_id=model.pk)
            hint = ""
        except ApplicationError as exc:
            hint = f" {exc.message}"
        raise _no_run_yet_error(model=model, hint=hint)
    return run


def _no_run_yet_error(*, model: MLModel, hint: str) -> ApplicationError:
    """The 404 of a model without a run: why (when it is not due), when the schedule runs next, how to start one."""
    run_url = reverse("drift-run", kwargs={"name": model.name})
    schedule = drift_schedule_get()
    next_run = schedule.next_run_at if schedule is not None else None
    if hint:
        guidance = hint
    elif next_run is not None and schedule is not None:
        guidance = (
            f" The next scheduled run is at {next_run.isoformat(timespec='seconds')} ({schedule.description}); "
            f"start one now with POST {run_url} (token required)."
        )
    else:
        guidance = f" The drift schedule is off; start a run with POST {run_url} (token required)."
    return ApplicationError(
        f"No drift run for model {model.name!r} yet.{guidance}",
        code="not_found",
        status=404,
        details={
            "next_scheduled_run": next_run.isoformat() if next_run is not None else None,
            "schedule": schedule.description if schedule is not None else None,
            "start_run": {"method": "POST", "url": run_url},
        },
    )


# --- the drift schedule (django-celery-beat) ---------------------------------------------------------------------


@dataclass(frozen=True)
class DriftSchedule:
    """Beat's entry that queues the due models' drift runs: what it is and when it next runs (None when off)."""

    periodic_task: PeriodicTask
    description: str
    next_run_at: datetime | None


def drift_schedule_task() -> PeriodicTask | None:
    """The django-celery-beat entry of the drift schedule (drift.tasks.compute_all_drift), None when missing."""
    from .tasks import COMPUTE_ALL_DRIFT  # the tasks module imports the services, which import this one

    return PeriodicTask.objects.select_related("interval", "crontab").filter(task=COMPUTE_ALL_DRIFT).first()


def drift_schedule_get() -> DriftSchedule | None:
    """The drift schedule and its next run, as django-celery-beat computes it: the entry's schedule from its last
    run; an entry that never ran counts from its last change (`date_changed`; its `start_time` when set), so the
    first run comes one interval after the schedule was written, not at once. Times are UTC."""
    task = drift_schedule_task()
    if task is None:
        return None
    if task.interval is not None:
        description = f"every {task.interval.every} {task.interval.period}"
    elif task.crontab is not None:
        cron = task.crontab
        description = f"cron {cron.minute} {cron.hour} {cron.day_of_month} {cron.month_of_year} {cron.day_of_week} UTC"
    else:
        description = "a custom schedule (see Periodic tasks)"
    now = timezone.now()
    next_run = None
    if task.enabled:
        last = task.last_run_at
        if last is None and task.start_time is not None:  # beat runs it at start_time
            next_run = max(now, task.start_time)
        else:
            last = last or task.date_changed or now  # django_celery_beat.schedulers.ModelEntry.__init__
            # whole seconds: the schedule measures the remaining time from its own clock reading, microseconds apart
            next_run = max(now, (now + task.schedule.remaining_estimate(last)).replace(microsecond=0))
    return DriftSchedule(periodic_task=task, description=description, next_run_at=next_run)


REFERENCE_STATISTICS_COLUMNS = ("feature", "type", *statistics.NUMERIC_SUMMARY_KEYS, "categories")


def reference_feature_statistics(*, reference: ReferenceDataset) -> list[dict[str, object]]:
    """Per feature of a reference, in schema order: `feature`, `type` (numeric, categorical), the numeric summary
    (count of non-missing values, missing_share, mean, std, min, p5 .. p95, max; None where undefined) or, for a
    categorical feature, `categories` ({category: share}) with count and missing_share."""
    numeric, categorical = reference_statistics_get(reference_id=reference.pk, uploaded_at=reference.uploaded_at)
    rows: dict[str, dict[str, object]] = {}
    for index, name in enumerate(numeric.names):
        rows[name] = {"feature": name, "type": "numeric", **numeric.summary(index)}
    for index, name in enumerate(categorical.names):
        summary = categorical.summary(index)
        rows[name] = {
            "feature": name,
            "type": "categorical",
            "count": summary["count"],
            "missing_share": summary["missing_share"],
            "categories": summary["shares"],
        }
    order = reference.model_version.schema.names
    return [rows[name] for name in order if name in rows]


def reference_dataset_active_others(*, reference: ReferenceDataset) -> list[ReferenceDataset]:
    """The other active references of the same version (the ones an upload or an activation replaces)."""
    return list(
        ReferenceDataset.objects.filter(model_version_id=reference.model_version_id, is_active=True)
        .exclude(pk=reference.pk)
        .defer("numeric_reference", "categorical_reference")
    )


def drift_run_latest_per_model() -> list[DriftRun]:
    """The latest run of every enabled model (one query for runs, one for their features)."""
    latest = DriftRun.objects.filter(model=OuterRef("model")).order_by("-computed_at", "-id").values("pk")[:1]
    return list(
        DriftRun.objects.filter(model__is_enabled=True, pk=Subquery(latest))
        .select_related("model", "model_version")
        .prefetch_related(_feature_results(charts=False))
    )


def drift_job_stats_list() -> QuerySet[DriftJobStats]:
    """Drift job totals of enabled models."""
    return DriftJobStats.objects.filter(model__is_enabled=True).select_related("model")


def drift_run_latest_ids() -> QuerySet[DriftRun, int]:
    """The primary key of the latest run of every model (enabled or not), as a subquery-ready values queryset."""
    latest = DriftRun.objects.filter(model=OuterRef("model")).order_by("-computed_at", "-id").values("pk")[:1]
    return DriftRun.objects.filter(pk=Subquery(latest)).values_list("pk", flat=True)


def drift_runs_before(*, cutoff: datetime, keep_latest: bool) -> QuerySet[DriftRun]:
    """Runs computed before `cutoff`; with keep_latest, without the latest run of each model however old it is."""
    runs = DriftRun.objects.filter(computed_at__lt=cutoff)
    return runs.exclude(pk__in=drift_run_latest_ids()) if keep_latest else runs


# --- threshold advice -------------------------------------------------------------------------------------------


def suggested_threshold_for(*, model_id: int, feature_name: str | None) -> tuple[SuggestedThreshold, int] | None:
    """The suggested threshold of a model's active reference at its current window size: the prediction's
    (feature_name None), one feature's, or for "" (a threshold over every feature) the largest over its features,
    with the number of suggestions it was taken from. None before the suggestions are computed."""
    version = ModelVersion.objects.filter(model_id=model_id, is_active=True).first()
    reference = reference_dataset_active_get(model_version=version) if version is not None else None
    if reference is None:
        return None
    window_size = (
        DriftSettings.objects.filter(model_id=model_id).values_list("window_size", flat=True).first()
        or DriftSettings._meta.get_field("window_size").get_default()
    )
    rows = SuggestedThreshold.objects.filter(reference=reference, window_size=window_size, value__isnull=False)
    if feature_name is None:
        rows = rows.filter(feature_name=SuggestedThreshold.PREDICTION)
    elif feature_name:
        rows = rows.filter(feature_name=feature_name)
    else:
        rows = rows.exclude(feature_name=SuggestedThreshold.PREDICTION)
    found = list(rows.order_by("-value"))
    return (found[0], len(found)) if found else None


def threshold_backtest(
    *, kind: str, model_id: int | None, feature_name: str, value: float, since: datetime
) -> tuple[int, int] | None:
    """(runs `value` would have flagged, runs considered) among the stored runs computed since `since`, in the scope
    of a threshold (one model or all; one feature or all). Feature drift: runs where a feature in scope scored above
    `value` (the threshold half of the drifted rule; the p-value half does not depend on the threshold); prediction
    drift: prediction score above; estimated accuracy / F1: estimate below, over the runs that have one. None for
    other kinds."""
    runs = DriftRun.objects.filter(computed_at__gte=since)
    if model_id is not None:
        runs = runs.filter(model_id=model_id)
    if kind == "feature_drift":
        results = FeatureDriftResult.objects.filter(run__in=runs, score__isnull=False)
        if feature_name:
            results = results.filter(feature_name=feature_name)
        considered = results.values("run_id").distinct().count()
        flagged = results.filter(score__gt=value).values("run_id").distinct().count()
        return flagged, considered
    fields = {
        "prediction_drift": ("prediction_score", "gt"),
        "estimated_accuracy_below": ("estimated_accuracy", "lt"),
        "estimated_f1_below": ("estimated_f1", "lt"),
    }
    if kind not in fields:
        return None
    field, lookup = fields[kind]
    scored = runs.filter(**{f"{field}__isnull": False})
    return scored.filter(**{f"{field}__{lookup}": value}).count(), scored.count()
