"""Rate limits of the API's writes (mlmonitor/throttling.py): over API_THROTTLE_RATES a client gets a JSON 429
with Retry-After; other clients and other scopes are not affected; an empty rate limits nothing."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_counts() -> None:
    cache.clear()


def client_for(username: str) -> APIClient:
    token = Token.objects.create(user=get_user_model().objects.create_user(username=username, password="x-not-used"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token.key}")
    return client


def feedback(client: APIClient) -> Any:
    return client.post(f"/api/v1/predictions/{uuid.uuid4()}/feedback", {"label": "setosa"}, format="json")


def test_feedback_over_its_rate_answers_429_per_client(settings: Any) -> None:
    """3/min: the fourth label of a client is a 429 `throttled` with Retry-After; another client still gets through;
    the bulk endpoint shares the scope."""
    # given
    settings.API_THROTTLE_RATES = {"feedback": "3/min", "writes": ""}
    alice, bob = client_for("alice"), client_for("bob")
    # when
    answers = [feedback(alice).status_code for _ in range(3)]
    throttled = feedback(alice)
    bulk = alice.post("/api/v1/feedback", [], format="json")
    # then
    assert 429 not in answers
    assert throttled.status_code == 429
    assert throttled.json()["error"]["code"] == "throttled"
    assert int(throttled["Retry-After"]) > 0
    assert bulk.status_code == 429
    assert feedback(bob).status_code != 429


def test_drift_runs_have_their_own_rate(settings: Any) -> None:
    """`writes` limits drift runs; feedback is not counted against it."""
    # given
    settings.API_THROTTLE_RATES = {"feedback": "", "writes": "2/hour"}
    alice = client_for("alice")
    # when
    runs = [alice.post("/api/v1/models/nosuch/drift/run").status_code for _ in range(3)]
    labels = [feedback(alice).status_code for _ in range(5)]
    # then
    assert runs == [404, 404, 429]
    assert 429 not in labels


def test_an_empty_rate_limits_nothing(settings: Any) -> None:
    """The test settings' empty rates: many requests, no 429."""
    alice = client_for("alice")
    assert all(feedback(alice).status_code != 429 for _ in range(50))
