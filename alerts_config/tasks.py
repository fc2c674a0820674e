"""Celery tasks of alerting: beat retries a publish that did not go live (a server was down or refused the reload)."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

from . import services

logger = logging.getLogger(__name__)

PUBLISH_RETRY = "alerts_config.tasks.alerting_publish_retry"


@shared_task(name=PUBLISH_RETRY, soft_time_limit=50, time_limit=60, ignore_result=True)
def alerting_publish_retry() -> dict[str, Any]:
    """Publish again while the last publish is not live; a no-op (one indexed read) when it is."""
    result = services.alerting_publish_retry()
    if result is None:
        return {"retried": False}
    (logger.info if result.ok else logger.warning)("alerting publish retried: %s", result.summary())
    return {"retried": True, "ok": result.ok}
