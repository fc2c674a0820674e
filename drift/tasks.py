"""Celery drift tasks: thin interfaces over drift.services, named after the service they call, idempotent, locked
per model, retried on transient errors. Beat runs the task registered as `drift.tasks.compute_all_drift`
(drift_runs_queue_due) from django-celery-beat's database schedule.

The registered task names are the ones schedules and queued messages carry: they stay as they are (a test pins them)
even though the functions are named after their services."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Iterator

import redis
from celery import Task, shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError
from kombu.exceptions import OperationalError as BrokerOperationalError
from redis.exceptions import LockError
from redis.lock import Lock

from mlmonitor.errors import ApplicationError

from . import services

logger = logging.getLogger(__name__)

COMPUTE_DRIFT = "drift.tasks.compute_drift"
COMPUTE_ALL_DRIFT = "drift.tasks.compute_all_drift"
SUGGESTED_THRESHOLDS_COMPUTE = "drift.tasks.suggested_thresholds_compute"
TRANSIENT_ERRORS = (OperationalError, InterfaceError, BrokerOperationalError, redis.ConnectionError)
BROKER_ERRORS = (BrokerOperationalError, redis.ConnectionError, redis.TimeoutError, ConnectionError, TimeoutError)


def broker_unreachable(exc: BaseException) -> bool:
    """Whether publishing a task failed because Redis (broker or result backend) cannot be reached: a connection
    error, or the RuntimeError Celery's Redis result backend raises when it cannot resubscribe (celery.backends.
    asynchronous.reconnect_on_error), whose cause is one."""
    if isinstance(exc, BROKER_ERRORS):
        return True
    return isinstance(exc, RuntimeError) and isinstance(exc.__cause__, BROKER_ERRORS)


def _redis() -> redis.Redis:
    return redis.Redis.from_url(
        settings.CELERY_BROKER_URL,
        socket_connect_timeout=settings.CELERY_BROKER_CONNECTION_TIMEOUT,
        socket_timeout=settings.CELERY_REDIS_SOCKET_TIMEOUT,
    )


def _lock(model_id: int) -> Lock:
    """The Redis lock of one model's drift runs: its value is the owning task's id, its TTL DRIFT_LOCK_TTL_SECONDS,
    renewed while the owner runs (drift_lock_held), so a killed owner blocks the model for at most that long."""
    # thread_local=False: the renewing thread uses the owner's token
    return Lock(_redis(), _lock_key(model_id), timeout=settings.DRIFT_LOCK_TTL_SECONDS, thread_local=False)


def _lock_key(model_id: int) -> str:
    return f"{settings.REDIS_KEY_PREFIX}drift-lock:{model_id}"


def _started_key(owner: str) -> str:
    return f"{settings.REDIS_KEY_PREFIX}drift-started:{owner}"


def drift_run_running(*, model_id: int) -> str | None:
    """The id of the task computing this model's drift now (the lock's owner), or None; raises redis errors."""
    owner = _redis().get(_lock_key(model_id))
    return owner.decode() if isinstance(owner, bytes) else None


@contextlib.contextmanager
def drift_lock_held(lock: Lock, *, owner: str) -> Iterator[bool]:
    """Hold `lock` as `owner` for the block, renewing its TTL every third of it from a thread (redis-py
    Lock.reacquire; DESIGN-NOTES "Celery when a worker dies"); yields False, holding nothing, when another owner
    has it. A lock still held by this same owner (a redelivered task whose first attempt was killed) is taken over.
    Released on every way out."""
    if not lock.acquire(blocking=False, token=owner):
        lock.local.token = owner.encode()
        try:
            lock.reacquire()  # only succeeds when the stored token is ours: our own killed attempt
        except LockError:
            yield False
            return
        logger.warning("drift lock %s still held by this task's lost attempt: taken over", lock.name)
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(max(lock.timeout or 1, 1) / 3):
            try:
                lock.reacquire()
            except (LockError, redis.RedisError):
                logger.warning("drift lock %s could not be renewed", lock.name, exc_info=True)

    renewer = threading.Thread(target=renew, name=f"renew {lock.name}", daemon=True)
    renewer.start()
    try:
        yield True
    finally:
        stop.set()
        renewer.join()
        try:
            lock.release()
        except LockError:
            logger.warning("drift lock %s expired before release", lock.name)


def _attempt_started(*, owner: str) -> float | None:
    """Mark this task id as started (kept for the visibility timeout); the start time of an earlier attempt of the
    same task that never finished (its worker was killed), or None for a first attempt."""
    client = _redis()
    key = _started_key(owner)
    now = time.time()
    earlier = client.set(key, repr(now), get=True, ex=settings.BROKER_VISIBILITY_TIMEOUT_SECONDS + 600)
    return float(earlier) if earlier is not None else None


def _attempt_finished(*, owner: str) -> None:
    _redis().delete(_started_key(owner))


@shared_task(
    name=COMPUTE_DRIFT,
    bind=True,
    acks_late=True,
    # A killed worker (OOM, kill -9, lost node): the message goes back to the queue at once instead of waiting out
    # the visibility timeout. Safe because a run is idempotent: it reads a window and writes one new DriftRun.
    reject_on_worker_lost=True,
    autoretry_for=TRANSIENT_ERRORS,
    retry_backoff=2,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=3,
    soft_time_limit=settings.DRIFT_TASK_SOFT_TIME_LIMIT,
    time_limit=settings.DRIFT_TASK_TIME_LIMIT,
)
def drift_run_compute(self: Task, model_id: int) -> dict[str, int | str]:  # type: ignore[type-arg]
    """Recompute one model's drift; while another task computes the same model this one is a no-op that says so
    (`skipped: already running`, with the running task's id). An attempt whose worker died is counted as a failed
    job (ml_drift_job_failures_total) when its task is delivered again."""
    owner = self.request.id or f"direct-{uuid.uuid4()}"
    with drift_lock_held(_lock(model_id), owner=owner) as held:
        if not held:
            running = drift_run_running(model_id=model_id) or "unknown"
            logger.info("drift of model %s is already being computed by task %s; skipping", model_id, running)
            return {"model_id": model_id, "skipped": "already running", "running_task_id": running}
        lost_since = _attempt_started(owner=owner)
        if lost_since is not None:
            logger.warning("drift task %s of model %s: an earlier attempt was lost; counted as failed", owner, model_id)
            services.drift_job_failure_record(model_id=model_id, duration=max(0.0, time.time() - lost_since))
        started = time.perf_counter()
        try:
            run = services.drift_run_compute(model_id=model_id)
        except ApplicationError as exc:  # no reference, no active version: nothing to retry
            logger.warning("drift of model %s not computed: %s", model_id, exc.message)
            return {"model_id": model_id, "skipped": exc.message}
        except TRANSIENT_ERRORS:
            raise
        except Exception:
            services.drift_job_failure_record(model_id=model_id, duration=time.perf_counter() - started)
            raise
        finally:
            _attempt_finished(owner=owner)
    return {"model_id": model_id, "run_id": run.pk, "status": run.status, "drifted": run.drifted_count}


@shared_task(name=COMPUTE_ALL_DRIFT, acks_late=True, soft_time_limit=60, time_limit=90)
def drift_runs_queue_due() -> list[int]:
    """Queue a drift computation for every model due for drift (drift.selectors.drift_due_models)."""
    return services.drift_runs_queue_due()


@shared_task(
    name=SUGGESTED_THRESHOLDS_COMPUTE,
    acks_late=True,
    autoretry_for=TRANSIENT_ERRORS,
    retry_backoff=2,
    retry_backoff_max=60,
    max_retries=3,
    soft_time_limit=settings.DRIFT_TASK_SOFT_TIME_LIMIT,
    time_limit=settings.DRIFT_TASK_TIME_LIMIT,
)
def suggested_thresholds_compute(reference_id: int) -> dict[str, int | str]:
    """Fit the suggested drift thresholds of a reference (drift.services.suggested_thresholds_compute); idempotent:
    a rerun replaces the rows of the same reference and window size."""
    try:
        rows = services.suggested_thresholds_compute(reference_id=reference_id)
    except ApplicationError as exc:  # the reference was deleted meanwhile: nothing to retry
        return {"reference_id": reference_id, "skipped": exc.message}
    return {"reference_id": reference_id, "suggestions": len(rows)}
