"""A reload the real Prometheus refuses is a failed publish, and the retry puts the rules live once it can.

Debian's prometheus and prometheus-alertmanager on free loopback ports; Prometheus first started without
--web.enable-lifecycle (it answers the reload with 403 and keeps the old rules), then restarted with it.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.core.management import CommandError, call_command

from alerts_config import services
from alerts_config.models import PublishState
from tests.servers import free_port, required_tool, running, wait_for_http

from .conftest import seed_threshold

pytestmark = [pytest.mark.slow, pytest.mark.django_db]


def live_thresholds(port: int) -> list[str]:
    """The `threshold` annotations of the DataDriftDetected rules Prometheus runs now."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/rules", timeout=5) as response:
        groups = json.loads(response.read())["data"]["groups"]
    return [r["annotations"]["threshold"] for g in groups for r in g["rules"] if r["name"] == "DataDriftDetected"]


def test_a_refused_reload_fails_the_publish_and_the_retry_makes_it_live(
    settings: Any, tmp_path: Path, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    """Without --web.enable-lifecycle the save's publish is recorded as failed (403), publish_alerting exits non-zero
    and Prometheus keeps the old rule; after a restart with the flag, the retry task's service makes the new rule
    live and the state ok."""
    # given: the files written, Alertmanager up, Prometheus up without lifecycle reloads
    prometheus, alertmanager = required_tool("prometheus"), required_tool("prometheus-alertmanager")
    prometheus_port, alertmanager_port = free_port(), free_port()
    settings.PROMETHEUS_URL = f"http://127.0.0.1:{prometheus_port}"
    settings.ALERTMANAGER_URL = f"http://127.0.0.1:{alertmanager_port}"
    call_command("publish_alerting", "--no-reload")
    config = tmp_path / "prometheus.yml"
    rule_files = [f"{settings.ALERT_RULES_DIR}/*.rules.yml"]
    config.write_text(yaml.safe_dump({"global": {"evaluation_interval": "1s"}, "rule_files": rule_files}))
    common = [
        prometheus,
        f"--config.file={config}",
        f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{prometheus_port}",
    ]
    manager = [
        alertmanager,
        f"--config.file={settings.ALERTMANAGER_CONFIG_PATH}",
        f"--storage.path={tmp_path / 'am'}",
        f"--web.listen-address=127.0.0.1:{alertmanager_port}",
        "--cluster.listen-address=",
    ]
    with running(manager, name="alertmanager", log_path=tmp_path / "am.log") as am_server:
        wait_for_http(alertmanager_port, "/-/ready", server=am_server)
        with running(common, name="prometheus", log_path=tmp_path / "p1.log") as server:
            wait_for_http(prometheus_port, "/-/ready", server=server)
            assert live_thresholds(prometheus_port) == ["0.15"]
            # when: the operator raises the drift threshold
            with django_capture_on_commit_callbacks(execute=True):
                services.threshold_update(threshold=seed_threshold("feature_drift"), value=0.3)
            # then
            state = PublishState.objects.get()
            assert not state.ok and "Prometheus reload failed: HTTP 403" in state.last_error, state.last_error
            with pytest.raises(CommandError, match="Lifecycle API is not enabled"):
                call_command("publish_alerting")
            assert live_thresholds(prometheus_port) == ["0.15"]
        # when: Prometheus comes back with reloads enabled, and the retry runs
        with running([*common, "--web.enable-lifecycle"], name="prometheus", log_path=tmp_path / "p2.log") as server:
            wait_for_http(prometheus_port, "/-/ready", server=server)
            retried = services.alerting_publish_retry()
            # then
            assert retried is not None and retried.ok, retried.summary() if retried else None
            assert PublishState.objects.get().ok
            assert live_thresholds(prometheus_port) == ["0.3"]
            assert "Prometheus reloaded and runs the" in retried.summary()
