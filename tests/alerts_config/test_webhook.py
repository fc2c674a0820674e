"""POST /api/v1/alerts/webhook: Alertmanager's version 4 payload becomes alert history, deduplicated, resolved."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from alerts_config.models import AlertEvent

pytestmark = pytest.mark.django_db

URL = "/api/v1/alerts/webhook"
STARTS = "2026-01-02T03:04:05.123Z"


def payload(*, status: str = "firing", starts: str = STARTS, ends: str = "0001-01-01T00:00:00Z") -> dict[str, Any]:
    """A webhook body as Alertmanager 0.25 posts it."""
    return {
        "receiver": "mlmonitor-webhook",
        "status": status,
        "alerts": [
            {
                "status": status,
                "labels": {
                    "alertname": "DataDriftDetected",
                    "feature_name": "petal_length",
                    "model_name": "iris",
                    "severity": "warning",
                },
                "annotations": {"summary": "Data drift detected", "threshold": "0.15"},
                "startsAt": starts,
                "endsAt": ends,
                "generatorURL": "http://prometheus:9090/graph?g0.expr=ml_feature_drift_score",
                "fingerprint": "a1b2c3d4e5f60718",
            }
        ],
        "groupLabels": {"alertname": "DataDriftDetected"},
        "commonLabels": {"alertname": "DataDriftDetected"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "version": "4",
        "groupKey": '{}:{alertname="DataDriftDetected"}',
        "truncatedAlerts": 0,
    }


def test_a_firing_alert_is_stored_with_its_labels_and_times(token_client: APIClient) -> None:
    """Each alert becomes one AlertEvent; the zero endsAt of a firing alert is stored as no end."""
    # when
    response = token_client.post(URL, payload(), format="json")
    # then
    assert response.status_code == 200, response.content
    assert response.json() == {"received": 1, "created": 1, "updated": 0, "unchanged": 0}
    event = AlertEvent.objects.get()
    assert (event.alertname, event.status, event.model_name, event.severity) == (
        "DataDriftDetected",
        "firing",
        "iris",
        "warning",
    )
    assert event.labels["feature_name"] == "petal_length" and event.annotations["threshold"] == "0.15"
    assert event.starts_at.isoformat() == "2026-01-02T03:04:05.123000+00:00" and event.ends_at is None
    assert event.fingerprint == "a1b2c3d4e5f60718" and event.receiver == "mlmonitor-webhook"
    assert event.generator_url.startswith("http://prometheus:9090/")


def test_repeats_are_deduplicated_and_resolution_updates_the_episode(token_client: APIClient) -> None:
    """Same fingerprint and startsAt: one row; resolved sets status and endsAt; a late firing does not reopen it."""
    # given
    token_client.post(URL, payload(), format="json")
    # when
    repeat = token_client.post(URL, payload(), format="json")
    resolved = token_client.post(URL, payload(status="resolved", ends="2026-01-02T04:00:00Z"), format="json")
    late = token_client.post(URL, payload(), format="json")
    # then
    assert repeat.json() == {"received": 1, "created": 0, "updated": 0, "unchanged": 1}
    assert resolved.json() == {"received": 1, "created": 0, "updated": 1, "unchanged": 0}
    assert late.json()["unchanged"] == 1
    event = AlertEvent.objects.get()
    assert event.status == "resolved" and event.ends_at.isoformat() == "2026-01-02T04:00:00+00:00"
    assert event.notifications == 4


def test_a_new_start_time_is_a_new_episode(token_client: APIClient) -> None:
    """The same alert firing again later is a second history row."""
    token_client.post(URL, payload(), format="json")
    token_client.post(URL, payload(starts="2026-01-03T00:00:00Z"), format="json")
    assert AlertEvent.objects.count() == 2


@pytest.mark.parametrize("header", [None, "Bearer wrong-token", "Basic dXNlcjpwYXNz"])
def test_a_missing_or_wrong_token_gets_401(header: str | None) -> None:
    """The webhook needs a valid bearer token; the answer is the JSON error shape."""
    # given
    client = APIClient()
    if header:
        client.credentials(HTTP_AUTHORIZATION=header)
    # when
    response = client.post(URL, payload(), format="json")
    # then
    assert response.status_code == 401
    assert set(response.json()["error"]) == {"code", "message", "details"}
    assert not AlertEvent.objects.exists()


def _broken(change: Any) -> dict[str, Any]:
    body = copy.deepcopy(payload())
    change(body)
    return body


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (_broken(lambda b: b.update(version="3")), "version"),
        (_broken(lambda b: b.pop("alerts")), "alerts"),
        (_broken(lambda b: b["alerts"][0].pop("fingerprint")), "fingerprint"),
        (_broken(lambda b: b["alerts"][0].update(status="exploded")), "status"),
        (_broken(lambda b: b["alerts"][0].update(startsAt="yesterday")), "startsAt"),
        (_broken(lambda b: b["alerts"][0].update(startsAt="0001-01-01T00:00:00Z")), "startsAt"),
        (_broken(lambda b: b["alerts"][0].update(labels=["not", "a", "map"])), "labels"),
        ([1, 2, 3], "dictionary"),
    ],
)
def test_malformed_payloads_get_400_and_store_nothing(token_client: APIClient, body: Any, needle: str) -> None:
    """A payload that is not version 4 or lacks what an alert needs is refused with a message saying what."""
    # when
    response = token_client.post(URL, body, format="json")
    # then
    assert response.status_code == 400, response.content
    assert needle in response.json()["error"]["message"]
    assert not AlertEvent.objects.exists()


def test_invalid_json_gets_400(token_client: APIClient) -> None:
    """A body that is not JSON is a 400 in the JSON error shape, not a 500."""
    response = token_client.post(URL, data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert "error" in response.json()


def test_the_history_is_listed_and_filtered_read_only_in_the_admin(
    token_client: APIClient, admin_client: Client
) -> None:
    """Filters by model, alert and status; no add or change."""
    # given
    token_client.post(URL, payload(), format="json")
    other = payload(starts="2026-01-03T00:00:00Z")
    other["alerts"][0]["labels"] = {"alertname": "HighErrorRate", "model_name": "wine", "severity": "critical"}
    other["alerts"][0]["fingerprint"] = "ffff000011112222"
    token_client.post(URL, other, format="json")
    base = "/admin/alerts_config/alertevent/"
    # when
    by_model = admin_client.get(base, {"model_name": "wine"})
    by_alert = admin_client.get(base, {"alertname": "DataDriftDetected", "status": "firing"})
    add = admin_client.get(base + "add/")
    # then
    assert by_model.status_code == 200 and by_model.context["cl"].result_count == 1
    assert by_alert.status_code == 200 and [e.alertname for e in by_alert.context["cl"].result_list] == [
        "DataDriftDetected"
    ]
    assert add.status_code == 403


def _alert(fingerprint: str, **labels: str) -> dict[str, Any]:
    alert = copy.deepcopy(payload()["alerts"][0])
    alert["fingerprint"] = fingerprint
    alert["labels"] = {"alertname": "HighErrorRate", "model_name": "iris", "severity": "warning", **labels}
    return alert


def test_alerts_with_oversized_or_odd_fields_are_all_stored(token_client: APIClient) -> None:
    """Alerts from rules that are not ours may carry label values longer than the indexed columns, long fingerprints,
    receivers and generator URLs, huge annotations, NUL characters and lone surrogates: every alert of the
    notification is stored (full labels in the JSON field, indexed columns shortened) and the answer is 2xx, so
    Alertmanager neither drops the others nor retries."""
    # given: one notification mixing a normal alert with every kind of odd field
    body = payload()
    body["receiver"] = "r" * 400
    body["alerts"] = [
        _alert("0000000000000001"),
        _alert("0000000000000002", severity="s" * 33),
        _alert("0000000000000003", alertname="A" * 250),
        _alert("0000000000000004", model_name="m" * 300),
        _alert("f" * 100),
        _alert("f" * 99 + "e"),  # shares the first 64 characters with the previous one: still a distinct episode
        {**_alert("0000000000000007"), "generatorURL": "http://prometheus:9090/graph?g0.expr=" + "x" * 5000},
        {**_alert("0000000000000008"), "annotations": {"description": "d" * 200_000, "zero": "a\x00b"}},
        _alert("0000000000000009", model_name="nul\x00in\x00name", feature_name="\ud800lone"),
        _alert("000000000000000a", model_name="модель-😀" * 30),
    ]
    # when: JSON as Alertmanager writes it (\u escapes; a lone surrogate is valid JSON text)
    response = token_client.post(URL, data=json.dumps(body), content_type="application/json")
    # then
    assert response.status_code == 200, response.content[:500]
    assert response.json() == {"received": 10, "created": 10, "updated": 0, "unchanged": 0}
    assert AlertEvent.objects.count() == 10
    severity = AlertEvent.objects.get(fingerprint="0000000000000002")
    assert severity.labels["severity"] == "s" * 33 and len(severity.severity) <= 20
    name = AlertEvent.objects.get(fingerprint="0000000000000003")
    assert name.labels["alertname"] == "A" * 250 and name.alertname == "A" * 200
    long_fingerprints = AlertEvent.objects.exclude(fingerprint__startswith="000000000000")
    assert long_fingerprints.count() == 2 and all(len(e.fingerprint) <= 64 for e in long_fingerprints)
    assert AlertEvent.objects.get(fingerprint="0000000000000007").generator_url.startswith("http://prometheus:9090/")
    huge = AlertEvent.objects.get(fingerprint="0000000000000008")
    assert len(huge.annotations["description"]) == 200_000 and huge.annotations["zero"] == "a\ufffdb"
    odd = AlertEvent.objects.get(fingerprint="0000000000000009")
    assert odd.model_name == "nul\ufffdin\ufffdname" and odd.labels["feature_name"] == "\ufffdlone"
    assert AlertEvent.objects.get(fingerprint="000000000000000a").model_name.startswith("модель-😀")
    assert all(len(e.receiver) <= 200 for e in AlertEvent.objects.all())


def test_a_repeat_of_an_oversized_alert_updates_its_episode(token_client: APIClient) -> None:
    """The shortened fingerprint is stable: the resolution of an alert with a 100-character fingerprint finds the
    episode its firing created."""
    # given
    body = payload()
    body["alerts"] = [_alert("f" * 100, severity="s" * 40)]
    token_client.post(URL, body, format="json")
    # when
    body["alerts"][0].update(status="resolved", endsAt="2026-01-02T04:00:00Z")
    response = token_client.post(URL, body, format="json")
    # then
    assert response.status_code == 200 and response.json()["updated"] == 1
    assert AlertEvent.objects.get().status == "resolved"
