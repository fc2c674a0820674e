"""Several web instances and Celery workers behind one Prometheus: two gunicorns on two ports and two Celery workers
against one database (the suite's PostgreSQL server, else a SQLite file) and one Redis, scraped by Debian's
Prometheus as two targets of one job, evaluating the generated rules.

Request counts add up exactly across the instances; drift and accuracy, which every instance reads from the database,
are not doubled (the aggregated value equals each instance's own); the generated rules fire one alert per model
(and feature), as with one instance, never one per instance.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sklearn.datasets import load_iris

from tests.servers import (
    LOOPBACK,
    ServerProcess,
    command_run,
    free_port,
    process_start,
    required_tool,
    wait_for_http,
)

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SENT = {"a": 37, "b": 53}  # successful single-row predictions per instance after the first scrape
ERRORS = {"a": 6, "b": 4}  # rejected requests (wrong feature count): counted as errors of iris


def http(url: str, body: Any = None, *, token: str = "") -> tuple[int, Any]:
    """GET or POST JSON on loopback; (status, decoded body)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def wait_until(check: Callable[[], Any], *, what: str, servers: list[ServerProcess], timeout: float = 45) -> Any:
    """Poll until `check` returns something truthy; fail with the servers' logs otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for server in servers:
            server.check_alive()
        with contextlib.suppress(OSError, ValueError, KeyError):
            value = check()
            if value:
                return value
        time.sleep(0.25)
    logs = "\n".join(f"--- {s.name} ---\n{s.log_tail(2000)}" for s in servers)
    pytest.fail(f"timed out waiting for {what}\n{logs}")


@contextlib.contextmanager
def shared_database(tmp_path: Path) -> Iterator[str]:
    """A fresh database for the instances: on the suite's PostgreSQL server when it uses one, else a SQLite file."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        yield f"sqlite:///{tmp_path / 'shared.sqlite3'}"
        return
    import psycopg

    name = f"mlmonitor_hosts_{os.getpid()}"
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {name}")
    try:
        yield url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def several_hosts(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Two gunicorns (a, b), two Celery workers and Prometheus, on one database and one Redis; stopped at the end."""
    prometheus = required_tool("prometheus")
    broker = os.environ.get("CELERY_BROKER_URL") or os.environ.get("REDIS_URL")
    if not broker:
        pytest.fail("Redis is needed (scripts/test.sh starts one)")
    servers: list[ServerProcess] = []
    with shared_database(tmp_path) as database_url:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(
                ("DJANGO_", "GUNICORN_", "WEB_", "GRANIAN_", "PROMETHEUS_", "DATABASE_", "ALERT", "METRICS_", "GPU_")
            )
        }
        env.update(
            DJANGO_SETTINGS_MODULE="mlmonitor.settings.base",
            SECRET_KEY="several-hosts-test",
            DATABASE_URL=database_url,
            REDIS_URL=broker,
            CELERY_BROKER_URL=broker,
            MEDIA_ROOT=str(tmp_path / "media"),
            STATIC_ROOT=str(tmp_path),
            GPU_METRICS_ENABLED="0",
            METRICS_COLLECTOR_CACHE_SECONDS="0",
            ALERT_RULES_DIR=str(tmp_path / "rules"),
            ALERTMANAGER_CONFIG_PATH=str(tmp_path / "alertmanager.yml"),
            ALERTMANAGER_SECRETS_DIR=str(tmp_path / "secrets"),
            ALERT_WEBHOOK_TOKEN_FILE=str(tmp_path / "secrets" / "webhook_token"),
            PROMETHEUS_URL=f"http://{LOOPBACK}:{free_port()}",  # nobody: the rules are loaded when Prometheus starts
            ALERTMANAGER_URL=f"http://{LOOPBACK}:{free_port()}",
            LOG_LEVEL="WARNING",
            PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        )
        python = sys.executable
        command_run([python, "manage.py", "migrate", "--noinput", "-v", "0"], env=env, cwd=REPO)
        # One Django start for the rest: the demo model, the drift and error-rate rules firing at once (for: 0s),
        # the rules file written, and a token for feedback and drift runs.
        setup = (
            "from django.contrib.auth import get_user_model\n"
            "from django.core.management import call_command\n"
            "from rest_framework.authtoken.models import Token\n"
            "from alerts_config.models import Threshold\n"
            "from alerts_config.services import alerting_publish, threshold_update\n"
            "call_command('load_demo', verbosity=0)\n"
            "for kind in ('feature_drift', 'error_rate'):\n"
            "    threshold_update(threshold=Threshold.objects.get(kind=kind, model=None), for_duration='0s')\n"
            "assert alerting_publish(reload=False).ok\n"
            "user, _ = get_user_model().objects.get_or_create(username='feeder')\n"
            "print(Token.objects.get_or_create(user=user)[0].key)\n"
        )
        token = command_run([python, "manage.py", "shell", "-c", setup], env=env, cwd=REPO).strip().splitlines()[-1]
        ports = {"a": free_port(), "b": free_port()}
        prometheus_port = free_port()
        try:
            for name, port in ports.items():
                web_env = {
                    **env,
                    "WEB_BIND": f"{LOOPBACK}:{port}",
                    "WEB_WORKERS": "1",
                    "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / f"multiproc-{name}"),
                }
                servers.append(
                    process_start(
                        [str(BIN / "gunicorn"), "-c", "mlmonitor/gunicorn.conf.py", "--no-control-socket"],
                        name=f"web-{name}",
                        log_path=tmp_path / f"web-{name}.log",
                        env=web_env,
                        cwd=REPO,
                    )
                )
            command_run([str(BIN / "celery"), "-A", "mlmonitor", "purge", "-f"], env=env, cwd=REPO)
            worker_args = [str(BIN / "celery"), "-A", "mlmonitor", "worker", "-l", "info", "--pool", "solo"]
            worker_args += ["--without-gossip", "--without-mingle"]
            for name in ("w1", "w2"):
                servers.append(
                    process_start(
                        [*worker_args, "-n", f"{name}-{os.getpid()}@%h"],
                        name=f"worker-{name}",
                        log_path=tmp_path / f"worker-{name}.log",
                        env=env,
                        cwd=REPO,
                    )
                )
            config = {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(tmp_path / "rules" / "*.rules.yml")],
                "scrape_configs": [
                    {
                        "job_name": "mlmonitor",
                        "static_configs": [{"targets": [f"{LOOPBACK}:{port}" for port in ports.values()]}],
                    }
                ],
            }
            (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
            servers.append(
                process_start(
                    [
                        prometheus,
                        f"--config.file={tmp_path / 'prometheus.yml'}",
                        f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                        f"--web.listen-address={LOOPBACK}:{prometheus_port}",
                    ],
                    name="prometheus",
                    log_path=tmp_path / "prometheus.log",
                    cwd=tmp_path,
                )
            )
            for server, port in zip(servers[:2], ports.values(), strict=True):
                wait_for_http(port, "/healthz", timeout=60, server=server)
            wait_for_http(prometheus_port, "/-/ready", timeout=30, server=servers[-1])
            for worker in servers[2:4]:
                wait_until(lambda w=worker: "ready." in w.log_tail(20000), what=f"{worker.name}", servers=servers)
            yield {
                "urls": {name: f"http://{LOOPBACK}:{port}" for name, port in ports.items()},
                "prometheus": f"http://{LOOPBACK}:{prometheus_port}",
                "token": token,
                "servers": servers,
            }
        finally:
            for server in reversed(servers):
                server.stop()


def query(stack: dict[str, Any], expr: str) -> list[tuple[dict[str, str], float]]:
    """An instant query: (labels, value) of each sample."""
    url = f"{stack['prometheus']}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    _, answer = http(url)
    assert answer["status"] == "success", answer
    return [(sample["metric"], float(sample["value"][1])) for sample in answer["data"]["result"]]


def one(stack: dict[str, Any], expr: str) -> float:
    """The value of a query that must return exactly one sample."""
    samples = query(stack, expr)
    assert len(samples) == 1, (expr, samples)
    return samples[0][1]


def test_counts_add_up_gauges_are_not_doubled_and_rules_fire_once(several_hosts: dict[str, Any]) -> None:
    """37 + 53 predictions and 6 + 4 rejected requests to two instances, labels for ten, a drift run on a Celery
    worker: the summed request counters are exactly what was sent (and per instance what each got); accuracy and
    drift scores aggregated over the instances equal each instance's own value; HighErrorRate and
    DataDriftDetected fire one alert per model and feature, without an instance label."""
    stack, servers = several_hosts, several_hosts["servers"]
    rows = load_iris().data.round(2).tolist()
    # given: every series exists and has been scraped once, so rate() and increase() see all that follows
    for name, url in stack["urls"].items():
        assert http(f"{url}/predict", {"features": rows[0]})[0] == 200
        assert http(f"{url}/predict", {"features": [1.0]})[0] == 400
    wait_until(
        lambda: len(query(stack, 'ml_prediction_requests_total{model_name="iris"}')) == 4,
        what="both instances' counters scraped",
        servers=servers,
    )
    # when: traffic split unevenly, then labels, then shifted traffic and a drift run queued through instance b
    answers = []
    for name, url in stack["urls"].items():
        for index in range(SENT[name]):
            status, body = http(f"{url}/api/v1/models/iris/predict", {"features": rows[(index * 7) % len(rows)]})
            assert status == 200, body
            answers.append(body)
        for _ in range(ERRORS[name]):
            assert http(f"{url}/predict", {"features": [1.0, 2.0]})[0] == 400
    labels = [{"prediction_id": a["prediction_id"], "label": a["prediction"]} for a in answers[:10]]
    for item in labels[:3]:
        item["label"] = "setosa" if item["label"] != "setosa" else "virginica"  # three wrong: accuracy 0.7
    assert http(f"{stack['urls']['a']}/api/v1/feedback", labels, token=stack["token"])[0] in (200, 201)
    shifted = [[a, b, c + 3.0, d + 3.0] for a, b, c, d in rows]
    assert http(f"{stack['urls']['b']}/api/v1/models/iris/predict", {"instances": shifted})[0] == 200
    status, queued = http(f"{stack['urls']['b']}/api/v1/models/iris/drift/run", {}, token=stack["token"])
    assert status == 202, queued
    drift = wait_until(
        lambda: (d := http(f"{stack['urls']['a']}/api/v1/models/iris/drift")[1]) and d.get("features") and d,
        what="the drift run computed by a worker",
        servers=servers,
    )
    drifted = {f["feature"]: f for f in drift["features"] if f["drifted"]}
    assert set(drifted) == {"petal_length", "petal_width"}
    wait_until(
        lambda: (
            (alerts := http(f"{stack['prometheus']}/api/v1/alerts")[1]["data"]["alerts"])
            and {a["labels"]["alertname"] for a in alerts if a["state"] == "firing"}
            >= {"HighErrorRate", "DataDriftDetected"}
            and alerts
        ),
        what="the generated rules to fire",
        servers=servers,
    )
    time.sleep(2.5)  # a few more scrapes and evaluations, so every instance's latest values are in

    # then: counters add up exactly, and per instance each got what it was sent
    success = 'ml_prediction_requests_total{model_name="iris",status="success"}'
    total_success = sum(SENT.values()) + 2 + 1  # + the first request of each instance + the shifted batch request
    assert one(stack, f"sum({success})") == total_success
    per_instance = {labels["instance"]: value for labels, value in query(stack, success)}
    ports = {name: url.rsplit("/", 1)[-1] for name, url in stack["urls"].items()}
    assert per_instance == {ports["a"]: SENT["a"] + 1, ports["b"]: SENT["b"] + 2}
    errors = 'ml_prediction_requests_total{model_name="iris",status="error"}'
    assert one(stack, f"sum({errors})") == sum(ERRORS.values()) + 2
    assert one(stack, "sum(ml_prediction_rows_total)") == total_success - 1 + len(shifted)

    # then: database-read gauges: one series per instance, equal; the aggregation of rules and dashboards gives it once
    accuracy = 'ml_model_accuracy{model_name="iris",model_version="1"}'
    assert [value for _, value in query(stack, accuracy)] == [0.7, 0.7]
    assert one(stack, f"max by (model_name, model_version) ({accuracy})") == 0.7
    score = 'ml_feature_drift_score{model_name="iris",feature_name="petal_length"}'
    assert [value for _, value in query(stack, score)] == [drifted["petal_length"]["score"]] * 2
    assert one(stack, f"max by (model_name, feature_name) ({score})") == drifted["petal_length"]["score"]
    features_drifted_now = (
        'sum by (model_name) (max by (model_name, feature_name) (ml_feature_drifted{model_name=~"iris"}))'
    )
    assert one(stack, features_drifted_now) == 2
    assert one(stack, 'max by (model_name) (ml_drift_job_runs_total{model_name="iris"})') == 1

    # then: each rule fires once per model (and feature), as with one instance
    alerts = [a for a in http(f"{stack['prometheus']}/api/v1/alerts")[1]["data"]["alerts"] if a["state"] == "firing"]
    error_alerts = [a["labels"] for a in alerts if a["labels"]["alertname"] == "HighErrorRate"]
    drift_alerts = [a["labels"] for a in alerts if a["labels"]["alertname"] == "DataDriftDetected"]
    assert error_alerts == [{"alertname": "HighErrorRate", "model_name": "iris", "severity": "critical"}]
    assert sorted(labels["feature_name"] for labels in drift_alerts) == ["petal_length", "petal_width"]
    assert all("instance" not in labels for labels in drift_alerts + error_alerts)
