"""Service endpoints: liveness, readiness, and the Prometheus exposition."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import SuspiciousFileOperation
from django.db import connection
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils._os import safe_join

from . import metrics
from .errors import json_error_response
from .metrics_access import metrics_protected

logger = logging.getLogger(__name__)


def get_only(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Like django.views.decorators.http.require_GET, but the 405 is in the JSON error shape (docs/api.md)."""

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


@get_only
@metrics_protected
def metrics_view(request: HttpRequest) -> HttpResponse:
    """GET /metrics in the Prometheus text format (assembled in mlmonitor/metrics.py); who may read it:
    mlmonitor/metrics_access.py."""
    body, content_type = metrics.exposition()
    return HttpResponse(body, content_type=content_type)


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


@staff_member_required
def media_download(request: HttpRequest, path: str) -> FileResponse:
    """An uploaded file (a model artifact, a reference dataset) for a staff user: the admin's "Currently:" links lead
    here. Paths outside MEDIA_ROOT, and missing files, are 404s."""
    try:
        full_path = Path(safe_join(settings.MEDIA_ROOT, path))
    except SuspiciousFileOperation as exc:
        raise Http404("No such file.") from exc
    if not full_path.is_file():
        raise Http404("No such file.")
    return FileResponse(full_path.open("rb"), as_attachment=True, filename=full_path.name)
