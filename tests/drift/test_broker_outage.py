"""`POST .../drift/run` while Redis is down: always a fast JSON 503 `broker_unavailable`, never a 500 after the
result backend's reconnect loop. Redis is pointed at a closed loopback port: the client fails as in production."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.outages import celery_redis_unreachable

pytestmark = pytest.mark.django_db


def test_drift_run_with_redis_down_answers_503_within_two_seconds(token_client: Any, iris_reference: Any) -> None:
    """Three requests in a row (the first connects, the others find the pools in their failed state): each a 503
    broker_unavailable with Retry-After, each within 2 s."""
    with celery_redis_unreachable():
        for _ in range(3):
            # when
            started = time.monotonic()
            response = token_client.post("/api/v1/models/iris/drift/run")
            elapsed = time.monotonic() - started
            # then
            assert response.status_code == 503, response.content
            assert response.json()["error"]["code"] == "broker_unavailable"
            assert int(response["Retry-After"]) > 0
            assert elapsed < 2.0, elapsed
