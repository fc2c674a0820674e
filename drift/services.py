"""Writes of the drift app: reference uploads (prepared once), drift runs (read window, compute, persist)."""

from __future__ import annotations

import dataclasses
import io
import logging
import time
import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
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
from mlmonitor.files import UploadTooLarge, upload_read
from mlmonitor.locks import row_lock
from mlmonitor.retention import PruneResult, primary_key_batches_delete, table_prune
from predictions.data_quality import data_quality_forget
from predictions.models import MLModel, ModelVersion
from predictions.schema import CATEGORICAL, NUMERIC, Feature
from predictions.selectors import PredictionWindow, model_get, prediction_window_outcomes_read
from predictions.services import model_load

from . import estimation, selectors, statistics, threshold_fitting
from .models import DriftJobStats, DriftRun, DriftSettings, FeatureDriftResult, ReferenceDataset, SuggestedThreshold
from .reference import MAX_REPORTED_ERRORS, ReferenceTable, reference_csv_read, reference_parquet_read

logger = logging.getLogger(__name__)

DEFAULT_TESTS = {NUMERIC: "ks", CATEGORICAL: "chi2"}


# --- reference datasets -----------------------------------------------------------------------------------------


def reference_table_read(
    *, data: bytes, file_format: str, model_version: ModelVersion, label_column: str | None = None
) -> ReferenceTable:
    """Parse and check an uploaded reference file against the version's schema (ValidationError names column/row).

    label_column names the file's true-label column (values: the version's class labels); None or "": no labels."""
    reader = {ReferenceDataset.FORMAT_CSV: reference_csv_read, ReferenceDataset.FORMAT_PARQUET: reference_parquet_read}
    if file_format not in reader:
        raise ValidationError({"file_format": f"Unsupported format {file_format!r}: use csv or parquet."})
    return reader[file_format](
        data=data,
        schema=model_version.schema,
        min_rows=settings.REFERENCE_MIN_ROWS,
        label_column=label_column.strip() if label_column and label_column.strip() else None,
        class_labels=[str(label) for label in model_version.class_labels],
    )


def reference_format_guess(filename: str) -> str:
    """csv or parquet from a file name."""
    return ReferenceDataset.FORMAT_PARQUET if filename.lower().endswith((".parquet", ".pq")) else "csv"


def reference_upload_read(file: IO[bytes] | bytes) -> bytes:
    """The bytes of a reference upload, refused (ValidationError, code file_too_large) before it is read when it is
    over REFERENCE_UPLOAD_MAX_BYTES: parsing holds a few times the file in memory."""
    limit = settings.REFERENCE_UPLOAD_MAX_BYTES
    try:
        if isinstance(file, bytes):
            if len(file) > limit:
                raise UploadTooLarge(size=len(file), limit=limit)
            return file
        return upload_read(file, max_bytes=limit)
    except UploadTooLarge as exc:
        raise ValidationError(
            f"{exc} Upload a sample of the training data (REFERENCE_UPLOAD_MAX_BYTES sets the limit).",
            code="file_too_large",
        ) from exc


def reference_dataset_upload(
    *,
    model_version: ModelVersion,
    file: IO[bytes] | bytes,
    filename: str,
    name: str = "",
    file_format: str | None = None,
    label_column: str | None = None,
) -> ReferenceDataset:
    """Check a reference file, prepare its statistics once, store it as the version's active reference.

    With label_column (the file's true-label column), the model's probabilities on the reference and the labels
    fit the CBPE state (drift/estimation.py) that estimates accuracy and F1 of each drift window; the suggested drift
    thresholds are computed after commit (drift.tasks.suggested_thresholds_compute). ValidationError for a bad file,
    label or a reference the estimator cannot be fitted on.

    Reading, parsing, summarizing and scoring the file happen before any transaction opens, and the rows are then
    written in one short transaction: on SQLite a transaction holds the database's write lock from its start, and every
    prediction would wait for the whole upload's work (seconds for a large file). The stored file is removed if that
    transaction fails."""
    data = reference_upload_read(file)
    file_format = file_format or reference_format_guess(filename)
    table = reference_table_read(
        data=data, file_format=file_format, model_version=model_version, label_column=label_column
    )
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
        probabilities = loaded.predict_proba(table.model_input)
    except Exception as exc:
        raise ValidationError(f"The model could not score the reference rows: {exc}") from exc
    unscored = np.flatnonzero(~np.isfinite(probabilities).all(axis=1))
    if unscored.size:  # as the predict API answers 422 for such a row, it cannot count as a reference prediction
        rows = ", ".join(str(row + 1) for row in unscored[:MAX_REPORTED_ERRORS])
        raise ValidationError(
            f"The model returns non-finite probabilities for {unscored.size} reference rows (rows {rows}"
            f"{', ...' if unscored.size > MAX_REPORTED_ERRORS else ''}): values it cannot score?"
        )
    cbpe = _cbpe_fit(probabilities=probabilities, labels=table.labels)
    predicted = probabilities.argmax(axis=1)
    class_counts = np.bincount(predicted, minlength=len(loaded.class_labels))
    reference = ReferenceDataset(
        model_version=model_version,
        name=name or filename,
        file_format=file_format,
        row_count=table.row_count,
        numeric_reference=numeric_reference.to_bytes(),
        categorical_reference=categorical_reference.to_bytes(),
        class_counts={label: int(c) for label, c in zip(loaded.class_labels, class_counts.tolist(), strict=True)},
        label_column=label_column.strip() if table.labels is not None and label_column else "",
        reference_scores=reference_scores_to_bytes(probabilities=probabilities, labels=table.labels),
        cbpe_reference=cbpe.to_bytes() if cbpe is not None else None,
        is_active=True,
    )
    reference.file.save(filename, ContentFile(data), save=False)
    try:
        with transaction.atomic():
            row_lock(ModelVersion, model_version.pk)
            ReferenceDataset.objects.filter(model_version=model_version, is_active=True).update(is_active=False)
            reference.save()
            DriftSettings.objects.get_or_create(model=model_version.model)
            _suggested_thresholds_queue_on_commit(reference_id=reference.pk)
    except BaseException:
        reference.file.delete(save=False)
        raise
    data_quality_forget()
    return reference


def _cbpe_fit(*, probabilities: np.ndarray, labels: np.ndarray | None) -> estimation.CBPEReference | None:
    """The CBPE state of a labelled reference (None without labels); ValidationError when it cannot be fitted."""
    if labels is None:
        return None
    try:
        return estimation.cbpe_reference_prepare(probabilities=probabilities, labels=labels)
    except ValueError as exc:
        raise ValidationError(f"Performance estimation cannot be fitted on this reference: {exc}") from exc


def reference_scores_to_bytes(*, probabilities: np.ndarray, labels: np.ndarray | None) -> bytes:
    """npz (no pickle) of the model's probabilities on the reference [n, classes] and true class indices [n] (-1
    for every row when the reference has no labels)."""
    buffer = io.BytesIO()
    rows = probabilities.shape[0]
    np.savez(
        buffer,
        probabilities=np.asarray(probabilities, dtype=np.float64),
        labels=np.full(rows, -1, dtype=np.int64) if labels is None else np.asarray(labels, dtype=np.int64),
    )
    return buffer.getvalue()


def reference_scores_from_bytes(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities [n, classes], labels [n], -1 = none) of a blob written by reference_scores_to_bytes."""
    with np.load(io.BytesIO(data), allow_pickle=False) as blob:
        return blob["probabilities"].astype(np.float64), blob["labels"].astype(np.int64)


def _suggested_thresholds_queue_on_commit(*, reference_id: int) -> None:
    """Queue the suggested-threshold fit of a new reference once it is committed (a broker outage only logs: the
    beat schedule retries references without suggestions)."""
    from . import tasks  # the tasks module imports this one

    def queue() -> None:
        try:
            tasks.suggested_thresholds_compute.delay(reference_id)
        except tasks.TRANSIENT_ERRORS:
            logger.warning("suggested thresholds of reference %s not queued: broker unavailable", reference_id)

    if settings.SUGGESTED_THRESHOLDS_ON_UPLOAD:
        transaction.on_commit(queue)


# --- suggested thresholds -------------------------------------------------------------------------------------


def suggested_thresholds_compute(*, reference_id: int) -> list[SuggestedThreshold]:
    """Fit the drift threshold of every feature and of the prediction to a reference, for its model's current window
    size, tests and min_samples (drift/threshold_fitting.py: bootstrap under no drift, the
    SUGGESTED_THRESHOLD_QUANTILE with 95% confidence, SUGGESTED_THRESHOLD_RESAMPLES resamples), and store them,
    replacing earlier ones of that reference and window size. Reads the stored file again (seconds for a large
    reference: a Celery task). 404 for an unknown reference."""
    reference = ReferenceDataset.objects.select_related("model_version__model").filter(pk=reference_id).first()
    if reference is None:
        raise ApplicationError(f"No reference dataset with id {reference_id}.", code="not_found", status=404)
    version = reference.model_version
    drift_settings, _ = DriftSettings.objects.get_or_create(model=version.model)
    with reference.file.open("rb") as handle:
        data = handle.read()
    table = reference_table_read(
        data=data, file_format=reference.file_format, model_version=version, label_column=reference.label_column
    )
    schema = version.schema
    tests = _feature_tests(drift_settings, schema.features)
    common: dict[str, Any] = {
        "window_size": drift_settings.window_size,
        "min_samples": drift_settings.min_samples,
        "quantile": settings.SUGGESTED_THRESHOLD_QUANTILE,
        "resamples": settings.SUGGESTED_THRESHOLD_RESAMPLES,
    }
    fitted: list[threshold_fitting.SuggestedThreshold] = []
    numeric = [i for i, f in enumerate(schema.features) if f.kind == NUMERIC]
    categorical = [i for i, f in enumerate(schema.features) if f.kind == CATEGORICAL]
    if numeric:
        fitted += threshold_fitting.numeric_thresholds_fit(
            names=[schema.names[i] for i in numeric],
            values=table.log_matrix[:, numeric],
            tests=[tests[i] for i in numeric],
            **common,
        )
    if categorical:
        fitted += threshold_fitting.categorical_thresholds_fit(
            names=[schema.names[i] for i in categorical],
            categories=[schema.features[i].categories for i in categorical],
            codes=table.log_matrix[:, categorical],
            tests=[tests[i] for i in categorical],
            **common,
        )
    scores = ReferenceDataset.objects.values_list("reference_scores", flat=True).get(pk=reference.pk)
    if scores is not None:
        probabilities, _labels = reference_scores_from_bytes(bytes(scores))
        prediction = threshold_fitting.prediction_threshold_fit(
            class_labels=[str(c) for c in version.class_labels],
            reference_classes=probabilities.argmax(axis=1),
            **common,
        )
        fitted.append(dataclasses.replace(prediction, feature_name=SuggestedThreshold.PREDICTION))
    now = timezone.now()
    rows = [
        SuggestedThreshold(
            reference=reference,
            feature_name=suggestion.feature_name,
            test=suggestion.test,
            window_size=suggestion.window_size,
            quantile=suggestion.quantile,
            confidence=suggestion.confidence,
            value=suggestion.threshold,
            median_score=suggestion.median_score,
            resamples=suggestion.resamples,
            computed_at=now,
        )
        for suggestion in fitted
    ]
    with transaction.atomic():
        SuggestedThreshold.objects.filter(reference=reference, window_size=drift_settings.window_size).delete()
        SuggestedThreshold.objects.bulk_create(rows)
    return rows


@transaction.atomic
def reference_dataset_save(*, reference: ReferenceDataset, fields: Collection[str]) -> list[ReferenceDataset]:
    """Save a reference edited on its page: the fields the edit changed (`fields`: the form's changed_data; a page
    opened before another admin's change does not undo it) and, where the edit ticked "is active", make it its
    version's active reference (reference_dataset_activate). Returns the references it replaced. The version's row
    is locked before the reference's row is written, in the order of the "make active" action: written first, the
    page and the action deadlocked on PostgreSQL (a 503)."""
    row_lock(ModelVersion, reference.model_version_id)
    activate = "is_active" in fields and reference.is_active
    skipped = {"is_active"} if activate else set()  # reference_dataset_activate sets it, with the others' flags
    changed = [f.name for f in ReferenceDataset._meta.concrete_fields if f.name in fields and f.name not in skipped]
    if changed:
        reference.save(update_fields=changed)
    return reference_dataset_activate(reference=reference) if activate else []


@transaction.atomic
def reference_dataset_activate(*, reference: ReferenceDataset) -> list[ReferenceDataset]:
    """Make a reference its version's active one again; returns the references it replaced (now inactive)."""
    row_lock(ModelVersion, reference.model_version_id)
    replaced = selectors.reference_dataset_active_others(reference=reference)
    ReferenceDataset.objects.filter(pk__in=[other.pk for other in replaced]).update(is_active=False)
    ReferenceDataset.objects.filter(pk=reference.pk).update(is_active=True)
    reference.is_active = True
    return replaced


# --- drift runs -------------------------------------------------------------------------------------------------


def _feature_tests(drift_settings: DriftSettings, features: Sequence[Feature]) -> list[str]:
    """The test of each feature: the admin's choice if it fits the feature type, else the default."""
    chosen = selectors.feature_tests_get(drift_settings=drift_settings)
    tests = []
    for feature in features:
        allowed = statistics.NUMERIC_TESTS if feature.kind == NUMERIC else statistics.CATEGORICAL_TESTS
        test = chosen.get(feature.name)
        tests.append(test if test is not None and test in allowed else DEFAULT_TESTS[feature.kind])
    return tests


def _compute_block(
    *,
    compute: Callable[..., Sequence[statistics.FeatureDrift]],
    reference: statistics.NumericReference | statistics.CategoricalReference,
    window: np.ndarray,
    tests: list[str],
    min_samples: int,
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
    bounds = DriftJobStats.DURATION_BUCKETS
    stats, _ = DriftJobStats.objects.select_for_update().get_or_create(
        model=model, defaults={"duration_buckets": [0] * (len(bounds) + 1)}
    )
    buckets = list(stats.duration_buckets) or [0] * (len(bounds) + 1)
    buckets[int(np.searchsorted(bounds, duration, side="left"))] += 1
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


def _features_compute(
    *, inputs: selectors.DriftInputs, window: np.ndarray, tests: list[str], min_samples: int
) -> list[statistics.FeatureDrift | Exception]:
    """Each feature's drift, numeric and categorical blocks vectorized, in schema order; failures as exceptions."""
    features = inputs.version.schema.features
    numeric_reference, categorical_reference = selectors.reference_statistics_get(
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
            min_samples=min_samples,
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


def feature_drift_result_build(
    *,
    run: DriftRun,
    feature: Feature,
    test: str,
    outcome: statistics.FeatureDrift | Exception,
    threshold: float,
    drifted: bool,
    corrected: float,
) -> FeatureDriftResult:
    """The stored row (unsaved) of one feature's outcome in a run, flagged `drifted` with the corrected p-value (NaN:
    none); a failure keeps its error message."""
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
        out_of_range_share=outcome.out_of_range_share,
        unseen_category_share=outcome.unseen_category_share,
        window_size=outcome.window_size,
        reference_size=outcome.reference_size,
        reference_summary=outcome.reference_summary,
        current_summary=outcome.current_summary,
        chart=outcome.chart,
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
    inputs = selectors.drift_inputs_get(model_id=model_id)
    model, version, reference = inputs.model, inputs.version, inputs.reference
    drift_settings, _ = DriftSettings.objects.get_or_create(model=model)
    since = timezone.now() - drift_settings.window_span if drift_settings.window_span else None
    outcomes_window = prediction_window_outcomes_read(version=version, limit=drift_settings.window_size, since=since)
    window, predicted = outcomes_window.features, outcomes_window.predicted

    schema = version.schema
    tests = _feature_tests(drift_settings, schema.features)
    resolved = feature_drift_thresholds_resolve(model=model, feature_names=schema.names)
    thresholds = np.asarray([resolved[name] for name in schema.names])
    outcomes = _features_compute(inputs=inputs, window=window, tests=tests, min_samples=drift_settings.min_samples)
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
            **performance_estimate_fields(
                reference=reference, window=outcomes_window, min_samples=drift_settings.min_samples
            ),
        )
        FeatureDriftResult.objects.bulk_create(
            [
                feature_drift_result_build(
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


def performance_estimate_fields(
    *, reference: ReferenceDataset, window: PredictionWindow, min_samples: int
) -> dict[str, Any]:
    """The DriftRun fields of a window's label coverage and its CBPE estimate of accuracy and macro F1 (with the
    +/-3 sigma band, drift/estimation.py) against the reference's fitted state. Without labels in the reference, with
    fewer than min_samples predictions, or when the estimate fails (logged), the estimates stay null and
    `estimation` says why; the coverage is stored whenever the window has predictions."""
    rows = int(window.labels.size)
    labelled = int((window.labels >= 0).sum())
    fields: dict[str, Any] = {"labelled_count": labelled, "label_coverage": labelled / rows if rows else None}
    state = selectors.cbpe_reference_get(reference_id=reference.pk, uploaded_at=reference.uploaded_at)
    if state is None:
        fields["estimation"] = {
            "status": "no_reference_labels",
            "message": "The reference has no true-label column: upload one with labels to estimate performance.",
        }
        return fields
    if rows < min_samples:
        fields["estimation"] = {
            "status": statistics.INSUFFICIENT,
            "message": f"The window has {rows} predictions; at least {min_samples} are needed.",
        }
        return fields
    try:
        estimate = estimation.cbpe_estimate(reference=state, probabilities=window.probabilities, labels=window.labels)
    except ValueError as exc:
        logger.exception("performance estimate of reference %s failed", reference.pk)
        fields["estimation"] = {"status": "failed", "message": str(exc)}
        return fields
    accuracy, f1 = estimate.accuracy, estimate.f1_macro
    fields.update(
        estimated_accuracy=accuracy.value,
        estimated_accuracy_lower=accuracy.lower,
        estimated_accuracy_upper=accuracy.upper,
        estimated_f1=f1.value,
        estimated_f1_lower=f1.lower,
        estimated_f1_upper=f1.upper,
        realized_accuracy=accuracy.realized,
        realized_f1=f1.realized,
        estimation={"status": statistics.OK, "method": "cbpe", **estimate.as_dict()},
    )
    return fields


# --- queueing runs ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DriftRunQueued:
    """A drift run queued on request: the Celery task id and the model it computes."""

    task_id: str
    model_name: str


# What a 503 for an unreachable broker asks the client to wait, in seconds.
BROKER_RETRY_AFTER_SECONDS = 10


def drift_run_queue(*, model_name: str) -> DriftRunQueued:
    """Queue a drift run of a model now (Celery). 404/409 when the model is not due for drift (selectors.
    drift_inputs_get says why); 409 `already_running` (details: the running task's id) while a run of the model is in
    progress; 503 when the broker cannot be reached. Nothing is written here, so there is no commit
    to wait for: the task is queued at once."""
    from . import tasks  # the tasks module imports this one

    model = model_get(name=model_name)
    selectors.drift_inputs_get(model_id=model.pk)
    task_id = str(uuid.uuid4())
    try:
        running = tasks.drift_run_running(model_id=model.pk)
        if running is None:
            tasks.drift_run_compute.apply_async(args=(model.pk,), task_id=task_id)
    except Exception as exc:
        if not tasks.broker_unreachable(exc):
            raise
        raise ApplicationError(
            f"The task queue is unavailable, try again later: {type(exc).__name__}",
            code="broker_unavailable",
            status=503,
            retry_after=BROKER_RETRY_AFTER_SECONDS,
        ) from exc
    if running is not None:
        raise ApplicationError(
            f"skipped: already running (task {running}); its run will land shortly.",
            code="already_running",
            status=409,
            details={"skipped": "already running", "running_task_id": running},
        )
    return DriftRunQueued(task_id=task_id, model_name=model.name)


@dataclass(frozen=True)
class DriftRunTaskStatus:
    """Where a queued drift run is: `state` queued (or not known to the result backend), running, done, skipped (the
    task found nothing to compute, or a run of the model in progress) or failed; the run once done."""

    task_id: str
    model_name: str
    state: str
    run_id: int | None = None
    run_status: str = ""
    message: str = ""


_TASK_STATES = {"PENDING": "queued", "RECEIVED": "queued", "STARTED": "running", "RETRY": "running"}


def drift_run_task_status_get(*, model_name: str, task_id: str) -> DriftRunTaskStatus:
    """The state of a drift run queued by drift_run_queue, read from Celery's result backend (results expire after
    CELERY_RESULT_EXPIRES seconds; an expired or unknown id reads as queued, as Celery cannot tell them apart).
    400 for a malformed id, 404 for an unknown model, 503 when the backend cannot be reached."""
    from celery.result import AsyncResult

    from . import tasks  # the tasks module imports this one

    try:
        task_id = str(uuid.UUID(task_id))
    except ValueError as exc:
        raise ApplicationError(f"{task_id!r} is not a task id (a UUID).", code="invalid_parameter", status=400) from exc
    model = model_get(name=model_name)
    result: AsyncResult[Any] = AsyncResult(task_id, app=tasks.drift_run_compute.app)
    try:
        state, outcome = result.state, result.result
    except tasks.TRANSIENT_ERRORS as exc:
        raise ApplicationError(
            f"The task results are unavailable, try again later: {type(exc).__name__}",
            code="broker_unavailable",
            status=503,
        ) from exc
    status = DriftRunTaskStatus(task_id=task_id, model_name=model.name, state=_TASK_STATES.get(state, "failed"))
    if state == "SUCCESS":
        outcome = outcome if isinstance(outcome, dict) else {}
        if "run_id" in outcome:
            return replace(status, state="done", run_id=int(outcome["run_id"]), run_status=str(outcome.get("status")))
        return replace(status, state="skipped", message=str(outcome.get("skipped", "")))
    if status.state == "failed":
        return replace(status, message=f"{type(outcome).__name__}: {outcome}" if outcome is not None else state)
    return status


DRIFT_SCHEDULE_MAX_MINUTES = 7 * 24 * 60


def drift_schedule_set(*, every_minutes: int | None, cron: str) -> selectors.DriftSchedule:
    """Set the drift schedule (one for every model: beat's drift.tasks.compute_all_drift entry) to every N minutes
    (1 .. a week) or to a cron expression of five fields (minute hour day-of-month month day-of-week, UTC; Celery's
    crontab syntax: https://docs.celeryq.dev/en/stable/userguide/periodic-tasks.html#crontab-schedules), stored in
    django-celery-beat so a running beat picks it up. ValidationError when neither or both are given, or on a bad
    value. Creates the entry when it is missing."""
    from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

    from .tasks import COMPUTE_ALL_DRIFT  # the tasks module imports this one

    cron = " ".join(cron.split())
    if (every_minutes is None) == (not cron):
        raise ValidationError("Give the schedule as every N minutes or as a cron expression (not both).")
    interval = crontab = None
    if every_minutes is not None:
        if not 1 <= every_minutes <= DRIFT_SCHEDULE_MAX_MINUTES:
            raise ValidationError(f"Every N minutes: N from 1 to {DRIFT_SCHEDULE_MAX_MINUTES}, not {every_minutes}.")
        interval, _ = IntervalSchedule.objects.get_or_create(every=every_minutes, period=IntervalSchedule.MINUTES)
    else:
        fields = cron.split(" ")
        if len(fields) != 5:
            raise ValidationError(
                f"A cron expression has five fields (minute hour day-of-month month day-of-week), not {len(fields)}."
            )
        minute, hour, day_of_month, month_of_year, day_of_week = fields
        values = {
            "minute": minute,
            "hour": hour,
            "day_of_month": day_of_month,
            "month_of_year": month_of_year,
            "day_of_week": day_of_week,
            "timezone": "UTC",
        }
        candidate = CrontabSchedule(**values)
        try:
            candidate.full_clean()
        except ValidationError as exc:
            raise ValidationError(f"The cron expression {cron!r} is not valid: {'; '.join(exc.messages)}") from exc
        crontab = CrontabSchedule.objects.filter(**values).first() or CrontabSchedule.objects.create(**values)
    task = selectors.drift_schedule_task()
    if task is None:
        task = PeriodicTask(name="drift: recompute all models", task=COMPUTE_ALL_DRIFT, expire_seconds=240)
    task.interval, task.crontab, task.enabled = interval, crontab, True
    task.save()  # django-celery-beat's signal tells a running beat to reload its schedule
    schedule = selectors.drift_schedule_get()
    assert schedule is not None
    return schedule


def drift_runs_queue_due() -> list[int]:
    """Queue a drift run for every model that selectors.drift_due_models() lists; returns their ids. Each task
    expires after the hard time limit, so a backlog does not pile up while no worker runs."""
    from . import tasks  # the tasks module imports this one

    model_ids = list(selectors.drift_due_models().values_list("pk", flat=True))
    for model_id in model_ids:
        tasks.drift_run_compute.apply_async(args=(model_id,), expires=settings.DRIFT_TASK_TIME_LIMIT)
    return model_ids


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
        rows_old=lambda cutoff: selectors.drift_runs_before(cutoff=cutoff, keep_latest=True),
        delete=lambda old: primary_key_batches_delete(old, batch_size=max(1, batch_size // RUNS_PER_FEATURE_ROWS)),
        note="the latest run of each model is kept",
        dry_run_note=lambda old: f"with them {FeatureDriftResult.objects.filter(run__in=old).count()} feature results",
    )
