"""The alert history in the admin tells rows apart and leads on: model, feature, severity, state and duration as
columns, links to the model's dashboard page and, for drift alerts, to the drift report."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from alerts_config.services import alert_events_ingest


def alert(feature: str, *, status: str = "resolved", alertname: str = "DataDriftDetected") -> dict[str, Any]:
    """One alert as Alertmanager posts it."""
    return {
        "status": status,
        "labels": {"alertname": alertname, "severity": "warning", "model_name": "iris", "feature_name": feature},
        "annotations": {"summary": "Data drift detected"},
        "startsAt": "2026-01-01T00:00:00+00:00",
        "endsAt": "2026-01-01T00:20:00+00:00" if status == "resolved" else "0001-01-01T00:00:00Z",
        "generatorURL": "http://127.0.0.1:9090/graph?g0.expr=x",
        "fingerprint": f"fp-{feature}",
    }


@pytest.mark.django_db
def test_the_history_list_shows_feature_duration_and_links(admin_client: Client) -> None:
    """Two drift alerts of one model differ by their feature column; a resolved one shows its 20 minutes; each row
    links to the model's dashboard page and its drift report."""
    # given
    alert_events_ingest(receiver="mlmonitor-webhook", alerts=[alert("petal_length"), alert("petal_width")])
    # when
    response = admin_client.get("/admin/alerts_config/alertevent/")
    # then
    assert response.status_code == 200
    page = response.content.decode()
    assert re.search(r'class="field-feature">petal_length<', page) and re.search(
        r'class="field-feature">petal_width<', page
    )
    assert "20 min" in page
    assert 'href="/dashboard/models/iris/"' in page
    assert 'href="/dashboard/models/iris/drift/"' in page
