"""Shared fixtures: a temporary media root, the trained iris demo model, API clients, a /metrics scraper."""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core import signals
from django.db import close_old_connections
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from alerts_config import services as alerts_services
from demo.iris import IRIS_SCHEMA, DemoModel, iris_demo_train
from predictions import services
from predictions.data_quality import data_quality_forget
from predictions.inference import model_cache
from predictions.models import ModelVersion
from predictions.selectors import model_version_resolve_forget
from tests.exposition import Exposition

ROW = [5.1, 3.5, 1.4, 0.2]  # an iris setosa


@functools.cache
def iris_demo() -> DemoModel:
    """The demo model, trained once per test session."""
    return iris_demo_train()


@pytest.fixture(autouse=True)
def _media_root(settings: Any, tmp_path: Any) -> None:
    """Artifacts and uploads land in a per-test directory."""
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def wsgi_test_connection_kept() -> Iterator[None]:
    """For tests that call the WSGI application directly: Django's request signals would close "old" connections,
    which inside a test's transaction breaks it (a connection older than DATABASE_CONN_MAX_AGE is closed); Django's
    own test client disconnects the same handler while it serves a request."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture(autouse=True)
def _fresh_model_cache() -> None:
    """Each test loads models, resolves versions and runs its checks anew (version ids are reused across tests, and
    a check remembered from another test would hide the work a test counts)."""
    model_cache.clear()
    model_version_resolve_forget()
    data_quality_forget()
    services._passed_artifact_checks.clear()
    alerts_services._passed_tool_checks.clear()


@pytest.fixture
def seeded_thresholds() -> None:
    """The seed's thresholds, as the data migration creates them, for a transactional test that needs them: an
    earlier transactional test's flush empties every table, so without this such a test passes or fails by the order
    the suite runs in."""
    from django.apps import apps

    importlib.import_module("alerts_config.migrations.0002_seed_thresholds").seed(apps, None)


@pytest.fixture
def register_iris(db: None) -> Callable[..., ModelVersion]:
    """Factory: register the iris demo artifact under a model name and version."""

    def register(*, name: str = "iris", version: str = "1", default: bool = True, **kwargs: Any) -> ModelVersion:
        demo = iris_demo()
        return services.model_version_register(
            model_name=name,
            version=version,
            artifact=demo.artifact,
            feature_schema=kwargs.pop("feature_schema", IRIS_SCHEMA),
            class_labels=kwargs.pop("class_labels", demo.class_labels),
            make_default=default,
            **kwargs,
        )

    return register


@pytest.fixture
def iris_version(register_iris: Callable[..., ModelVersion]) -> ModelVersion:
    """The iris demo model registered as `iris` v1, active and default."""
    return register_iris()


@pytest.fixture
def api_client() -> APIClient:
    """An anonymous API client."""
    return APIClient()


@pytest.fixture
def token_client(db: None) -> APIClient:
    """An API client authenticated with a bearer token."""
    user = get_user_model().objects.create_user(username="feeder", password="x-not-used")
    token = Token.objects.create(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token.key}")
    return client


@pytest.fixture
def scrape(api_client: Any) -> Callable[[], Exposition]:
    """Factory: GET /metrics and parse it."""

    def run() -> Exposition:
        response = api_client.get("/metrics")
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/plain")
        return Exposition.parse(response.content)

    return run


@pytest.fixture
def labelled_prediction(api_client: Any, token_client: Any, iris_version: ModelVersion) -> dict[str, Any]:
    """One iris prediction with its true label posted."""
    answer = api_client.post("/predict", {"features": ROW}, format="json").json()
    url = f"/api/v1/predictions/{answer['prediction_id']}/feedback"
    assert token_client.post(url, {"label": "setosa"}, format="json").status_code == 200
    return answer
