"""Token authentication (`Bearer` and `Token` keywords) and the setting that closes the read endpoints."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from predictions.models import Prediction

ROW = [5.1, 3.5, 1.4, 0.2]
READ_CALLS = [
    ("get", "/api/v1/models", None),
    ("post", "/api/v1/models/iris/predict", {"features": ROW}),
    ("post", "/api/v1/models/iris/versions/1/predict", {"features": ROW}),
    ("post", "/predict", {"features": ROW}),
]


@pytest.fixture
def token_key(db: None) -> str:
    """A valid API token's key."""
    return Token.objects.create(user=get_user_model().objects.create_user(username="reader")).key


def call(client: APIClient, method: str, path: str, body: Any) -> Any:
    """Send one of READ_CALLS."""
    return getattr(client, method)(path, body, format="json") if body is not None else getattr(client, method)(path)


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path", "body"), READ_CALLS)
def test_read_endpoints_are_open_by_default(
    api_client: APIClient, iris_version: Any, method: str, path: str, body: Any
) -> None:
    """Without API_REQUIRE_TOKEN_FOR_READ, listing models and predicting need no token."""
    # when
    response = call(api_client, method, path, body)
    # then
    assert response.status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path", "body"), READ_CALLS)
def test_require_token_for_read_closes_predict_and_list(
    api_client: APIClient, iris_version: Any, token_key: str, settings: Any, method: str, path: str, body: Any
) -> None:
    """With API_REQUIRE_TOKEN_FOR_READ on, no token or a wrong one is 401 (nothing logged); a valid one is 200."""
    # given
    settings.API_REQUIRE_TOKEN_FOR_READ = True
    # when
    anonymous = call(api_client, method, path, body)
    api_client.credentials(HTTP_AUTHORIZATION="Bearer wrong")
    wrong = call(api_client, method, path, body)
    logged_while_refused = Prediction.objects.count()
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token_key}")
    allowed = call(api_client, method, path, body)
    # then
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "not_authenticated"
    assert anonymous["WWW-Authenticate"] == "Bearer"
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "authentication_failed"
    assert logged_while_refused == 0
    assert allowed.status_code == 200


@pytest.mark.django_db
def test_an_inactive_users_token_is_refused(api_client: APIClient, iris_version: Any, token_key: str) -> None:
    """A token whose user was deactivated no longer authenticates feedback."""
    # given
    get_user_model().objects.filter(username="reader").update(is_active=False)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_key}")
    # when
    response = api_client.post("/api/v1/feedback", [], format="json")
    # then
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"
