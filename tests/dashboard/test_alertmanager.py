"""Alerts firing now, from a real Alertmanager's API v2; an unreachable one is said, not hidden."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dashboard.alertmanager import alertmanager_alerts_fetch
from tests.dashboard.stack import alertmanager_running
from tests.servers import free_port


@pytest.mark.slow
def test_firing_alerts_come_from_alertmanager(tmp_path: Path, settings: Any) -> None:
    """Two alerts posted to Alertmanager are listed with their labels and annotations, newest first, and filtered
    by model."""
    # given
    with alertmanager_running(tmp=tmp_path) as alertmanager:
        settings.ALERTMANAGER_URL = alertmanager.url
        settings.DASHBOARD_CACHE_SECONDS = 0
        alertmanager.alert_post(
            labels={
                "alertname": "DataDriftDetected",
                "severity": "warning",
                "model_name": "iris",
                "feature_name": "petal_length",
            },
            annotations={"summary": "Data drift detected", "description": "score 0.4"},
        )
        alertmanager.alert_post(labels={"alertname": "ServiceDown", "severity": "critical"}, annotations={})
        alertmanager.wait_for_alerts(2)
        # when
        firing = alertmanager_alerts_fetch()
    # then
    assert firing.unavailable is None
    assert {a.alertname for a in firing.alerts} == {"DataDriftDetected", "ServiceDown"}
    (drift,) = firing.for_model("iris")
    assert (drift.feature_name, drift.severity, drift.summary, drift.description) == (
        "petal_length",
        "warning",
        "Data drift detected",
        "score 0.4",
    )
    assert drift.starts_at is not None and len(drift.fingerprint) == 16


def test_an_unreachable_alertmanager_is_reported(settings: Any) -> None:
    """Nothing listening: no alerts, and the reason."""
    # given
    settings.ALERTMANAGER_URL = f"http://127.0.0.1:{free_port()}"
    # when
    firing = alertmanager_alerts_fetch()
    # then
    assert firing.alerts == [] and "Connection refused" in (firing.unavailable or "")
