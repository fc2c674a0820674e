"""The OpenAPI schema and Swagger UI: a valid OpenAPI 3 document describing the predict and feedback operations."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.test import Client
from drf_spectacular.validation import validate_schema

PREDICT_PATHS = [
    "/api/v1/models/{name}/predict",
    "/api/v1/models/{name}/versions/{version}/predict",
    "/predict",
]


def resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """Follow a $ref inside the schema document."""
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
    return node


@pytest.mark.django_db
def test_the_schema_is_valid_openapi_with_the_predict_operations(client: Client) -> None:
    """GET /api/schema/?format=json validates as OpenAPI 3; each predict path takes exactly one of `features` or
    `instances` and answers a
    single-row or a batch answer, with the JSON error shape for 4xx."""
    # when
    response = client.get("/api/schema/", {"format": "json"})
    # then
    assert response.status_code == 200
    schema = response.json()
    validate_schema(schema)
    assert schema["openapi"].startswith("3.")
    for path in PREDICT_PATHS:
        operation = schema["paths"][path]["post"]
        request = operation["requestBody"]["content"]["application/json"]["schema"]
        options = [resolve(schema, option) for option in resolve(schema, request)["oneOf"]]
        assert [(set(o["properties"]), o["required"], o["additionalProperties"]) for o in options] == [
            ({"features"}, ["features"], False),
            ({"instances"}, ["instances"], False),
        ]
        answer = operation["responses"]["200"]["content"]["application/json"]["schema"]
        shapes = [resolve(schema, option) for option in resolve(schema, answer)["oneOf"]]
        assert {frozenset(shape["properties"]) for shape in shapes} == {
            frozenset({"prediction_id", "prediction", "confidence", "probabilities", "model", "version", "latency_ms"}),
            frozenset({"predictions", "model", "version", "latency_ms"}),
        }
        error = resolve(schema, operation["responses"]["400"]["content"]["application/json"]["schema"])
        assert resolve(schema, error["properties"]["error"])["properties"].keys() == {"code", "message", "details"}
    assert "/api/v1/feedback" in schema["paths"] and "/api/v1/predictions/{prediction_id}/feedback" in schema["paths"]


@pytest.mark.django_db
def test_schema_generation_has_no_warnings() -> None:
    """`manage.py spectacular --fail-on-warn --validate` succeeds: no two components share a name, every field has a
    type."""
    # when / then (raises on any warning)
    call_command("spectacular", "--fail-on-warn", "--validate", stdout=io.StringIO())


@pytest.mark.django_db
def test_swagger_ui_answers(client: Client) -> None:
    """GET /api/docs/ serves the Swagger UI page pointing at the schema."""
    # when
    response = client.get("/api/docs/")
    # then
    assert response.status_code == 200
    assert b"swagger" in response.content.lower() and b"/api/schema/" in response.content


@pytest.mark.django_db
def test_swagger_ui_loads_only_assets_the_app_serves(client: Client) -> None:
    """/api/docs/ references its scripts and styles on this server (no CDN), and each of them answers 200."""
    # when
    page = client.get("/api/docs/").content.decode()
    # then
    assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css|png))"', page)
    assert assets, page[:2000]
    for asset in assets:
        assert not asset.startswith(("http:", "https:", "//")), asset
    assert "cdn" not in page.lower()
    for asset in assets:  # each is a file the app's static files hold (WhiteNoise serves them)
        assert asset.startswith(settings.STATIC_URL) or asset.startswith("/" + settings.STATIC_URL), asset
        assert finders.find(asset.split(settings.STATIC_URL, 1)[1]) is not None, asset
