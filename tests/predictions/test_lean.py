"""The predict endpoints' lean view (predictions/lean.py): the same answers as the DRF view, and DRF for the rest.

The DRF view is reached with an Accept header the lean view does not take (it still negotiates JSON), so each test
compares the two paths on one server."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.authtoken.models import Token

from predictions import lean
from predictions.models import Prediction

ROW = [5.1, 3.5, 1.4, 0.2]
DRF = {"HTTP_ACCEPT": "application/json; q=0.9"}
VOLATILE = {"prediction_id", "latency_ms"}


def stable(body: dict[str, Any]) -> dict[str, Any]:
    """An answer without its per-request values (id, latency)."""
    if "predictions" in body:
        return {
            **stable({k: v for k, v in body.items() if k != "predictions"}),
            "rows": [stable(r) for r in body["predictions"]],
        }
    return {k: v for k, v in body.items() if k not in VOLATILE}


@pytest.fixture
def lean_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records each request the lean view answers."""
    calls: list[str] = []
    original = lean.predict_answer

    def recording(request: Any, **kwargs: Any) -> Any:
        calls.append(request.path)
        return original(request, **kwargs)

    monkeypatch.setattr(lean, "predict_answer", recording)
    return calls


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/predict", {"features": ROW}),
        ("/api/v1/models/iris/predict", {"instances": [ROW, [6.2, 2.9, 4.3, 1.3]]}),
        (
            "/api/v1/models/iris/versions/1/predict",
            {"features": dict(zip(["sepal_length", "sepal_width", "petal_length", "petal_width"], ROW))},
        ),
    ],
)
def test_the_lean_view_answers_what_the_drf_view_answers(
    client: Any, iris_version: Any, lean_calls: list[str], path: str, body: dict[str, Any]
) -> None:
    # when
    fast = client.post(path, body, content_type="application/json")
    slow = client.post(path, body, content_type="application/json", **DRF)
    # then
    assert lean_calls == [path]  # the first took the lean view, the second did not
    assert fast.status_code == slow.status_code == 200
    assert fast["Content-Type"] == slow["Content-Type"] == "application/json"
    assert fast["Allow"] == slow["Allow"] and fast["Vary"] == slow["Vary"]
    assert stable(fast.json()) == stable(slow.json())
    rows = len(body.get("instances", [body.get("features")]))
    assert Prediction.objects.count() == 2 * rows


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "raw"),
    [
        ("/predict", b'{"features": [1, 2, 3'),
        ("/predict", b'{"features": [5.1, 3.5, 1.4, NaN]}'),
        ("/predict", b'{"instances": []}'),
        ("/predict", b"\xff\xfe"),
        ("/predict", b"[" * 5000 + b"]" * 5000),
        ("/api/v1/models/nope/predict", b'{"features": [5.1, 3.5, 1.4, 0.2]}'),
        ("/api/v1/models/iris/versions/9/predict", b'{"features": [5.1, 3.5, 1.4, 0.2]}'),
        ("/predict", b'{"features": [1e400, 3.5, 1.4, 0.2]}'),
    ],
)
def test_errors_are_identical_on_both_paths(
    client: Any, iris_version: Any, lean_calls: list[str], path: str, raw: bytes
) -> None:
    # when
    fast = client.generic("POST", path, raw, content_type="application/json")
    slow = client.generic("POST", path, raw, content_type="application/json", **DRF)
    # then
    assert lean_calls == [path]
    assert fast.status_code == slow.status_code and 400 <= fast.status_code < 500
    assert fast.json() == slow.json()
    assert set(fast.json()["error"]) == {"code", "message", "details"}
    assert Prediction.objects.count() == 0


@pytest.mark.django_db
def test_a_body_over_the_limit_is_the_same_413_on_both_paths(
    client: Any, iris_version: Any, lean_calls: list[str], settings: Any
) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    raw = b'{"instances": [' + b",".join([b"[5.1, 3.5, 1.4, 0.2]"] * 20) + b"]}"
    fast = client.generic("POST", "/predict", raw, content_type="application/json")
    slow = client.generic("POST", "/predict", raw, content_type="application/json", **DRF)
    assert fast.status_code == slow.status_code == 413
    assert fast.json() == slow.json()
    assert fast.json()["error"]["code"] == "body_too_large"


@pytest.mark.django_db
def test_credentials_and_required_tokens_take_the_drf_view(
    client: Any, iris_version: Any, lean_calls: list[str], settings: Any, django_user_model: Any
) -> None:
    """A bad token is refused (401) even on the open endpoint, as DRF's authentication does; a good one is served by
    the DRF view; with API_REQUIRE_TOKEN_FOR_READ on, an anonymous request is refused."""
    # a bad token
    bad = client.post("/predict", {"features": ROW}, content_type="application/json", HTTP_AUTHORIZATION="Bearer nope")
    assert bad.status_code == 401 and bad.json()["error"]["code"] == "authentication_failed"
    # a good token
    token = Token.objects.create(user=django_user_model.objects.create_user("reader", password="x"))
    good = client.post(
        "/predict", {"features": ROW}, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token.key}"
    )
    assert good.status_code == 200
    # tokens required
    settings.API_REQUIRE_TOKEN_FOR_READ = True
    anonymous = client.post("/predict", {"features": ROW}, content_type="application/json")
    assert anonymous.status_code == 401
    assert lean_calls == []


@pytest.mark.django_db
def test_a_logged_in_session_keeps_drfs_csrf_check(
    client: Any, iris_version: Any, lean_calls: list[str], admin_user: Any
) -> None:
    """A browser session posting without a CSRF token is refused as under DRF's SessionAuthentication."""
    csrf_client = type(client)(enforce_csrf_checks=True)
    csrf_client.force_login(admin_user)
    response = csrf_client.post("/predict", {"features": ROW}, content_type="application/json")
    assert response.status_code == 403
    assert lean_calls == []
    assert Prediction.objects.count() == 0
