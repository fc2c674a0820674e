"""Service endpoints: liveness, readiness against the real database and Redis broker, and their method errors."""

from __future__ import annotations

import os
from typing import Any

import pytest
import redis
from django.test import Client

from tests.servers import ALLOW_MISSING_TOOLS, free_port

# The broker the suite talks to: CELERY_BROKER_URL from the environment (scripts/test.sh sets it), else the local
# Redis on its default port, database 15 (kept apart from a developer's data).
TEST_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or "redis://127.0.0.1:6379/15"


def broker_required(url: str) -> None:
    """Fail (skip with MLMONITOR_ALLOW_MISSING_TOOLS=1) when no Redis answers at url: readiness cannot be shown."""
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1).ping()
    except redis.RedisError as exc:
        message = f"no Redis at {url} ({exc}); scripts/test.sh starts one, or set CELERY_BROKER_URL"
        if os.environ.get(ALLOW_MISSING_TOOLS) == "1":
            pytest.skip(message)
        pytest.fail(message)


def test_healthz_answers_without_a_database(client: Client) -> None:
    """GET /healthz is 200 {"status": "ok"} and needs nothing else (no database access is allowed here)."""
    # when
    response = client.get("/healthz")
    # then
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_is_200_when_database_and_broker_answer(client: Client, settings: Any) -> None:
    """With the database and the Redis broker reachable, /readyz is 200 and says ok for each."""
    # given
    broker_required(TEST_BROKER_URL)
    settings.CELERY_BROKER_URL = TEST_BROKER_URL
    # when
    response = client.get("/readyz")
    # then
    assert response.status_code == 200, response.json()
    assert response.json() == {"status": "ready", "checks": {"database": "ok", "broker": "ok"}}


@pytest.mark.django_db
def test_readyz_is_503_when_the_broker_is_down_without_leaking_details(
    client: Client, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A broker URL pointing at a closed port makes /readyz 503 not_ready; the open endpoint says "unavailable" and
    the connection error (hosts, ports, users) goes to the log only."""
    # given
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{free_port()}/0"
    # when
    response = client.get("/readyz")
    # then
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not_ready"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["broker"] == "unavailable"
    assert "broker unavailable" in caplog.text and "connect" in caplog.text.lower()


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/metrics", "/healthz", "/readyz"])
@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_service_endpoints_refuse_other_methods_in_the_json_error_shape(client: Client, path: str, method: str) -> None:
    """POST, PUT and DELETE on the GET-only endpoints answer 405 with an Allow header and the JSON error body."""
    # when
    response = getattr(client, method)(path)
    # then
    assert response.status_code == 405
    assert "GET" in response["Allow"]
    assert response.json()["error"]["code"] == "method_not_allowed"
