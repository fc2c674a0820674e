"""Celery drift tasks: thin interfaces over drift.services, named after the service they call, idempotent, locked
per model, retried on transient errors. Beat runs the task registered as `drift.tasks.compute_all_drift`
(drift_runs_queue_due) from django-celery-beat's database schedule.

The registered task names are the ones schedules and queued messages carry: they stay as they are (a test pins them)
even though the functions are named after their services."""

from __future__ import annotations

import logging
import time

import redis
from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError
from kombu.exceptions import OperationalError as BrokerOperationalError
from redis.lock import Lock

from mlmonitor.errors import ApplicationError

from . import services

logger = logging.getLogger(__name__)

COMPUTE_DRIFT = "drift.tasks.compute_drift"
COMPUTE_ALL_DRIFT = "drift.tasks.compute_all_drift"
TRANSIENT_ERRORS = (OperationalError, InterfaceError, BrokerOperationalError, redis.ConnectionError)


def _lock(model_id: int) -> Lock:
    """A Redis lock per model that expires after the hard time limit, so a killed worker cannot wedge it."""
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    return Lock(
        client, f"{settings.REDIS_KEY_PREFIX}drift-lock:{model_id}", timeout=settings.DRIFT_TASK_TIME_LIMIT + 30
    )


@shared_task(
    name=COMPUTE_DRIFT,
    acks_late=True,
    autoretry_for=TRANSIENT_ERRORS,
    retry_backoff=2,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=3,
    soft_time_limit=settings.DRIFT_TASK_SOFT_TIME_LIMIT,
    time_limit=settings.DRIFT_TASK_TIME_LIMIT,
)
def drift_run_compute(model_id: int) -> dict[str, int | str]:
    """Recompute one model's drift; a run of the same model already in progress makes this one a no-op."""
    lock = _lock(model_id)
    if not lock.acquire(blocking=False):
        logger.info("drift of model %s is already being computed; skipping", model_id)
        return {"model_id": model_id, "skipped": "already running"}
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
        try:
            lock.release()
        except redis.exceptions.LockError:
            logger.warning("drift lock of model %s expired before release", model_id)
    return {"model_id": model_id, "run_id": run.pk, "status": run.status, "drifted": run.drifted_count}


@shared_task(name=COMPUTE_ALL_DRIFT, acks_late=True, soft_time_limit=60, time_limit=90)
def drift_runs_queue_due() -> list[int]:
    """Queue a drift computation for every model due for drift (drift.selectors.drift_due_models)."""
    return services.drift_runs_queue_due()
