"""Alerting fixtures: generated files in a temporary directory, a stand-in for the reload and read-back endpoints,
the real promtool and amtool (tests that need them skip, saying so, where they are missing)."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from alerts_config.models import Threshold
from alerts_config.rendering import prometheus_duration_seconds
from alerts_config.services import RULES_FILENAME
from predictions.models import MLModel, ModelVersion

REPO = Path(__file__).resolve().parents[2]
RULES_TESTS_DIR = REPO / "monitoring" / "rules-tests"

needs_promtool = pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
needs_amtool = pytest.mark.skipif(shutil.which("amtool") is None, reason="amtool is not installed")


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ReloadRecorder:
    """A loopback HTTP server that answers like Prometheus and Alertmanager where publishing talks to them: POST
    <prefix>/-/reload re-reads the generated file (as the servers do) and is recorded; GET /prometheus/api/v1/rules and
    GET /alertmanager/api/v2/status answer from what the last reload read. `status` makes reloads fail; `applies=False`
    makes them answer 200 while keeping the old file, as a single-file bind mount does (prometheus#2544)."""

    url: str
    calls: list[str] = field(default_factory=list)
    status: int = 200
    applies: bool = True
    rules_path: Path | None = None
    config_path: Path | None = None
    loaded: dict[str, str] = field(default_factory=dict)

    def reload(self, prefix: str) -> None:
        """Read the file of the server behind `prefix` as that server's reload would."""
        path = self.rules_path if prefix == "/prometheus" else self.config_path
        if self.applies and path is not None and path.exists():
            self.loaded[prefix] = path.read_text()

    def answer(self, path: str) -> dict[str, Any] | None:
        """The API answer of a GET, built from the loaded files like the real servers build it."""
        if path.startswith("/prometheus/api/v1/rules"):
            groups = yaml.safe_load(self.loaded.get("/prometheus", "")) or {"groups": []}
            return {
                "status": "success",
                "data": {
                    "groups": [
                        {
                            "name": group["name"],
                            "file": str(self.rules_path),
                            "rules": [
                                {
                                    "name": rule["alert"],
                                    "duration": prometheus_duration_seconds(rule.get("for", "0s")),
                                    "labels": rule.get("labels", {}),
                                    "annotations": rule.get("annotations", {}),
                                    "type": "alerting",
                                }
                                for rule in group["rules"]
                            ],
                        }
                        for group in groups["groups"]
                    ]
                },
            }
        if path.startswith("/alertmanager/api/v2/status") and "/alertmanager" in self.loaded:
            return {"config": {"original": self.loaded["/alertmanager"]}}
        return None


@pytest.fixture
def reload_server() -> Iterator[ReloadRecorder]:
    """A Prometheus and Alertmanager stand-in on a free loopback port (see ReloadRecorder)."""
    server: ThreadingHTTPServer
    recorder = ReloadRecorder(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            recorder.calls.append(self.path)
            if recorder.status < 400:
                recorder.reload(self.path.removesuffix("/-/reload"))
            self.send_response(recorder.status)
            self.end_headers()
            self.wfile.write(b"failed to reload config" if recorder.status >= 400 else b"")

        def do_GET(self) -> None:
            body = recorder.answer(self.path)
            self.send_response(200 if body is not None else 404)
            self.end_headers()
            self.wfile.write(json.dumps(body).encode() if body is not None else b"404 page not found")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    recorder.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield recorder
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def reloads(settings: Any, reload_server: ReloadRecorder) -> ReloadRecorder:
    """Publishing talks to the stand-in: Prometheus under /prometheus, Alertmanager under /alertmanager."""
    settings.PROMETHEUS_URL = reload_server.url + "/prometheus"
    settings.ALERTMANAGER_URL = reload_server.url + "/alertmanager"
    reload_server.rules_path = Path(settings.ALERT_RULES_DIR) / RULES_FILENAME
    reload_server.config_path = Path(settings.ALERTMANAGER_CONFIG_PATH)
    return reload_server


@pytest.fixture(autouse=True)
def alerting_paths(settings: Any, tmp_path: Path) -> Path:
    """Generated files go to a per-test directory; reloads go to a closed loopback port unless a test says more."""
    root = tmp_path / "alerting"
    settings.ALERT_RULES_DIR = root / "rules"
    settings.ALERTMANAGER_CONFIG_PATH = root / "alertmanager" / "alertmanager.yml"
    settings.ALERTMANAGER_SECRETS_DIR = root / "secrets"
    settings.ALERT_WEBHOOK_TOKEN_FILE = root / "secrets" / "webhook_token"
    closed = f"http://127.0.0.1:{free_port()}"
    settings.PROMETHEUS_URL = closed
    settings.ALERTMANAGER_URL = closed
    settings.ALERT_RELOAD_TIMEOUT_SECONDS = 2.0
    settings.PROMTOOL_PATH = "promtool"
    settings.AMTOOL_PATH = "amtool"
    settings.ALERT_SMTP_SMARTHOST = ""
    settings.ALERT_SMTP_FROM = ""
    return root


@pytest.fixture
def tool_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], Callable[[], list[str]]]:
    """Factory: put a shim for a validator (promtool, amtool) first on PATH that logs its subcommand and then runs
    the real tool; returns a reader of that log."""

    def shim(name: str) -> Callable[[], list[str]]:
        real = shutil.which(name)
        assert real is not None, f"{name} is not installed"
        log = tmp_path / f"{name}-runs.log"
        directory = tmp_path / "shims"
        directory.mkdir(exist_ok=True)
        script = directory / name
        script.write_text(f'#!/bin/sh\necho "$1 $2" >> {shlex.quote(str(log))}\nexec {shlex.quote(real)} "$@"\n')
        script.chmod(0o755)
        if str(directory) not in os.environ["PATH"].split(os.pathsep):
            monkeypatch.setenv("PATH", f"{directory}{os.pathsep}{os.environ['PATH']}")
        return lambda: log.read_text().splitlines() if log.exists() else []

    return shim


# The features the alerting tests' models have (thresholds may only name features a model has).
TEST_FEATURES = ["a", "b", "c", 'a"{1}', "petal_length", "petal_width"]


@pytest.fixture
def model_factory(db: None) -> Callable[[str], MLModel]:
    """Factory: a registered model name with a stored version whose schema lists TEST_FEATURES (thresholds read
    only the name and the feature names; nothing loads the artifact)."""

    def create(name: str) -> MLModel:
        model = MLModel.objects.create(name=name)
        schema = [{"name": feature, "type": "numeric", "nullable": False} for feature in TEST_FEATURES]
        ModelVersion.objects.create(model=model, version="1", artifact="", feature_schema=schema, class_labels=["x"])
        return model

    return create


def seed_threshold(kind: str) -> Threshold:
    """The seed's all-models threshold of a kind (created by the data migration)."""
    return Threshold.objects.get(kind=kind, model=None, feature_name="")


def promtool_test(*, rules_text: str, test_data: dict[str, Any] | str, directory: Path) -> subprocess.CompletedProcess:
    """Write the rules as mlmonitor.rules.yml beside a promtool unit-test file and run `promtool test rules`."""
    (directory / "mlmonitor.rules.yml").write_text(rules_text)
    test_file = directory / "rules.test.yml"
    test_file.write_text(test_data if isinstance(test_data, str) else yaml.safe_dump(test_data, sort_keys=False))
    return subprocess.run(
        ["promtool", "test", "rules", str(test_file)], capture_output=True, text=True, timeout=60, check=False
    )


def promtool_check(path: Path) -> subprocess.CompletedProcess:
    """`promtool check rules --lint-fatal` on one file."""
    return subprocess.run(
        ["promtool", "check", "rules", "--lint-fatal", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
