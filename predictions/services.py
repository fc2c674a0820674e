"""Writes of the model registry, the prediction log and feedback. Views call these; so does the admin."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Collection
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connection, connections, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django_prometheus.db.common import DatabaseWrapperMixin

from mlmonitor.backends import statement_record
from mlmonitor.errors import ApplicationError, application_error_from
from mlmonitor.files import upload_read
from mlmonitor.locks import row_lock
from mlmonitor.metrics import MetricWrites
from mlmonitor.passed_checks import PassedChecks, content_digest
from mlmonitor.retention import PruneResult, batch_pause, table_prune

from . import metrics
from .coalescing import Coalescer, ScoringJob, coalescers
from .copy_binary import prediction_copy_buffer
from .data_quality import data_quality_batch_record
from .encoding import RowError, rows_to_bytes
from .ids import uuid7_batch, uuid7_floor
from .inference import ArtifactError, LoadedModel, artifact_load, extra_trusted_types, model_cache
from .integrity import version_check_failed
from .models import MLModel, ModelVersion, Prediction
from .schema import FeatureSchema, SchemaError, feature_schema_parse
from .selectors import model_version_active_list, model_version_resolve_cached, model_version_resolve_forget

logger = logging.getLogger(__name__)


# --- registry ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArtifactCheck:
    """What checking an artifact established: its SHA-256, the memory of a loaded copy (bytes), the schema it fits."""

    sha256: str
    memory_bytes: int
    schema: FeatureSchema


# Artifacts that passed, by (content digest, schema, labels, trusted types): an admin save checks in the form, to
# show the error there, and again in the service; the second check does not load the artifact again.
_passed_artifact_checks: PassedChecks[ArtifactCheck] = PassedChecks(size=16)


def artifact_check(*, data: bytes, feature_schema: object, class_labels: object) -> ArtifactCheck:
    """Load an artifact with skops' trusted-type check (predictions/inference.py) and check it against a schema and
    class labels; ValidationError, keyed by the field at fault, says why it is refused."""
    try:
        schema = feature_schema_parse(feature_schema)
    except SchemaError as exc:
        raise ValidationError({"feature_schema": str(exc)}) from exc
    if not isinstance(class_labels, list) or len(class_labels) < 2 or not all(isinstance(c, str) for c in class_labels):
        raise ValidationError({"class_labels": "Give at least two class labels, as strings, in classes_ order."})
    key = (
        content_digest(data),
        json.dumps(schema.to_json(), sort_keys=True),
        tuple(class_labels),
        tuple(extra_trusted_types()),
    )
    passed = _passed_artifact_checks.get(key)
    if passed is not None:
        return passed
    try:
        loaded = artifact_load(data=data, schema=schema, class_labels=class_labels)
    except ArtifactError as exc:
        raise ValidationError({"artifact": str(exc)}) from exc
    checked = ArtifactCheck(sha256=loaded.sha256, memory_bytes=loaded.memory_bytes, schema=loaded.schema)
    _passed_artifact_checks.add(key, checked)
    return checked


def model_version_register(
    *,
    model_name: str,
    version: str,
    artifact: IO[bytes] | bytes,
    feature_schema: list[dict[str, Any]],
    class_labels: list[str],
    framework: str = ModelVersion.FRAMEWORK_SKLEARN,
    activate: bool = True,
    make_default: bool = False,
    artifact_name: str | None = None,
) -> ModelVersion:
    """Register a checked artifact as a new version of a model (created if needed), optionally active/default. The
    artifact is loaded and checked before the transaction opens (on SQLite a transaction holds the write lock, and
    every prediction would wait for the load)."""
    data = artifact if isinstance(artifact, bytes) else upload_read(artifact)
    checked = artifact_check(data=data, feature_schema=feature_schema, class_labels=class_labels)
    with transaction.atomic():
        model, _ = MLModel.objects.get_or_create(name=model_name)
        if make_default:
            models_lock_all()  # every model's row, this one's included, before any one of them (no deadlock)
        else:
            row_lock(MLModel, model.pk)
        model_version = ModelVersion(
            model=model,
            version=version,
            framework=framework,
            feature_schema=checked.schema.to_json(),
            class_labels=list(class_labels),
            artifact_sha256=checked.sha256,
            memory_bytes=checked.memory_bytes,
        )
        # Validate (an existing version is refused here, not by the database) before the file is written: no orphans.
        model_version.full_clean(exclude=["artifact"])
        model_version.artifact.save(artifact_name or f"{model_name}-{version}.skops", ContentFile(data), save=False)
        model_version.save()
        if activate:
            model_version_activate(model_version=model_version)
        if make_default:
            model_set_default(model=model)
        return model_version


def model_version_save_checked(
    *, model_version: ModelVersion, data: bytes | None, fields: Collection[str] | None = None
) -> ModelVersion:
    """Save an admin-edited version: check its artifact (`data`, given when the artifact, schema or labels changed)
    against schema and labels before the transaction opens (as in model_version_register), keep one active
    version. `fields`, for an edit (the form's changed_data): where "is_active" is not among them, the version keeps
    the state it has now, so a page opened before another admin activated a version does not undo that."""
    if data is not None:
        checked = artifact_check(
            data=data, feature_schema=model_version.feature_schema, class_labels=model_version.class_labels
        )
        model_version.artifact_sha256 = checked.sha256
        model_version.memory_bytes = checked.memory_bytes
        model_version.feature_schema = checked.schema.to_json()
    with transaction.atomic():
        row_lock(MLModel, model_version.model_id)
        if fields is not None and "is_active" not in fields:  # an edit (fields: its changed data)
            model_version.is_active = ModelVersion.objects.values_list("is_active", flat=True).get(pk=model_version.pk)
        if model_version.is_active:
            # Deactivate the others first, so the one-active-version constraint validates; a failure below rolls back.
            others = ModelVersion.objects.filter(model=model_version.model, is_active=True)
            others.exclude(pk=model_version.pk).update(is_active=False)
        model_version.full_clean()
        model_version.save()
        transaction.on_commit(model_version_resolve_forget)
        return model_version


@transaction.atomic
def model_version_activate(*, model_version: ModelVersion) -> ModelVersion:
    """Make this version the one that answers for its model."""
    row_lock(MLModel, model_version.model_id)
    ModelVersion.objects.filter(model=model_version.model, is_active=True).exclude(pk=model_version.pk).update(
        is_active=False
    )
    model_version.is_active = True
    model_version.save(update_fields=["is_active"])
    transaction.on_commit(model_version_resolve_forget)
    return model_version


def models_lock_all() -> None:
    """Lock every model's row, in key order, until the transaction ends (SELECT ... FOR NO KEY UPDATE, as
    mlmonitor.locks.row_lock; on SQLite nothing): what a change of the default model takes before its first write of
    a model row. Two concurrent changes then run one after another instead of both missing the other's uncommitted
    default (the one-default-model constraint would fail one of them). Taken before any single model's row
    (mlmonitor.locks.row_lock) or update of one: a transaction that held one model's row and then waited here for
    the rest deadlocked with one that locked them all in key order (PostgreSQL's "deadlock detected", a 503)."""
    list(MLModel.objects.select_for_update(no_key=True).order_by("pk").values_list("pk", flat=True))


def model_set_default(*, model: MLModel) -> MLModel:
    """Make this model the one behind the seed's /predict and /drift (the other default loses it; model_save)."""
    model.is_default = True
    return model_save(model=model, fields=("is_default",))


@transaction.atomic
def model_save(*, model: MLModel, fields: Collection[str] | None = None) -> MLModel:
    """Save a model as edited (the admin's add and change pages): a new one whole (`fields` None), an edited one's
    changed fields only (`fields`: the form's changed_data; a page opened before another admin's change does not
    undo it). Made the default, it takes the default from the model that had it: every model's row is locked first
    (models_lock_all), before this row is written."""
    if model.is_default and (fields is None or "is_default" in fields):
        models_lock_all()
        MLModel.objects.filter(is_default=True).exclude(pk=model.pk).update(is_default=False)
    if fields is None:
        model.save()
    elif changed := [f.name for f in MLModel._meta.concrete_fields if f.name in fields]:
        model.save(update_fields=[*changed, "updated_at"])
    transaction.on_commit(model_version_resolve_forget)
    return model


def model_memory_bytes(*, model_version: ModelVersion, loaded: LoadedModel | None = None) -> int:
    """The one figure of a version's memory (bytes): the size of a loaded copy measured when its artifact was checked,
    stored on the version and shown by the admin; ml_model_memory_bytes reports the same number. (A new measure in
    each process would differ by a few bytes: Python's object sizes depend on the process' history.) A version stored
    without a measure falls back on this load's."""
    if model_version.memory_bytes > 0 or loaded is None:
        return model_version.memory_bytes
    return loaded.memory_bytes


def model_load(*, model_version: ModelVersion) -> LoadedModel:
    """The loaded model of a version, from this process' cache or from its stored artifact."""

    def loader() -> LoadedModel:
        with model_version.artifact.open("rb") as handle:
            data = handle.read()
        loaded = artifact_load(
            data=data, schema=model_version.schema, class_labels=[str(c) for c in model_version.class_labels]
        )
        memory = model_memory_bytes(model_version=model_version, loaded=loaded)
        metrics.model_memory_record(model_name=model_version.model.name, memory_bytes=memory)
        metrics.prediction_series_create(model_name=model_version.model.name, model_version=model_version.version)
        return loaded

    try:
        return model_cache.get(version_id=model_version.pk, fingerprint=model_version.cache_key, loader=loader)
    except (ArtifactError, OSError) as exc:
        logger.exception("cannot load %s", model_version)
        raise ApplicationError(
            f"Model {model_version} cannot be loaded: {exc}", code="model_unavailable", status=503
        ) from exc


def models_warm() -> list[ModelVersion]:
    """Load the active versions of enabled models into this process' model cache, the default model's first and at
    most MODEL_CACHE_SIZE of them, and resolve the default model's version, as a web worker's first requests would;
    returns the versions loaded. A version whose artifact cannot be loaded is logged and skipped (its requests answer
    503 as before); database errors propagate."""
    versions = sorted(model_version_active_list(), key=lambda version: (not version.model.is_default, version.pk))
    loaded: list[ModelVersion] = []
    for model_version in versions:
        if len(loaded) == max(1, settings.MODEL_CACHE_SIZE):
            break
        try:
            model_load(model_version=model_version)
        except ApplicationError:
            continue  # model_load logged why; it takes no place in the cache
        loaded.append(model_version)
    if any(version.model.is_default for version in versions):
        model_version_resolve_cached(model_name=None)
    return loaded


# --- predictions ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PredictionRequest:
    """A parsed predict body: its rows and whether it was a batch."""

    rows: list[object]
    is_batch: bool


def prediction_request_parse(*, payload: object) -> PredictionRequest:
    """Accept `{"features": row}` or `{"instances": [row, ..]}`; anything else is a 400 saying what was expected."""
    if not isinstance(payload, dict):
        raise ApplicationError(
            'The body must be a JSON object: {"features": [...]} or {"instances": [[...], ...]}.', code="invalid_input"
        )
    keys = set(payload)
    if keys == {"features"}:
        return PredictionRequest(rows=[payload["features"]], is_batch=False)
    if keys == {"instances"}:
        instances = payload["instances"]
        if not isinstance(instances, list):
            raise ApplicationError(
                '"instances" must be a list of rows.', code="invalid_input", details={"field": "instances"}
            )
        if not instances:
            raise ApplicationError('"instances" is empty: send at least one row.', code="empty_batch")
        limit = settings.PREDICTION_MAX_BATCH_SIZE
        if len(instances) > limit:
            raise ApplicationError(
                f"The batch has {len(instances)} rows; the limit is {limit}.",
                code="batch_too_large",
                details={"rows": len(instances), "limit": limit},
            )
        return PredictionRequest(rows=instances, is_batch=True)
    raise ApplicationError(
        'The body must have exactly one key, "features" (one row) or "instances" (a batch); got '
        + (", ".join(sorted(map(str, keys))) or "none")
        + ".",
        code="invalid_input",
    )


_LOG_COLUMNS = ("id", "model_version_id", "features", "predicted_index", "confidence", "probabilities", "latency_ms")
# One prediction-log row, in _LOG_COLUMNS order.
_LogRow = tuple[uuid.UUID, int, bytes, int, float, bytes, float]


_INSERT_STATEMENTS: dict[tuple[str, int], str] = {}  # (database vendor, rows) -> the multi-row INSERT


def _insert_statement(vendor: str, ops: Any, rows: int) -> str:
    """The INSERT of `rows` prediction-log rows (placeholders in _LOG_COLUMNS order), built once per row count: the
    quoting and joining cost about a third of a single-row insert's CPU when done per call."""
    statement = _INSERT_STATEMENTS.get((vendor, rows))
    if statement is None:
        table = ops.quote_name(Prediction._meta.db_table)
        columns = ", ".join(ops.quote_name(c) for c in _LOG_COLUMNS)
        values = ", ".join(["(" + ", ".join(["%s"] * len(_LOG_COLUMNS)) + ")"] * rows)
        statement = _INSERT_STATEMENTS[vendor, rows] = f"INSERT INTO {table} ({columns}) VALUES {values}"  # noqa: S608
    return statement


def _prediction_rows_insert(rows: list[_LogRow], writes: MetricWrites | None = None) -> None:
    """Log predictions (tuples in _LOG_COLUMNS order) atomically: one multi-row INSERT for small batches; COPY
    (PostgreSQL) or executemany in a transaction for large ones. The PostgreSQL INSERT's django_db_* increments go
    into `writes` when given (the caller writes them).

    Raw SQL, not the ORM: building a model instance per row cost more than scoring it (see docs/benchmarks.md).
    """
    database = connections[DEFAULT_DB_ALIAS]  # one lookup: each attribute of the `connection` proxy costs another
    prepare = Prediction._meta.get_field("id").get_db_prep_value
    if len(rows) <= 500:  # one multi-row INSERT in autocommit: atomic on its own, one round trip
        params = [param for row in rows for param in (prepare(row[0], database), *row[1:])]
        statement = _insert_statement(database.vendor, database.ops, len(rows))
        if database.vendor == "postgresql":
            _server_bound_execute(database, statement, params, writes)
            return
        with database.cursor() as cursor:
            cursor.execute(statement, params)
        return
    table = database.ops.quote_name(Prediction._meta.db_table)
    columns = ", ".join(database.ops.quote_name(c) for c in _LOG_COLUMNS)
    with transaction.atomic(), database.cursor() as cursor:
        if database.vendor == "postgresql":
            # the driver's own COPY: its errors made Django's (IntegrityError, OperationalError: the 503), as a
            # Django cursor makes them
            with database.wrap_database_errors, cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        prepared = [(prepare(row[0], database), *row[1:]) for row in rows]
        cursor.executemany(_insert_statement(database.vendor, database.ops, 1), prepared)


def _server_bound_execute(database: Any, statement: str, params: list[Any], writes: MetricWrites | None = None) -> None:
    """Run one statement on PostgreSQL with server-side parameter binding: a psycopg `Cursor` on the connection of a
    Django cursor, which sends the parameters apart from the statement, instead of Django's client-side binding
    cursor, which first writes every parameter into the SQL text in Python (and under METRICS_ENABLED goes through
    django-prometheus' wrapper, with a labels() lookup per series per statement). Measured: about 50 us less CPU per
    single-row INSERT (docs/benchmarks.md, "Prediction-log INSERT with server-side binding"). Django's cursor still
    makes its connection checks, errors are Django's (wrap_database_errors, so an outage is a 503), and the statement
    is recorded in the django_db_* series when django-prometheus' backend is in use (into `writes` when given).
    Prepared statements stay as Django configures them (off unless OPTIONS sets prepare_threshold), so connection
    poolers keep working."""
    import psycopg  # the PostgreSQL driver: imported only where PostgreSQL is in use

    error: BaseException | None = None
    with database.cursor() as django_cursor, database.wrap_database_errors:
        started = time.perf_counter()
        try:
            with psycopg.Cursor(django_cursor.cursor.connection) as cursor:
                cursor.execute(statement, params)
        except BaseException as exc:  # the driver's exception, as django-prometheus counts it (Django's is raised)
            error = exc
            raise
        finally:
            if isinstance(database, DatabaseWrapperMixin):  # django-prometheus' backend (METRICS_ENABLED)
                statement_record(
                    alias=database.alias,
                    vendor=database.vendor,
                    seconds=time.perf_counter() - started,
                    error=error,
                    writes=writes,
                )


def _non_finite_error() -> ApplicationError:
    return ApplicationError(
        "The model returned non-finite probabilities for this input (a missing value it cannot handle?).",
        code="prediction_failed",
        status=422,
    )


def _scoring_batch_process(jobs: list[ScoringJob]) -> None:
    """Score a batch of jobs (one loaded model) with one predict_proba call; log all their rows with one statement
    and commit. A job the model cannot score, or scores as NaN, gets a 422 and logs nothing; the others go on."""
    loaded = jobs[0].model
    assert loaded is not None, "_score_and_log sets the model before a job is queued"
    version_id = jobs[0].version_id
    inputs = [job.model_input for job in jobs]
    try:
        stacked = loaded.predict_proba(inputs[0] if len(inputs) == 1 else np.concatenate(inputs))
        parts: list[np.ndarray | None] = (
            [stacked] if len(inputs) == 1 else list(np.split(stacked, np.cumsum([len(m) for m in inputs])[:-1]))
        )
        finite = bool(np.isfinite(stacked).all())  # one check for the batch; per job only when it fails
    except Exception:  # find out whose rows the model cannot score
        finite, parts = False, []
        for job in jobs:
            try:
                parts.append(loaded.predict_proba(job.model_input))
            except Exception as exc:
                logger.exception("prediction failed for model version %s", version_id)
                job.error = ApplicationError(
                    f"The model could not score this input: {exc}", code="prediction_failed", status=422
                )
                parts.append(None)
    if not finite:
        for index, (job, probs) in enumerate(zip(jobs, parts, strict=True)):
            if probs is not None and not np.isfinite(probs).all():
                job.error = _non_finite_error()
                parts[index] = None
    scored = [(job, probs) for job, probs in zip(jobs, parts, strict=True) if probs is not None]
    if not scored:
        return
    batch = _ScoredBatch.of(scored)
    ids = uuid7_batch(len(batch.predicted))
    now = time.perf_counter()
    writes = MetricWrites()  # the log's and the batch's series, written together once the batch is done
    try:
        if len(ids) > 500 and connection.vendor == "postgresql":  # one numpy-built binary COPY, no work per row
            _prediction_rows_copy(batch, version_id, ids, now)
        else:
            _prediction_rows_insert(_log_rows(batch, version_id, ids, now), writes)
        for (job, probs), (start, stop) in zip(scored, _offsets(scored), strict=True):  # only once committed
            job.probabilities, job.ids = probs, ids[start:stop]
            job.predicted, job.confidences = batch.predicted[start:stop], batch.confidences[start:stop]
        _batch_metrics_record(batch, now, writes)
    finally:
        _metrics_write(writes)


def _log_rows(batch: _ScoredBatch, version_id: int, ids: list[uuid.UUID], now: float) -> list[_LogRow]:
    """The prediction-log rows of a batch, in _LOG_COLUMNS order."""
    latencies_ms = [(now - job.started) * 1000.0 for job, probs in batch.scored for _ in range(len(probs))]
    return list(
        zip(
            ids,
            [version_id] * len(ids),
            rows_to_bytes(batch.matrix),
            batch.predicted.tolist(),
            batch.confidences.tolist(),
            rows_to_bytes(batch.probabilities),
            latencies_ms,
            strict=True,
        )
    )


@dataclass(frozen=True, eq=False)
class _ScoredBatch:
    """The scored jobs of a batch and their rows side by side: class probabilities [n, classes], logged features
    [n, k], predicted class index [n] (argmax) and its probability [n] (the row maximum), each computed once for the
    log and the metrics."""

    scored: list[tuple[ScoringJob, np.ndarray]]
    probabilities: np.ndarray
    matrix: np.ndarray
    predicted: np.ndarray
    confidences: np.ndarray

    @classmethod
    def of(cls, scored: list[tuple[ScoringJob, np.ndarray]]) -> _ScoredBatch:
        if len(scored) == 1:  # the lone request: no concatenation
            probabilities, matrix = scored[0][1], scored[0][0].log_matrix
        else:
            probabilities = np.concatenate([probs for _, probs in scored])
            matrix = np.concatenate([job.log_matrix for job, _ in scored])
        return cls(scored, probabilities, matrix, probabilities.argmax(axis=1), probabilities.max(axis=1))


def _offsets(scored: list[tuple[ScoringJob, np.ndarray]]) -> list[tuple[int, int]]:
    """(start, stop) of each job's rows in the batch."""
    stops = np.cumsum([len(probs) for _, probs in scored]).tolist()
    return list(zip([0, *stops[:-1]], stops, strict=True))


def _prediction_rows_copy(batch: _ScoredBatch, version_id: int, ids: list[uuid.UUID], now: float) -> None:
    """Log a large batch (PostgreSQL) with one binary COPY built column by column (predictions/copy_binary.py)."""
    scored = batch.scored
    buffer = prediction_copy_buffer(
        ids=b"".join([prediction_id.bytes for prediction_id in ids]),
        version_id=version_id,
        features=batch.matrix,
        predicted=batch.predicted,
        confidences=batch.confidences,
        probabilities=batch.probabilities,
        latencies_ms=np.repeat([(now - job.started) * 1000.0 for job, _ in scored], [len(p) for _, p in scored]),
    )
    table = connection.ops.quote_name(Prediction._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(c) for c in _LOG_COLUMNS)
    # In autocommit the one COPY statement is its own transaction: all rows or none, committed when it returns, and
    # no BEGIN and COMMIT round trips (0.2-0.4 us of wall time per row, docs/benchmarks.md). Inside a caller's
    # transaction, a savepoint as before, so a failed COPY leaves that transaction usable.
    atomic = connection.in_atomic_block or not connection.get_autocommit()
    with transaction.atomic() if atomic else nullcontext(), connection.cursor() as cursor:
        # the driver's own COPY: its errors made Django's, as a Django cursor makes them
        with (
            connection.wrap_database_errors,
            cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)") as copy,
        ):
            copy.write(buffer)


def _metrics_write(writes: MetricWrites) -> None:
    """Write gathered metric increments; a failure is logged, never raised (the rows are committed by then)."""
    try:
        writes.write()
    except Exception:
        logger.exception("recording prediction metrics failed")


def _batch_metrics_record(batch: _ScoredBatch, now: float, writes: MetricWrites) -> None:
    """The request metrics of a committed batch, each series incremented once, into `writes` (a failure here is
    logged and never fails the batch). Nothing is built when METRICS_ENABLED is off."""
    if not settings.METRICS_ENABLED:
        return
    try:
        scored = batch.scored
        first = scored[0][0]
        assert first.model is not None
        model_name, model_version = first.metric_labels
        metrics.prediction_batch_record(
            model_name=model_name,
            model_version=model_version,
            class_labels=first.model.class_labels,
            latencies=[now - job.started for job, _ in scored],
            sizes=[len(probs) for _, probs in scored],
            predicted=batch.predicted,
            confidences=batch.confidences,
            writes=writes,
        )
        data_quality_batch_record(
            version_id=first.version_id,
            schema=first.model.schema,
            model_name=model_name,
            matrix=batch.matrix,
            writes=writes,
        )
    except Exception:
        logger.exception("recording prediction metrics failed")


def _score_and_log(*, loaded: LoadedModel, model_version: ModelVersion, job: ScoringJob) -> ScoringJob:
    """Run one job, batched with concurrent requests for the same model when PREDICTION_COALESCING is on."""
    job.model, job.version_id = loaded, model_version.pk
    job.metric_labels = (model_version.model.name, model_version.version)
    if not settings.PREDICTION_COALESCING:
        _scoring_batch_process([job])
        return job
    return coalescers.get(loaded, lambda: Coalescer(_scoring_batch_process)).run(job)


# The label of what a failed request could not resolve (its version while the database is down; the default model).
UNRESOLVED_LABEL = "unknown"


def _unresolved_error_record(*, model_name: str | None, version: str | None, exc: BaseException) -> None:
    """Count a predict that failed before its model version was resolved, on the server's side (the database is
    unreachable: 503): labelled with the model name of the URL (UNRESOLVED_LABEL for the default model) and the
    version asked for, else UNRESOLVED_LABEL, so HighErrorRate sees an outage. A client's error (an unknown model:
    404; no active version: 409) is not counted: a name nobody registered must not become a series."""
    error = application_error_from(exc)
    if error is not None and error.status < 500:
        return
    name_field = MLModel._meta.get_field("name")
    version_field = ModelVersion._meta.get_field("version")
    metrics.prediction_error_record(
        model_name=(model_name or UNRESOLVED_LABEL)[: name_field.max_length],
        model_version=(version or UNRESOLVED_LABEL)[: version_field.max_length],
    )


@dataclass(frozen=True, eq=False)
class PredictionResult:
    """One scored and logged request: the prediction ids and class probabilities [n rows, classes] (columns in
    class_labels order) of its rows, the model version that answered, and the request's latency."""

    model_name: str
    model_version: str
    class_labels: tuple[str, ...]
    prediction_ids: list[uuid.UUID]
    probabilities: np.ndarray
    latency_ms: float
    is_batch: bool
    # from the scored batch (_ScoredBatch): each row's predicted class index [n], the first of equal top
    # probabilities, and its probability [n]
    predicted: np.ndarray = field(repr=False)
    confidences: np.ndarray = field(repr=False)

    @property
    def predicted_labels(self) -> list[str]:
        """The predicted class label of each row."""
        return [self.class_labels[index] for index in self.predicted.tolist()]


def prediction_create(*, model_name: str | None, version: str | None, payload: object) -> PredictionResult:
    """Validate, score and log one row or a batch (`payload` as posted, see prediction_request_parse); nothing is
    logged unless all rows are. 400 for input the schema refuses, 404/409 for an unknown or inactive model or
    version, 422 for input the model cannot score, 503 when the model cannot be loaded.

    A version deleted after this process resolved it (its resolution is cached for MODEL_REGISTRY_CACHE_SECONDS)
    fails the prediction log's version check (predictions/integrity.py): the request is then resolved again and
    scored once more, so it answers as a request sent after the deletion (another active version's 200, or the
    404/409 of a version that is gone), not a 500."""
    try:
        return _prediction_create(model_name=model_name, version=version, payload=payload)
    except IntegrityError as exc:
        if not version_check_failed(exc):
            raise
    model_version_resolve_forget()
    return _prediction_create(model_name=model_name, version=version, payload=payload)


def _prediction_create(*, model_name: str | None, version: str | None, payload: object) -> PredictionResult:
    started = time.perf_counter()
    request = prediction_request_parse(payload=payload)
    try:
        model_version = model_version_resolve_cached(model_name=model_name, version=version)
    except Exception as exc:
        _unresolved_error_record(model_name=model_name, version=version, exc=exc)
        raise
    name, version_label = model_version.model.name, model_version.version
    try:
        loaded = model_load(model_version=model_version)
        try:
            model_input, log_matrix = loaded.encoder.encode_rows(request.rows)
        except RowError as exc:
            details: dict[str, object] = {"field": exc.field}
            message = str(exc)
            if request.is_batch:
                details["row"] = exc.row
                message = f"row {exc.row}: {message}"
            raise ApplicationError(message, code=exc.code, status=exc.status, details=details) from exc
        job = _score_and_log(
            loaded=loaded,
            model_version=model_version,
            job=ScoringJob(model_input=model_input, log_matrix=log_matrix, started=started),
        )
        if job.error is not None:
            raise job.error
        assert job.probabilities is not None and job.ids is not None
        assert job.predicted is not None and job.confidences is not None
    except Exception as exc:
        if not version_check_failed(exc):  # a deleted version's request is answered again, not counted for it
            metrics.prediction_error_record(model_name=name, model_version=version_label)
        raise
    return PredictionResult(
        model_name=name,
        model_version=version_label,
        class_labels=loaded.class_labels,
        prediction_ids=job.ids,
        probabilities=job.probabilities,
        latency_ms=(time.perf_counter() - started) * 1000.0,
        is_batch=request.is_batch,
        predicted=job.predicted,
        confidences=job.confidences,
    )


# --- feedback ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedbackItem:
    """One ground-truth label for one prediction."""

    prediction_id: uuid.UUID
    label: str


def feedback_items_parse(*, payload: object, max_items: int) -> list[FeedbackItem]:
    """Parse `[{"prediction_id", "label"}, ..]`; every problem is a 400 naming the item."""
    if not isinstance(payload, list):
        raise ApplicationError(
            'The body must be a JSON list of {"prediction_id", "label"} objects.', code="invalid_input"
        )
    if not payload:
        raise ApplicationError("The list is empty: send at least one label.", code="empty_batch")
    if len(payload) > max_items:
        raise ApplicationError(
            f"{len(payload)} labels in one request; the limit is {max_items}.", code="batch_too_large"
        )
    items: list[FeedbackItem] = []
    seen: set[uuid.UUID] = set()
    for index, raw in enumerate(payload):
        if not isinstance(raw, dict) or set(raw) != {"prediction_id", "label"}:
            raise ApplicationError(
                f'item {index}: expected an object with exactly "prediction_id" and "label".',
                code="invalid_input",
                details={"item": index},
            )
        items.append(feedback_item_parse(prediction_id=raw["prediction_id"], label=raw["label"], item=index))
        if items[-1].prediction_id in seen:
            raise ApplicationError(
                f"item {index}: prediction {raw['prediction_id']} is labelled twice in this request.",
                code="invalid_input",
                details={"item": index},
            )
        seen.add(items[-1].prediction_id)
    return items


def feedback_payload_parse(*, prediction_id: str, payload: object) -> FeedbackItem:
    """Parse the body `{"label": ..}` of one prediction's feedback; every problem is a 400 saying what was expected."""
    if not isinstance(payload, dict) or set(payload) != {"label"}:
        raise ApplicationError('The body must be {"label": ...}.', code="invalid_input")
    return feedback_item_parse(prediction_id=prediction_id, label=payload["label"])


def feedback_item_parse(*, prediction_id: object, label: object, item: int | None = None) -> FeedbackItem:
    """Check one prediction id and label for type and form."""
    where = f"item {item}: " if item is not None else ""
    details = {"item": item} if item is not None else None
    try:
        parsed = uuid.UUID(str(prediction_id))
    except ValueError as exc:
        raise ApplicationError(
            f"{where}prediction_id {prediction_id!r} is not a UUID.", code="invalid_input", details=details
        ) from exc
    if isinstance(label, bool) or not isinstance(label, (str, int)):
        raise ApplicationError(
            f"{where}label must be a string (one of the model's classes), got {type(label).__name__}.",
            code="invalid_input",
            details=details,
        )
    return FeedbackItem(prediction_id=parsed, label=str(label))


@transaction.atomic
def feedback_record(*, items: list[FeedbackItem]) -> int:
    """Store true labels (relabelling replaces); all or nothing: an unknown id or label rejects the request."""
    ids = [item.prediction_id for item in items]
    found = {
        row[0]: row[1:]
        for row in Prediction.objects.filter(id__in=ids).values_list(
            "id",
            "model_version_id",
            "model_version__class_labels",
            "model_version__model__name",
            "model_version__version",
        )
    }
    updates: list[Prediction] = []
    counts: dict[tuple[str, str], int] = {}
    now = timezone.now()
    for index, item in enumerate(items):
        row = found.get(item.prediction_id)
        if row is None:
            raise ApplicationError(
                f"item {index}: no prediction {item.prediction_id}.",
                code="not_found",
                status=404,
                details={"item": index, "prediction_id": str(item.prediction_id)},
            )
        _version_id, class_labels, model_name, model_version = row
        labels = [str(c) for c in class_labels]
        if item.label not in labels:
            raise ApplicationError(
                f"item {index}: label {item.label!r} is not a class of {model_name} v{model_version} "
                f"(classes: {', '.join(labels)}).",
                code="invalid_label",
                details={"item": index, "label": item.label},
            )
        updates.append(Prediction(id=item.prediction_id, label_index=labels.index(item.label), labelled_at=now))
        counts[(model_name, model_version)] = counts.get((model_name, model_version), 0) + 1
    Prediction.objects.bulk_update(updates, ["label_index", "labelled_at"], batch_size=1000)
    delays = metrics.label_delays(items=[(found[item.prediction_id][2], item.prediction_id) for item in items], now=now)
    transaction.on_commit(lambda: metrics.feedback_record(counts=counts, delays=delays))
    return len(updates)


# --- retention --------------------------------------------------------------------------------------------------


def prediction_prune(
    *, retention_days: int, batch_size: int, dry_run: bool = False, now: datetime | None = None
) -> PruneResult:
    """Remove predictions older than `retention_days` by primary-key range, `batch_size` rows per transaction.

    Ids are UUIDv7 (predictions/ids.py), so "created before T" is "id < uuid7_floor(T)": every batch is one range
    scan of the primary key, starting where the previous one stopped (never re-reading the dead index entries the
    earlier batches left), and new predictions, with ids above the cutoff, never touch the rows being removed.
    """

    def delete(old: QuerySet[Prediction]) -> tuple[int, int]:
        deleted = batches = 0
        lower: uuid.UUID | None = None
        while True:
            window = old if lower is None else old.filter(id__gt=lower)
            with transaction.atomic():
                last = list(window.order_by("id").values_list("id", flat=True)[batch_size - 1 : batch_size])
                count, _ = (window.filter(id__lte=last[0]) if last else window).delete()
            if count == 0:
                return deleted, batches
            deleted, batches = deleted + count, batches + 1
            if not last:  # fewer than a batch were left
                return deleted, batches
            lower = last[0]
            batch_pause()

    return table_prune(
        model=Prediction,
        retention_days=retention_days,
        dry_run=dry_run,
        now=now,
        rows_old=lambda cutoff: Prediction.objects.filter(id__lt=uuid7_floor(cutoff)),
        delete=delete,
    )
