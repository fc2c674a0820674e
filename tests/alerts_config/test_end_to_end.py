"""The whole alerting loop with the real servers: the app under granian (its own SQLite database), Debian's
prometheus and prometheus-alertmanager, all on free loopback ports with 1 s scrape/evaluation/grouping.

Drifted traffic -> drift run -> DataDriftDetected fires -> Alertmanager posts it to the app's webhook -> the alert
is in the history; a threshold changed through the service the admin uses is live in Prometheus within seconds;
an invalid threshold (refused, or forced into the database behind the service's back) leaves the running rules
alone. The test touches only the app's own database file, not the test database.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import pytest
import yaml
from sklearn.datasets import load_iris

from .conftest import REPO, free_port

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (shutil.which("prometheus") and shutil.which("prometheus-alertmanager") and shutil.which("promtool")),
        reason="Debian's prometheus, prometheus-alertmanager and promtool are needed",
    ),
]

PYTHON = sys.executable
GUNICORN = str(Path(sys.executable).parent / "gunicorn")
WAIT_SECONDS = 60


def http_json(url: str, body: Any = None, *, timeout: float = 10.0) -> Any:
    """GET (or POST a JSON body) on loopback and decode the JSON answer."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def wait_until(check: Callable[[], Any], *, timeout: float, what: str, logs: Callable[[], str] = str) -> Any:
    """Poll `check` every 0.25 s until it returns something truthy; fail with the servers' logs after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
        except (OSError, ValueError):
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}\n{logs()}")
        time.sleep(0.25)


class Stack:
    """Processes started by the test, their log files, and the app's environment."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.processes: list[tuple[str, subprocess.Popen[bytes], IO[bytes]]] = []
        self.app_port, self.prometheus_port, self.alertmanager_port = free_port(), free_port(), free_port()
        self.database = root / "app.sqlite3"
        self.rules_dir = root / "rules"
        self.alertmanager_config = root / "alertmanager" / "alertmanager.yml"
        environ = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "ALERT", "PROMETHEUS"))}
        self.env = {
            **environ,
            "DJANGO_SETTINGS_MODULE": "mlmonitor.settings.base",
            "DJANGO_DEBUG": "0",
            "SECRET_KEY": "test",
            "DATABASE_URL": f"sqlite:///{self.database}",
            "MEDIA_ROOT": str(root / "media"),
            "ALERT_RULES_DIR": str(self.rules_dir),
            "ALERTMANAGER_CONFIG_PATH": str(self.alertmanager_config),
            "ALERTMANAGER_SECRETS_DIR": str(root / "secrets"),
            "ALERT_WEBHOOK_TOKEN_FILE": str(root / "secrets" / "webhook_token"),
            "ALERT_WEBHOOK_URL": f"http://127.0.0.1:{self.app_port}/api/v1/alerts/webhook",
            "PROMETHEUS_URL": f"http://127.0.0.1:{self.prometheus_port}",
            "ALERTMANAGER_URL": f"http://127.0.0.1:{self.alertmanager_port}",
            "ALERT_GROUP_WAIT": "1s",
            "ALERT_GROUP_INTERVAL": "1s",
            "ALERT_REPEAT_INTERVAL": "1h",
            "METRICS_COLLECTOR_CACHE_SECONDS": "0",
            "WEB_BIND": f"127.0.0.1:{self.app_port}",
            "WEB_WORKERS": "1",
            "LOG_LEVEL": "WARNING",
        }

    def manage(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run manage.py in the app's environment."""
        done = subprocess.run(
            [PYTHON, "manage.py", *args], cwd=REPO, env=self.env, capture_output=True, text=True, timeout=120
        )
        if check and done.returncode != 0:
            pytest.fail(f"manage.py {args[0]} failed:\n{done.stdout}\n{done.stderr}")
        return done

    def shell(self, code: str) -> Any:
        """Run Python in the app's environment (manage.py shell -c); it prints one JSON line last."""
        done = self.manage("shell", "-c", code)
        return json.loads(done.stdout.strip().splitlines()[-1])

    def start(self, name: str, argv: list[str], ready_url: str) -> None:
        """Start a server with its output in a log file and wait until it answers."""
        log = open(self.root / f"{name}.log", "wb")  # noqa: SIM115 - closed in stop()
        process = subprocess.Popen(argv, cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        self.processes.append((name, process, log))

        def ready() -> bool:
            if process.poll() is not None:
                pytest.fail(f"{name} exited with {process.returncode}\n{self.logs()}")
            with urllib.request.urlopen(ready_url, timeout=2) as response:
                return response.status == 200

        wait_until(ready, timeout=30, what=f"{name} at {ready_url}", logs=self.logs)

    def servers_start(self) -> None:
        """Start the app (granian), Alertmanager and Prometheus (1 s scrape and evaluation, the published rules)."""
        prometheus_config = self.root / "prometheus.yml"
        prometheus_config.write_text(
            yaml.safe_dump(
                {
                    "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                    "rule_files": [str(self.rules_dir / "*.rules.yml")],
                    "alerting": {
                        "alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{self.alertmanager_port}"]}]}]
                    },
                    "scrape_configs": [
                        {"job_name": "mlmonitor", "static_configs": [{"targets": [f"127.0.0.1:{self.app_port}"]}]}
                    ],
                }
            )
        )
        self.start(
            "web",  # the default web server (granian), as make run starts it
            [sys.executable, "-m", "mlmonitor.serve"],
            f"http://127.0.0.1:{self.app_port}/healthz",
        )
        self.start(
            "alertmanager",
            [
                "prometheus-alertmanager",
                f"--config.file={self.alertmanager_config}",
                f"--storage.path={self.root / 'alertmanager-data'}",
                f"--web.listen-address=127.0.0.1:{self.alertmanager_port}",
                "--cluster.listen-address=",  # no gossip: a single instance
                # Alertmanager's POST /-/reload is always on: 0.25 has no --web.enable-lifecycle flag
            ],
            f"http://127.0.0.1:{self.alertmanager_port}/-/ready",
        )
        self.start(
            "prometheus",
            [
                "prometheus",
                f"--config.file={prometheus_config}",
                f"--storage.tsdb.path={self.root / 'prometheus-data'}",
                f"--web.listen-address=127.0.0.1:{self.prometheus_port}",
                "--web.enable-lifecycle",
                # Alerts are sent valid for 4 x resend delay. A firing alert whose rule is replaced by a reload is
                # never sent as resolved (alertmanager#3371): Alertmanager resolves it when that validity runs out,
                # 4 minutes with the default 1m delay, 4 s here.
                "--rules.alert.resend-delay=1s",
            ],
            f"http://127.0.0.1:{self.prometheus_port}/-/ready",
        )

    def logs(self) -> str:
        """The tail of every server's log, and what Prometheus, Alertmanager and the history hold."""
        parts = []
        for label, url in (
            ("prometheus alerts", f"http://127.0.0.1:{self.prometheus_port}/api/v1/alerts"),
            ("alertmanager alerts", f"http://127.0.0.1:{self.alertmanager_port}/api/v2/alerts"),
        ):
            try:
                parts.append(f"--- {label} ---\n{json.dumps(http_json(url, timeout=2))[:3000]}")
            except (OSError, ValueError) as exc:
                parts.append(f"--- {label} --- {exc}")
        try:
            with sqlite3.connect(self.database, timeout=10) as db:
                rows = db.execute("SELECT alertname, status, starts_at, ends_at, labels FROM alerts_config_alertevent")
                parts.append("--- history ---\n" + "\n".join(map(str, rows.fetchall())))
        except sqlite3.Error as exc:
            parts.append(f"--- history --- {exc}")
        for name, _, _ in self.processes:
            text = (self.root / f"{name}.log").read_text(errors="replace")
            parts.append(f"--- {name} ---\n{text[-3000:]}")
        return "\n".join(parts)

    def stop(self) -> None:
        """Stop every process this test started, by its id: TERM, then KILL after 10 s."""
        for _, process, _ in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
        for _, process, log in reversed(self.processes):
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
            log.close()

    def events(self, alertname: str) -> dict[str, str]:
        """feature_name -> status of the app's stored alert events (read from its own database file)."""
        with sqlite3.connect(self.database, timeout=10) as db:
            rows = db.execute(
                "SELECT labels, status FROM alerts_config_alertevent WHERE alertname = ?", (alertname,)
            ).fetchall()
        return {json.loads(labels).get("feature_name", ""): status for labels, status in rows}

    def drift_rules(self) -> list[dict[str, Any]]:
        """The DataDriftDetected rules Prometheus is running now."""
        groups = http_json(f"http://127.0.0.1:{self.prometheus_port}/api/v1/rules")["data"]["groups"]
        return [r for g in groups for r in g["rules"] if r["name"] == "DataDriftDetected"]


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """The app's database migrated with the demo model, the generated config published; servers stopped at the end."""
    running = Stack(tmp_path)
    try:
        yield running
    finally:
        running.stop()


def test_drift_alert_reaches_the_history_and_threshold_changes_go_live(stack: Stack) -> None:
    """DataDriftDetected fires on drifted traffic and lands in the alert history; a new threshold shows in
    Prometheus' /api/v1/rules within seconds; an invalid one leaves the running rules unchanged."""
    # given: the app's database with the demo model, the drift alert's `for` shortened, the config published
    stack.manage("migrate", "--noinput", "-v0")
    setup = stack.shell(
        "import json\n"
        "from django.core.management import call_command\n"
        "from alerts_config.models import Threshold\n"
        "from alerts_config.services import threshold_update\n"
        "call_command('load_demo', verbosity=0)\n"
        "t = Threshold.objects.get(kind='feature_drift', model=None, feature_name='')\n"
        "threshold_update(threshold=t, for_duration='2s')\n"
        "print(json.dumps(True))\n"
    )
    assert setup is True
    rules_file = stack.rules_dir / "mlmonitor.rules.yml"
    assert "(ml_feature_drift_score) > 0.15" in rules_file.read_text()
    stack.servers_start()

    # when: the iris data with petal_length and petal_width shifted by +3 is scored, then drift is recomputed
    rows = load_iris().data.copy()
    rows[:, 2:4] += 3.0
    scored = http_json(f"http://127.0.0.1:{stack.app_port}/api/v1/models/iris/predict", {"instances": rows.tolist()})
    assert len(scored["predictions"]) == 150
    flagged = stack.shell(
        "import json\n"
        "from drift.services import drift_run_compute\n"
        "from predictions.models import MLModel\n"
        "run = drift_run_compute(model_id=MLModel.objects.get(name='iris').pk)\n"
        "print(json.dumps(sorted(f.feature_name for f in run.features.all() if f.drifted)))\n"
    )
    assert flagged == ["petal_length", "petal_width"]

    # then: Alertmanager posts DataDriftDetected for exactly those features to the app, which stores it
    events = wait_until(
        lambda: (e := stack.events("DataDriftDetected")) and set(e) == {"petal_length", "petal_width"} and e,
        timeout=WAIT_SECONDS,
        what="DataDriftDetected in the app's alert history",
        logs=stack.logs,
    )
    assert set(events.values()) == {"firing"}
    assert "Notify attempt failed" not in (stack.root / "alertmanager.log").read_text()  # no 401/500 on the way

    # when: the operator raises the global feature-drift threshold through the admin's service
    good_rules = stack.shell(
        "import json\n"
        "from alerts_config.models import Threshold\n"
        "from alerts_config.services import threshold_update\n"
        "t = Threshold.objects.get(kind='feature_drift', model=None, feature_name='')\n"
        "threshold_update(threshold=t, value=1.0)\n"
        "print(json.dumps(True))\n"
    )
    assert good_rules is True
    changed_at = time.monotonic()

    # then: Prometheus runs the new value within seconds; the alerts resolve in the history (see resend-delay)
    def new_value_live() -> bool:
        rules = stack.drift_rules()
        return len(rules) == 1 and rules[0]["annotations"]["threshold"] == "1" and "> 1 " in rules[0]["query"]

    wait_until(new_value_live, timeout=10, what="the new threshold in /api/v1/rules", logs=stack.logs)
    assert time.monotonic() - changed_at < 10
    wait_until(
        lambda: set(stack.events("DataDriftDetected").values()) == {"resolved"},
        timeout=WAIT_SECONDS,
        what="the drift alerts to resolve",
        logs=stack.logs,
    )

    # when: an invalid value is refused by the service, and a broken row forced past it fails to publish
    live_rules = rules_file.read_bytes()
    attempts = stack.shell(
        "import json\n"
        "from django.core.exceptions import ValidationError\n"
        "from alerts_config.models import PublishState, Threshold\n"
        "from alerts_config.services import alerting_publish, threshold_update\n"
        "t = Threshold.objects.get(kind='feature_drift', model=None, feature_name='')\n"
        "try:\n"
        "    threshold_update(threshold=t, value=1.5)\n"
        "    refused = False\n"
        "except ValidationError:\n"
        "    refused = True\n"
        "Threshold.objects.filter(pk=t.pk).update(value=0.5, description='{{ $value | nosuchfunc }}')\n"
        "result = alerting_publish()\n"
        "state = PublishState.objects.get()\n"
        "print(json.dumps([refused, result.ok, state.ok, state.last_error]))\n"
    )

    # then: nothing changed in the file or in Prometheus, and the error is recorded for the admin
    refused, published, state_ok, last_error = attempts
    assert refused and not published and not state_ok
    assert "promtool check rules refused" in last_error
    assert rules_file.read_bytes() == live_rules
    assert new_value_live()
