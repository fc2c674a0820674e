"""Writes of the drift app: reference uploads (prepared once), drift runs (read window, compute, persist)."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from alerts_config.selectors import feature_drift_thresholds_resolve, prediction_drift_threshold_resolve
from mlmonitor.errors import ApplicationError
from mlmonitor.retention import PruneResult, primary_key_batches_delete, table_prune
from predictions.inference import artifact_read
from predictions.models import MLModel, ModelVersion
from predictions.schema import CATEGORICAL, NUMERIC
from predictions.selectors import prediction_window_read
from predictions.services import model_load

from . import statistics
from .models import DriftJobStats, DriftRun, DriftSettings, FeatureDriftResult, FeatureTest, ReferenceDataset
from .reference import ReferenceTable, reference_csv_read, reference_parquet_read
from .selectors import drift_run_latest_ids

logger = logging.getLogger(__name__)

DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
DEFAULT_TESTS = {NUMERIC: "ks", CATEGORICAL: "chi2"}


# --- reference datasets -----------------------------------------------------------------------------------------


def reference_table_read(*, data: bytes, file_format: str, model_version: ModelVersion) -> ReferenceTable:
    """Parse and check an uploaded reference file against the version's schema (ValidationError names column/row)."""
    reader = {ReferenceDataset.FORMAT_CSV: reference_csv_read, ReferenceDataset.FORMAT_PARQUET: reference_parquet_read}
    if file_format not in reader:
        raise ValidationError({"file_format": f"Unsupported format {file_format!r}: use csv or parquet."})
    return reader[file_format](data=data, schema=model_version.schema, min_rows=settings.REFERENCE_MIN_ROWS)


def reference_format_guess(filename: str) -> str:
    """csv or parquet from a file name."""
    return ReferenceDataset.FORMAT_PARQUET if filename.lower().endswith((".parquet", ".pq")) else "csv"


@transaction.atomic
def reference_dataset_upload(
    *,
    model_version: ModelVersion,
    file: IO[bytes] | bytes,
    filename: str,
    name: str = "",
    file_format: str | None = None,
) -> ReferenceDataset:
    """Check a reference file, prepare its statistics once, store it as the version's active reference."""
    data = file if isinstance(file, bytes) else artifact_read(file)
    file_format = file_format or reference_format_guess(filename)
    table = reference_table_read(data=data, file_format=file_format, model_version=model_version)
    schema = model_version.schema
    numeric = [i for i, f in enumerate(schema.features) if f.kind == NUMERIC]
    categorical = [i for i, f in enumerate(schema.features) if f.kind == CATEGORICAL]
    numeric_reference = statistics.numeric_reference_prepare(
        names=[schema.names[i] for i in numeric], values=table.log_matrix[:, numeric]
    )
    categorical_reference = statistics.categorical_reference_prepare(
        names=[schema.names[i] for i in categorical],
        categories=[schema.features[i].categories for i in categorical],
        codes=table.log_matrix[:, categorical],
    )
    loaded = model_load(model_version=model_version)
    try:
        predicted = loaded.predict_proba(table.model_input).argmax(axis=1)
    except Exception as exc:
        raise ValidationError(f"The model could not score the reference rows: {exc}") from exc
    class_counts = np.bincount(predicted, minlength=len(loaded.class_labels))
    ReferenceDataset.objects.filter(model_version=model_version, is_active=True).update(is_active=False)
    reference = ReferenceDataset(
        model_version=model_version,
        name=name or filename,
        file_format=file_format,
        row_count=table.row_count,
        numeric_reference=numeric_reference.to_bytes(),
        categorical_reference=categorical_reference.to_bytes(),
        class_counts={label: int(c) for label, c in zip(loaded.class_labels, class_counts.tolist(), strict=True)},
        is_active=True,
    )
    reference.file.save(filename, ContentFile(data), save=False)
    reference.save()
    DriftSettings.objects.get_or_create(model=model_version.model)
    return reference


# --- drift runs -------------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=16)
def prepared_reference_load(
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


def _feature_tests(drift_settings: DriftSettings, features: Sequence[Any]) -> list[str]:
    """The test of each feature: the admin's choice if it fits the feature type, else the default."""
    chosen = {row.feature_name: row.test for row in FeatureTest.objects.filter(settings=drift_settings)}
    tests = []
    for feature in features:
        allowed = statistics.NUMERIC_TESTS if feature.kind == NUMERIC else statistics.CATEGORICAL_TESTS
        test = chosen.get(feature.name)
        tests.append(test if test in allowed else DEFAULT_TESTS[feature.kind])
    return tests


def _compute_block(
    *, compute: Any, reference: Any, window: np.ndarray, tests: list[str], min_samples: int
) -> list[statistics.FeatureDrift | Exception]:
    """Run one block of features; if the vectorized call fails, retry feature by feature to isolate the failure."""
    if window.shape[1] == 0:
        return []
    try:
        return list(compute(reference=reference, window=window, tests=tests, min_samples=min_samples))
    except Exception:
        logger.exception("vectorized drift block failed; retrying feature by feature")
    results: list[statistics.FeatureDrift | Exception] = []
    for index in range(window.shape[1]):
        try:
            single = reference.subset([index])
            results.extend(
                compute(reference=single, window=window[:, [index]], tests=[tests[index]], min_samples=min_samples)
            )
        except Exception as exc:
            logger.exception("drift of feature %s failed", reference.names[index])
            results.append(exc)
    return results


def _stats_record(*, model: MLModel, duration: float, failed: bool, feature_failures: int) -> None:
    """Add one job to the model's persisted drift job totals."""
    stats, _ = DriftJobStats.objects.select_for_update().get_or_create(
        model=model, defaults={"duration_buckets": [0] * (len(DURATION_BUCKETS) + 1)}
    )
    buckets = list(stats.duration_buckets) or [0] * (len(DURATION_BUCKETS) + 1)
    buckets[int(np.searchsorted(DURATION_BUCKETS, duration, side="left"))] += 1
    stats.duration_buckets = buckets
    stats.runs = F("runs") + 1
    stats.failures = F("failures") + (1 if failed else 0)
    stats.feature_failures = F("feature_failures") + feature_failures
    stats.duration_sum = F("duration_sum") + duration
    stats.save()


def drift_job_failure_record(*, model_id: int, duration: float) -> None:
    """Count a drift job that failed before it could persist a run."""
    with transaction.atomic():
        model = MLModel.objects.filter(pk=model_id).first()
        if model is not None:
            _stats_record(model=model, duration=duration, failed=True, feature_failures=0)


@dataclass(frozen=True)
class _DriftInputs:
    """What a drift run reads: the model, its active version and reference, and the model's drift settings."""

    model: MLModel
    version: ModelVersion
    reference: ReferenceDataset
    settings: DriftSettings


def _drift_inputs_load(*, model_id: int) -> _DriftInputs:
    """Load what a run needs, or say (409/404) why the model cannot be computed."""
    model = MLModel.objects.filter(pk=model_id).first()
    if model is None:
        raise ApplicationError(f"No model with id {model_id}.", code="not_found", status=404)
    version = ModelVersion.objects.filter(model=model, is_active=True).first()
    if version is None:
        raise ApplicationError(f"Model {model.name!r} has no active version.", code="no_active_version", status=409)
    reference = (
        ReferenceDataset.objects.filter(model_version=version, is_active=True)
        .defer("numeric_reference", "categorical_reference")
        .first()
    )
    if reference is None:
        raise ApplicationError(
            f"Model {model.name!r} v{version.version} has no reference dataset: upload one in the admin.",
            code="no_reference",
            status=409,
        )
    drift_settings, _ = DriftSettings.objects.get_or_create(model=model)
    return _DriftInputs(model=model, version=version, reference=reference, settings=drift_settings)


def _features_compute(
    *, inputs: _DriftInputs, window: np.ndarray, tests: list[str]
) -> list[statistics.FeatureDrift | Exception]:
    """Each feature's drift, numeric and categorical blocks vectorized, in schema order; failures as exceptions."""
    features = inputs.version.schema.features
    numeric_reference, categorical_reference = prepared_reference_load(
        reference_id=inputs.reference.pk, uploaded_at=inputs.reference.uploaded_at
    )
    outcomes: dict[int, statistics.FeatureDrift | Exception] = {}
    for kind, compute, reference in (
        (NUMERIC, statistics.numeric_drift_compute, numeric_reference),
        (CATEGORICAL, statistics.categorical_drift_compute, categorical_reference),
    ):
        indices = [i for i, feature in enumerate(features) if feature.kind == kind]
        block = _compute_block(
            compute=compute,
            reference=reference,
            window=window[:, indices],
            tests=[tests[i] for i in indices],
            min_samples=inputs.settings.min_samples,
        )
        outcomes.update(zip(indices, block, strict=True))
    return [outcomes[i] for i in range(len(features))]


def _flags_decide(
    *, outcomes: list[statistics.FeatureDrift | Exception], thresholds: np.ndarray, drift_settings: DriftSettings
) -> tuple[np.ndarray, np.ndarray]:
    """(drifted flags, corrected p-values with NaN where none) under the model's decision rule."""
    scores = np.full(len(outcomes), np.nan)
    p_values = np.full(len(outcomes), np.nan)
    for i, result in enumerate(outcomes):
        if isinstance(result, statistics.FeatureDrift) and result.status == statistics.OK and result.score is not None:
            scores[i] = result.score
            if result.p_value is not None:
                p_values[i] = result.p_value
    flags = statistics.drift_flags_decide(
        scores=scores,
        p_values=p_values,
        thresholds=thresholds,
        alpha=drift_settings.alpha,
        correction=drift_settings.correction,
        use_threshold=drift_settings.use_threshold,
        use_p_value=drift_settings.use_p_value,
    )
    corrected = np.full(len(outcomes), np.nan)
    has_p = ~np.isnan(p_values)
    if has_p.any():
        corrected[has_p] = statistics.p_values_correct(p_values=p_values[has_p], method=drift_settings.correction)
    return flags, corrected


def _feature_result_build(
    *,
    run: DriftRun,
    feature: Any,
    test: str,
    outcome: statistics.FeatureDrift | Exception,
    threshold: float,
    drifted: bool,
    corrected: float,
) -> FeatureDriftResult:
    """The stored row of one feature's outcome (a failure keeps its error message)."""
    common = {"run": run, "feature_name": feature.name, "feature_type": feature.kind, "threshold": threshold}
    if isinstance(outcome, Exception):
        return FeatureDriftResult(
            **common,
            test=test,
            status="failed",
            score=None,
            statistic=None,
            p_value=None,
            p_value_corrected=None,
            drifted=False,
            message=f"{type(outcome).__name__}: {outcome}",
        )
    return FeatureDriftResult(
        **common,
        test=outcome.test,
        status=outcome.status,
        score=outcome.score,
        statistic=outcome.statistic,
        p_value=outcome.p_value,
        p_value_corrected=None if np.isnan(corrected) else float(corrected),
        drifted=drifted,
        missing_share=outcome.missing_share,
        window_size=outcome.window_size,
        reference_size=outcome.reference_size,
        reference_summary=outcome.reference_summary,
        current_summary=outcome.current_summary,
        message=outcome.message,
    )


def _settings_snapshot(drift_settings: DriftSettings) -> dict[str, Any]:
    """The settings a run used, stored with it."""
    span = drift_settings.window_span
    return {
        "window_size": drift_settings.window_size,
        "window_span_seconds": span.total_seconds() if span else None,
        "min_samples": drift_settings.min_samples,
        "alpha": drift_settings.alpha,
        "correction": drift_settings.correction,
        "use_threshold": drift_settings.use_threshold,
        "use_p_value": drift_settings.use_p_value,
        "dataset_drift_share": drift_settings.dataset_drift_share,
    }


def drift_run_compute(*, model_id: int) -> DriftRun:
    """Compute the drift of a model's active version against its active reference and persist the run."""
    started = time.perf_counter()
    inputs = _drift_inputs_load(model_id=model_id)
    model, version, reference, drift_settings = inputs.model, inputs.version, inputs.reference, inputs.settings
    since = timezone.now() - drift_settings.window_span if drift_settings.window_span else None
    window, predicted = prediction_window_read(version=version, limit=drift_settings.window_size, since=since)

    schema = version.schema
    tests = _feature_tests(drift_settings, schema.features)
    resolved = feature_drift_thresholds_resolve(model=model, feature_names=schema.names)
    thresholds = np.asarray([resolved[name] for name in schema.names])
    outcomes = _features_compute(inputs=inputs, window=window, tests=tests)
    flags, corrected = _flags_decide(outcomes=outcomes, thresholds=thresholds, drift_settings=drift_settings)

    class_labels = [str(c) for c in version.class_labels]
    prediction = statistics.prediction_drift_compute(
        class_labels=class_labels,
        reference_counts=np.asarray([reference.class_counts.get(label, 0) for label in class_labels]),
        window_classes=predicted,
        min_samples=drift_settings.min_samples,
    )
    prediction_threshold = prediction_drift_threshold_resolve(model=model)

    failed = [i for i, outcome in enumerate(outcomes) if isinstance(outcome, Exception)]
    evaluated = sum(
        1 for outcome in outcomes if isinstance(outcome, statistics.FeatureDrift) and outcome.status == statistics.OK
    )
    drifted_count = int(flags.sum())
    drifted_share = drifted_count / evaluated if evaluated else 0.0
    if failed and len(failed) == len(outcomes):
        status = DriftRun.STATUS_FAILED
    elif failed:
        status = DriftRun.STATUS_PARTIAL
    elif evaluated == 0:
        status = DriftRun.STATUS_INSUFFICIENT
    else:
        status = DriftRun.STATUS_OK
    message = ""
    if status == DriftRun.STATUS_INSUFFICIENT:
        message = f"The window has {len(predicted)} predictions; at least {drift_settings.min_samples} are needed."
    if failed:
        message = "Failed features: " + ", ".join(f"{schema.names[i]} ({outcomes[i]})" for i in failed)

    with transaction.atomic():
        run = DriftRun.objects.create(
            model=model,
            model_version=version,
            reference=reference,
            status=status,
            message=message,
            computed_at=timezone.now(),
            duration_seconds=0.0,
            window_size=len(predicted),
            feature_count=len(outcomes),
            drifted_count=drifted_count,
            failed_count=len(failed),
            drifted_share=drifted_share,
            dataset_drift=bool(evaluated) and drifted_share >= drift_settings.dataset_drift_share,
            prediction_status=prediction.status,
            prediction_score=prediction.score,
            prediction_chi2=prediction.chi2_statistic,
            prediction_p_value=prediction.p_value,
            prediction_threshold=prediction_threshold,
            prediction_drifted=prediction.score is not None and prediction.score > prediction_threshold,
            prediction_reference_distribution=prediction.reference_distribution,
            prediction_current_distribution=prediction.current_distribution,
            settings_snapshot=_settings_snapshot(drift_settings),
        )
        FeatureDriftResult.objects.bulk_create(
            [
                _feature_result_build(
                    run=run,
                    feature=feature,
                    test=tests[i],
                    outcome=outcomes[i],
                    threshold=float(thresholds[i]),
                    drifted=bool(flags[i]),
                    corrected=float(corrected[i]),
                )
                for i, feature in enumerate(schema.features)
            ]
        )
        duration = time.perf_counter() - started
        run.duration_seconds = duration
        run.save(update_fields=["duration_seconds"])
        _stats_record(
            model=model, duration=duration, failed=status == DriftRun.STATUS_FAILED, feature_failures=len(failed)
        )
    return run


# --- retention --------------------------------------------------------------------------------------------------

RUNS_PER_FEATURE_ROWS = 100  # a run carries one result row per feature: delete fewer runs per batch than rows


def drift_run_prune(
    *, retention_days: int, batch_size: int, dry_run: bool = False, now: datetime | None = None
) -> PruneResult:
    """Remove drift runs computed before the retention, with their feature results (cascade), in batches.

    The latest run of each model is kept however old it is: it is the model's current drift state (the API's
    `GET .../drift`, the drift gauges on /metrics and the alert rules read it), and it must not vanish because the
    schedule was paused or the model went quiet.
    """
    return table_prune(
        model=DriftRun,
        retention_days=retention_days,
        dry_run=dry_run,
        now=now,
        rows_old=lambda cutoff: DriftRun.objects.filter(computed_at__lt=cutoff).exclude(pk__in=drift_run_latest_ids()),
        delete=lambda old: primary_key_batches_delete(old, batch_size=max(1, batch_size // RUNS_PER_FEATURE_ROWS)),
        note="the latest run of each model is kept",
        dry_run_note=lambda old: f"with them {FeatureDriftResult.objects.filter(run__in=old).count()} feature results",
    )
