"""Service endpoints: liveness, readiness, and the Prometheus exposition."""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from .errors import json_error_response

logger = logging.getLogger(__name__)

_collectors: list[Collector] | None = None
_collectors_lock = threading.Lock()


def get_only(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Like django.views.decorators.http.require_GET, but the 405 is in the JSON error shape of SPEC.md."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method not in ("GET", "HEAD"):
            response = json_error_response(
                status=405, code="method_not_allowed", message=f"Method {request.method} not allowed; use GET."
            )
            response["Allow"] = "GET, HEAD"
            return response
        return view(request, *args, **kwargs)

    return wrapper


def scrape_collectors() -> list[Collector]:
    """This process' database and device collectors, built once."""
    global _collectors
    with _collectors_lock:
        if _collectors is None:
            from predictions.metrics import collectors_build

            _collectors = collectors_build()
        return _collectors


class _DefaultRegistryProxy(Collector):
    """Exports the in-process default registry inside a fresh registry (single-process mode)."""

    def collect(self) -> Iterator[Any]:
        yield from REGISTRY.collect()


def metrics_registry() -> CollectorRegistry:
    """A fresh registry per scrape: every process' counters (multiprocess mode) plus the scrape-time collectors.

    client_python "multiprocess" docs: never hand the MultiProcessCollector the default REGISTRY.
    """
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_DefaultRegistryProxy())
    for collector in scrape_collectors():
        registry.register(collector)
    return registry


@get_only
def metrics_view(request: HttpRequest) -> HttpResponse:
    """GET /metrics in the Prometheus text format."""
    return HttpResponse(generate_latest(metrics_registry()), content_type=CONTENT_TYPE_LATEST)


@get_only
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers."""
    return JsonResponse({"status": "ok"})


def _check_database() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # any driver error means "not ready"; details (hosts, users) go to the log only
        logger.warning("readiness: database unavailable: %s", exc)
        return "unavailable"
    return None


def _check_broker() -> str | None:
    try:
        import redis

        client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_connect_timeout=1, socket_timeout=1)
        client.ping()
    except Exception as exc:  # connection refused, timeout, auth; details go to the log only
        logger.warning("readiness: broker unavailable: %s", exc)
        return "unavailable"
    return None


@get_only
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: the database and the Celery broker answer; 503 with the reasons otherwise."""
    checks = {"database": _check_database(), "broker": _check_broker()}
    ready = all(error is None for error in checks.values())
    body = {
        "status": "ready" if ready else "not_ready",
        "checks": {name: ("ok" if error is None else error) for name, error in checks.items()},
    }
    return JsonResponse(body, status=200 if ready else 503)
