"""/metrics protection by setting: a bearer token and an address allowlist (mlmonitor/metrics_access.py)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

TOKEN = "s3cret-scrape-token"


def test_open_by_default() -> None:
    """Neither setting: any client reads the metrics."""
    assert Client().get("/metrics").status_code == 200


def test_a_token_is_required_when_set(settings: Any) -> None:
    """With METRICS_AUTH_TOKEN: no header or a wrong token is a 401 with WWW-Authenticate; the token is a 200."""
    # given
    settings.METRICS_AUTH_TOKEN = TOKEN
    client = Client()
    # when
    missing = client.get("/metrics")
    wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer not-it")
    basic = client.get("/metrics", HTTP_AUTHORIZATION=f"Basic {TOKEN}")
    right = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    # then
    for response in (missing, wrong, basic):
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "not_authenticated"
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert b"ml_" not in response.content
    assert right.status_code == 200
    assert b"ml_" in right.content


@pytest.mark.parametrize(
    ("nets", "address", "status"),
    [
        (["10.0.0.0/8"], "10.1.2.3", 200),
        (["10.0.0.0/8"], "192.168.1.1", 403),
        (["127.0.0.1", "fd00::/8"], "fd00::1", 200),
        (["127.0.0.1"], "127.0.0.2", 403),
    ],
)
def test_addresses_outside_the_allowed_networks_are_refused(
    settings: Any, nets: list[str], address: str, status: int
) -> None:
    """With METRICS_ALLOWED_NETS: the client address must be in one of the networks (403 otherwise)."""
    # given
    settings.METRICS_ALLOWED_NETS = nets
    # when
    response = Client(REMOTE_ADDR=address).get("/metrics")
    # then
    assert response.status_code == status


def test_a_forwarded_header_does_not_open_the_allowlist(settings: Any) -> None:
    """X-Forwarded-For is the client's word: the peer address decides."""
    # given
    settings.METRICS_ALLOWED_NETS = ["10.0.0.0/8"]
    # when
    response = Client(REMOTE_ADDR="192.168.1.1").get("/metrics", HTTP_X_FORWARDED_FOR="10.1.1.1")
    # then
    assert response.status_code == 403


def test_both_settings_must_pass(settings: Any) -> None:
    """Token and networks together: an allowed address still needs the token."""
    # given
    settings.METRICS_ALLOWED_NETS = ["127.0.0.0/8"]
    settings.METRICS_AUTH_TOKEN = TOKEN
    client = Client(REMOTE_ADDR="127.0.0.1")
    # when / then
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200
