"""Real monitoring servers for the dashboard's tests: Debian's `prometheus` scraping a given loopback target every
second, and `prometheus-alertmanager` with a receiver that sends nowhere; both on free loopback ports, stopped by
their own process ids."""

from __future__ import annotations

import contextlib
import json
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from tests.servers import ServerProcess, free_port, required_tool, running, wait_for_http

SCRAPE_SECONDS = 1


@dataclass
class Prometheus:
    """A running Prometheus."""

    url: str
    server: ServerProcess

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's result list (raises on an error answer)."""
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        with urllib.request.urlopen(url, timeout=10) as response:
            answer = json.loads(response.read())
        assert answer["status"] == "success", answer
        return answer["data"]["result"]

    def wait_for(self, expr: str, *, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Poll an instant query until it returns a sample."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.server.check_alive()
            found = self.query(expr)
            if found:
                return found
            time.sleep(0.25)
        raise AssertionError(f"{expr} returned nothing within {timeout} s")


@contextlib.contextmanager
def prometheus_running(*, targets: Sequence[str], tmp: Path) -> Iterator[Prometheus]:
    """Prometheus scraping `targets` (host:port, path /metrics, job mlmonitor) every second."""
    binary = required_tool("prometheus")
    port = free_port()
    config = {
        "global": {"scrape_interval": f"{SCRAPE_SECONDS}s", "evaluation_interval": f"{SCRAPE_SECONDS}s"},
        "scrape_configs": [{"job_name": "mlmonitor", "static_configs": [{"targets": list(targets)}]}],
    }
    (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
    args = [
        binary,
        f"--config.file={tmp / 'prometheus.yml'}",
        f"--storage.tsdb.path={tmp / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    with running(args, name="prometheus", log_path=tmp / "prometheus.log", cwd=tmp) as server:
        wait_for_http(port, "/-/ready", timeout=30, server=server)
        yield Prometheus(url=f"http://127.0.0.1:{port}", server=server)


@dataclass
class Alertmanager:
    """A running Alertmanager."""

    url: str
    server: ServerProcess

    def alert_post(self, *, labels: dict[str, str], annotations: dict[str, str], minutes: int = 30) -> None:
        """Post one alert as Prometheus would (POST /api/v2/alerts), active for `minutes`."""
        now = datetime.now(UTC)
        body = [
            {
                "labels": labels,
                "annotations": annotations,
                "startsAt": (now - timedelta(minutes=2)).isoformat(),
                "endsAt": (now + timedelta(minutes=minutes)).isoformat(),
                "generatorURL": "http://127.0.0.1/graph",
            }
        ]
        request = urllib.request.Request(f"{self.url}/api/v2/alerts", data=json.dumps(body).encode(), method="POST")
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200

    def wait_for_alerts(self, count: int, *, timeout: float = 10.0) -> None:
        """Until the API lists `count` active alerts."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with urllib.request.urlopen(f"{self.url}/api/v2/alerts?active=true", timeout=5) as response:
                if len(json.loads(response.read())) >= count:
                    return
            time.sleep(0.1)
        raise AssertionError(f"Alertmanager did not list {count} alerts within {timeout} s")


@contextlib.contextmanager
def alertmanager_running(*, tmp: Path) -> Iterator[Alertmanager]:
    """Alertmanager with one receiver that notifies nobody, no clustering."""
    binary = required_tool("prometheus-alertmanager", package="prometheus-alertmanager")
    port = free_port()
    config = {"route": {"receiver": "nowhere"}, "receivers": [{"name": "nowhere"}]}
    (tmp / "alertmanager.yml").write_text(yaml.safe_dump(config))
    args = [
        binary,
        f"--config.file={tmp / 'alertmanager.yml'}",
        f"--storage.path={tmp / 'alertmanager'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
    ]
    with running(args, name="alertmanager", log_path=tmp / "alertmanager.log", cwd=tmp) as server:
        wait_for_http(port, "/-/ready", timeout=30, server=server)
        yield Alertmanager(url=f"http://127.0.0.1:{port}", server=server)
