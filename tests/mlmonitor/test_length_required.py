"""A request body without a Content-Length (`Transfer-Encoding: chunked`) is refused with 411 `length_required`,
never served as an empty body (Django under WSGI reads only CONTENT_LENGTH bytes)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from predictions.models import ModelVersion, Prediction
from tests.conftest import ROW

CHUNKED = {"CONTENT_LENGTH": "", "HTTP_TRANSFER_ENCODING": "chunked"}


@pytest.mark.parametrize(
    "path", ["/predict", "/api/v1/models/iris/predict", "/api/v1/models/iris/versions/1/predict", "/api/v1/feedback"]
)
def test_a_chunked_api_body_gets_411_in_the_json_error_shape_and_stores_nothing(
    client: Client, iris_version: ModelVersion, path: str
) -> None:
    # when
    response = client.post(path, json.dumps({"features": ROW}), content_type="application/json", **CHUNKED)
    # then
    assert response.status_code == 411
    assert response.json()["error"]["code"] == "length_required"
    assert "Content-Length" in response.json()["error"]["message"]
    assert response["X-Frame-Options"] == "DENY"  # the security headers of every other answer
    assert response["X-Content-Type-Options"] == "nosniff"
    assert Prediction.objects.count() == 0


def test_a_chunked_form_post_to_a_page_gets_a_plain_411(admin_client: Client) -> None:
    response = admin_client.post("/admin/login/", "username=a&password=b", content_type="text/plain", **CHUNKED)
    assert response.status_code == 411
    assert response["Content-Type"].startswith("text/plain")
    assert response["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize("headers", [{}, {"HTTP_TRANSFER_ENCODING": "gzip"}, {"HTTP_TRANSFER_ENCODING": "chunked"}])
def test_bodies_with_a_content_length_are_served(api_client: Any, iris_version: ModelVersion, headers: Any) -> None:
    """With a Content-Length (the test client always sends one) the request goes on, whatever else is set."""
    response = api_client.post("/predict", {"features": ROW}, format="json", **headers)
    assert response.status_code == 200, response.content
