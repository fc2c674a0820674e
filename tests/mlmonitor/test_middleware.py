"""The lean django-prometheus middleware keeps the HTTP series the dashboards use, and only those."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import REGISTRY


def value(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.mark.django_db
def test_a_predict_request_updates_the_view_status_and_latency_series(api_client: Any, iris_version: Any) -> None:
    """One POST /predict adds one to requests and responses by view and one latency observation; body-size and
    charset series are not updated (they cost more than they tell, see mlmonitor/middleware.py)."""
    # given
    view = {"view": "seed-predict", "method": "POST"}
    before = {
        "requests": value("django_http_requests_total_by_view_transport_method_total", {**view, "transport": "http"}),
        "responses": value("django_http_responses_total_by_status_view_method_total", {**view, "status": "200"}),
        "latency": value("django_http_requests_latency_seconds_by_view_method_count", view),
        "outer": value("django_http_requests_before_middlewares_total", {}),
        "body": value("django_http_requests_body_total_bytes_count", {}),
    }
    # when
    assert api_client.post("/predict", {"features": [5.1, 3.5, 1.4, 0.2]}, format="json").status_code == 200
    # then
    assert value("django_http_requests_total_by_view_transport_method_total", {**view, "transport": "http"}) == (
        before["requests"] + 1
    )
    assert value("django_http_responses_total_by_status_view_method_total", {**view, "status": "200"}) == (
        before["responses"] + 1
    )
    assert value("django_http_requests_latency_seconds_by_view_method_count", view) == before["latency"] + 1
    assert value("django_http_requests_before_middlewares_total", {}) == before["outer"] + 1
    assert value("django_http_requests_body_total_bytes_count", {}) == before["body"]
