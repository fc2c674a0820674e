"""Celery tasks of the prediction log: beat prunes history by the retention settings."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from django.db import InterfaceError, OperationalError

from mlmonitor.retention import history_prune as history_prune_run

logger = logging.getLogger(__name__)

HISTORY_PRUNE = "predictions.tasks.history_prune"


@shared_task(
    name=HISTORY_PRUNE,
    acks_late=True,  # idempotent: a second run finds nothing older than the cutoff
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=30,
    retry_jitter=True,
    max_retries=3,
    soft_time_limit=1800,
    time_limit=1900,
)
def history_prune() -> list[dict[str, Any]]:
    """Remove predictions, drift runs and alert events older than their retention (mlmonitor.retention)."""
    results = history_prune_run()
    for result in results:
        logger.info("retention: %s", result.describe())
    return [{"table": r.table, "rows": r.rows, "batches": r.batches, "seconds": round(r.seconds, 3)} for r in results]
