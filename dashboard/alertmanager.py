"""Alerts firing now, from Alertmanager's API v2: `GET /api/v2/alerts?active=true&silenced=false&inhibited=false`
(alertmanager api/v2/openapi.yaml). Alertmanager keeps no history; the history is alerts_config.AlertEvent, which
its webhook fills."""

from __future__ import annotations

import hashlib
import json
import logging
import urllib.error
import urllib.request
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.utils.dateparse import parse_datetime

from .prometheus import thread_pool

logger = logging.getLogger(__name__)

ALERTS_PATH = "/api/v2/alerts?active=true&silenced=false&inhibited=false"


@dataclass(frozen=True)
class FiringAlert:
    """One alert that is active, not silenced and not inhibited."""

    alertname: str
    severity: str
    model_name: str
    feature_name: str
    summary: str
    description: str
    starts_at: datetime | None
    fingerprint: str
    generator_url: str
    labels: dict[str, str]


@dataclass
class FiringAlerts:
    """What Alertmanager reports as firing now; `unavailable` says why there is no answer."""

    alerts: list[FiringAlert] = field(default_factory=list)
    unavailable: str | None = None

    def for_model(self, model_name: str) -> list[FiringAlert]:
        """The alerts labelled with this model."""
        return [alert for alert in self.alerts if alert.model_name == model_name]


def _alert_parse(item: dict[str, object]) -> FiringAlert:
    labels = {str(k): str(v) for k, v in dict(item.get("labels") or {}).items()}  # type: ignore[call-overload]
    annotations = {str(k): str(v) for k, v in dict(item.get("annotations") or {}).items()}  # type: ignore[call-overload]
    starts = parse_datetime(str(item.get("startsAt") or ""))
    return FiringAlert(
        alertname=labels.get("alertname", ""),
        severity=labels.get("severity", ""),
        model_name=labels.get("model_name", ""),
        feature_name=labels.get("feature_name", ""),
        summary=annotations.get("summary", ""),
        description=annotations.get("description", ""),
        starts_at=starts,
        fingerprint=str(item.get("fingerprint", "")),
        generator_url=str(item.get("generatorURL", "")),
        labels=labels,
    )


def _cache_key(base_url: str) -> str:
    return "dashboard:am:" + hashlib.sha256(base_url.encode()).hexdigest()


def alertmanager_alerts_fetch() -> FiringAlerts:
    """The firing alerts from ALERTMANAGER_URL, newest first; cached for DASHBOARD_CACHE_SECONDS (an unreachable
    Alertmanager too, so pages do not wait on it twice)."""
    base_url = settings.ALERTMANAGER_URL.rstrip("/")
    ttl = settings.DASHBOARD_CACHE_SECONDS
    if ttl > 0:
        cached: FiringAlerts | None = cache.get(_cache_key(base_url))
        if cached is not None:
            return cached
    request = urllib.request.Request(base_url + ALERTS_PATH, headers={"Accept": "application/json"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=settings.DASHBOARD_ALERTMANAGER_TIMEOUT_SECONDS) as response:  # noqa: S310
            items = json.loads(response.read())
        if not isinstance(items, list):
            raise ValueError("the answer is not a list of alerts")
        alerts = sorted(
            (_alert_parse(item) for item in items),
            key=lambda a: a.starts_at.timestamp() if a.starts_at else 0.0,
            reverse=True,
        )
        found = FiringAlerts(alerts=alerts)
    except urllib.error.HTTPError as exc:
        found = FiringAlerts(unavailable=f"{base_url} answered HTTP {exc.code}")
    except (urllib.error.URLError, OSError, ValueError, TypeError, KeyError) as exc:
        found = FiringAlerts(unavailable=f"no answer from {base_url}: {getattr(exc, 'reason', exc)}")
    if found.unavailable:
        logger.info("dashboard: Alertmanager unavailable: %s", found.unavailable)
    if ttl > 0:
        cache.set(_cache_key(base_url), found, ttl)
    return found


def alertmanager_alerts_submit() -> Future[FiringAlerts]:
    """alertmanager_alerts_fetch on the query pool, to overlap with the page's other reads."""
    return thread_pool().submit(alertmanager_alerts_fetch)
