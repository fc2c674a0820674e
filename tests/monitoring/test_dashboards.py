"""Grafana dashboards: their structure, and every panel query run against a real Prometheus that scraped the app.

The slow test starts the web server (granian, two workers, a temporary SQLite database with the demo model) and Debian's
`prometheus` on free loopback ports, sends demo traffic and labels, computes drift twice, lets Prometheus scrape
every second, then evaluates each panel's PromQL with the template variables filled in.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.promql_aggregation import aggregation_problems

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD_DIR = ROOT / "monitoring" / "grafana" / "dashboards"
DATASOURCES_FILE = ROOT / "monitoring" / "grafana" / "provisioning" / "datasources" / "prometheus.yml"

# Queries allowed to return nothing, with the reason. Everything else must return at least one finite sample.
MAY_BE_EMPTY = {
    "ml_gpu_utilization_percent": "GPU series are absent (not zero) on a host without an NVIDIA GPU",
    "ml_gpu_memory_used_bytes": "GPU series are absent (not zero) on a host without an NVIDIA GPU",
    "ml_gpu_memory_total_bytes": "GPU series are absent (not zero) on a host without an NVIDIA GPU",
}

# Grafana's values for the template variables: one concrete selection, and "All" (allValue ".+").
SELECTIONS = {
    "iris": {"model": "iris", "version": "1"},
    "all": {"model": ".+", "version": ".+"},
}
GRAFANA_INTERVALS = {"__rate_interval": "1m", "__interval": "15s", "__range": "5m"}


# ----------------------------------------------------------------------------------------- dashboard helpers
def dashboards() -> dict[str, dict[str, Any]]:
    """Every committed dashboard by file name."""
    return {path.name: json.loads(path.read_text()) for path in sorted(DASHBOARD_DIR.glob("*.json"))}


def panels_walk(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every panel, including the ones nested in (collapsed) rows."""
    for panel in panels:
        yield panel
        yield from panels_walk(panel.get("panels", []))


def provisioned_datasource_uid() -> str:
    """The uid of the provisioned Prometheus datasource."""
    config = yaml.safe_load(DATASOURCES_FILE.read_text())
    (uid,) = [source["uid"] for source in config["datasources"] if source["type"] == "prometheus"]
    return uid


def expr_fill(expr: str, values: dict[str, str]) -> str:
    """Substitute Grafana's variables ($name, ${name}, [[name]]) the way Grafana does before querying."""
    everything = {**GRAFANA_INTERVALS, **values}

    def value_of(match: re.Match[str]) -> str:
        name = next(group for group in match.groups() if group)
        return everything[name]

    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]", value_of, expr)


@dataclass(frozen=True)
class PanelQuery:
    """One query of a dashboard: where it comes from and its PromQL."""

    dashboard: str
    panel: str
    ref: str
    expr: str
    instant: bool


def panel_queries() -> list[PanelQuery]:
    """Every target of every panel, and every Prometheus annotation query."""
    queries = []
    for name, board in dashboards().items():
        for panel in panels_walk(board["panels"]):
            for target in panel.get("targets", []):
                queries.append(
                    PanelQuery(name, panel["title"], target["refId"], target["expr"], bool(target.get("instant")))
                )
        for annotation in board.get("annotations", {}).get("list", []):
            if "expr" in annotation:
                queries.append(PanelQuery(name, f"annotation {annotation['name']}", "-", annotation["expr"], True))
    return queries


# ----------------------------------------------------------------------------------------- structure (fast)
def test_dashboards_have_stable_unique_uids_and_no_import_inputs() -> None:
    """Four dashboards, each with a fixed unique uid, id null, a schemaVersion, and nothing for the import wizard."""
    # given
    boards = dashboards()
    # then
    assert set(boards) == {"model-performance.json", "latency.json", "drift.json", "system.json"}
    uids = [board["uid"] for board in boards.values()]
    assert len(set(uids)) == len(uids)
    for name, board in boards.items():
        assert re.fullmatch(r"[a-z0-9-]{1,40}", board["uid"]), name
        assert board["id"] is None, name
        assert isinstance(board["schemaVersion"], int) and board["schemaVersion"] >= 36, name
        assert "__inputs" not in board and "__requires" not in board, name
        assert "${DS_" not in (DASHBOARD_DIR / name).read_text(), name


def test_every_panel_points_at_the_provisioned_datasource() -> None:
    """Each panel, target and template variable names the provisioned Prometheus datasource by its uid."""
    # given
    uid = provisioned_datasource_uid()
    # then
    for name, board in dashboards().items():
        for panel in panels_walk(board["panels"]):
            if panel["type"] == "row":
                continue
            assert panel["datasource"] == {"type": "prometheus", "uid": uid}, (name, panel["title"])
            assert panel["targets"], (name, panel["title"])
            for target in panel["targets"]:
                assert target["datasource"] == {"type": "prometheus", "uid": uid}, (name, panel["title"])
        for variable in board["templating"]["list"]:
            assert variable["datasource"] == {"type": "prometheus", "uid": uid}, (name, variable["name"])


def test_panels_are_laid_out_on_the_grid_with_unique_ids() -> None:
    """Panel ids are unique per dashboard and every panel fits the 24-column grid without overlapping another."""
    for name, board in dashboards().items():
        panels = list(panels_walk(board["panels"]))
        ids = [panel["id"] for panel in panels]
        assert len(set(ids)) == len(ids), name
        cells: set[tuple[int, int]] = set()
        for panel in panels:
            grid = panel["gridPos"]
            assert grid["x"] >= 0 and grid["w"] > 0 and grid["x"] + grid["w"] <= 24, (name, panel["title"])
            mine = {
                (x, y) for x in range(grid["x"], grid["x"] + grid["w"]) for y in range(grid["y"], grid["y"] + grid["h"])
            }
            assert not cells & mine, (name, panel["title"])
            cells |= mine


def test_every_dashboard_has_the_model_and_version_variables() -> None:
    """`model` lists model names and `version` the versions of the selected models, both from ml_model_info."""
    for name, board in dashboards().items():
        variables = {variable["name"]: variable for variable in board["templating"]["list"]}
        assert variables["model"]["query"] == "label_values(ml_model_info, model_name)", name
        assert variables["version"]["query"] == 'label_values(ml_model_info{model_name=~"$model"}, model_version)', name
        for variable in variables.values():
            assert variable["multi"] and variable["includeAll"] and variable["allValue"] == ".+", (name, variable)


def test_dashboards_cover_what_the_issue_lists() -> None:
    """The panels asked for are there: request, error, accuracy, F1, coverage, confidence, classes; p50/p95/p99,
    batch size, in-flight; drift per feature with thresholds, drifted table, prediction drift, dataset share, run
    age; GPU, model memory, drift jobs, django HTTP and DB."""
    # given
    exprs = {name: " ".join(q.expr for q in panel_queries() if q.dashboard == name) for name in dashboards()}
    # then
    for needle in (
        "ml_prediction_requests_total",
        'status="error"',
        "ml_model_accuracy",
        "ml_model_f1_score",
        "ml_model_label_coverage",
        "histogram_quantile(0.1, sum by (model_name, le) (rate(ml_model_confidence_bucket",
        "ml_prediction_distribution_total",
    ):
        assert needle in exprs["model-performance.json"], needle
    for needle in ("histogram_quantile(0.99", "ml_batch_size_bucket", "django_http_requests_before_middlewares_total"):
        assert needle in exprs["latency.json"], needle
    for needle in (
        "ml_feature_drift_score",
        "ml_feature_drift_threshold",
        "ml_feature_drifted",
        "ml_prediction_drift_score",
        "ml_dataset_drift_share",
        "time() - max by (model_name) (ml_drift_last_run_timestamp_seconds",
    ):
        assert needle in exprs["drift.json"], needle
    for needle in (
        "ml_gpu_utilization_percent",
        "ml_gpu_memory_used_bytes",
        "ml_model_memory_bytes",
        "ml_drift_job_duration_seconds_bucket",
        "ml_drift_job_failures_total",
        "django_http_responses_total_by_status_view_method_total",
        "django_db_query_duration_seconds_bucket",
    ):
        assert needle in exprs["system.json"], needle


def test_every_query_aggregates_across_web_instances() -> None:
    """With several web instances scraped (docker compose --scale web=N), no panel doubles or splits a value:
    database-read metrics go through max/min/avg by, request counters through sum of rate()/increase()."""
    problems = [
        f"{query.dashboard} / {query.panel}: {problem}"
        for query in panel_queries()
        for problem in aggregation_problems(query.expr)
    ]
    assert problems == [], "\n".join(problems)


def test_variable_substitution_follows_grafana_syntax() -> None:
    """$name, ${name} and [[name]] are all replaced; the intervals get Grafana's values at a 15 s scrape."""
    assert expr_fill('rate(x{a=~"$model",b=~"${version}",c="[[model]]"}[$__rate_interval])', SELECTIONS["iris"]) == (
        'rate(x{a=~"iris",b=~"1",c="iris"}[1m])'
    )


# ----------------------------------------------------------------------------------------- real servers (slow)
def port_free() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_json(url: str, body: Any = None, *, token: str | None = None, timeout: float = 10) -> tuple[int, Any]:
    """GET (or POST JSON) and decode the JSON answer."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="GET" if body is None else "POST")
    if body is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def wait_until(check: Callable[[], bool], *, timeout: float, what: str, process: subprocess.Popen[bytes]) -> None:
    """Poll `check` until it holds; fail with the process' log when it exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{what}: the process exited with {process.returncode}")
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.25)
    raise AssertionError(f"{what}: not within {timeout} s")


def process_group_stop(process: subprocess.Popen[bytes], *, grace: float = 15) -> None:
    """SIGTERM the process (the leader of its own group), then SIGKILL whatever of the group is left."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    process.wait()


def manage(env: dict[str, str], *args: str) -> str:
    """Run a manage.py command against the temporary database; its stdout."""
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"manage.py {args[0]} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def render_module() -> Any:
    """scripts/monitoring_config_render.py, imported by path."""
    spec = importlib.util.spec_from_file_location(
        "monitoring_config_render", ROOT / "scripts" / "monitoring_config_render.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class Stack:
    """The running app and Prometheus."""

    app_url: str
    prometheus_url: str
    token: str

    def query(self, expr: str) -> dict[str, Any]:
        """An instant query; the whole API answer."""
        url = f"{self.prometheus_url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        return http_json(url)[1]

    def query_range(self, expr: str, seconds: int = 30) -> dict[str, Any]:
        """A range query over the last seconds, one step a second."""
        now = time.time()
        params = {"query": expr, "start": now - seconds, "end": now, "step": "1"}
        return http_json(f"{self.prometheus_url}/api/v1/query_range?" + urllib.parse.urlencode(params))[1]

    def has_data(self, expr: str) -> bool:
        """The instant query returns at least one sample."""
        answer = self.query(expr)
        return answer["status"] == "success" and bool(answer["data"]["result"])


def traffic_send(stack: Stack, rows: list[list[float]], *, shift_petal_length: float) -> None:
    """A bounded burst: single predictions on both paths, one batch, a few bad requests, labels for the singles."""
    labelled = []
    for index, row in enumerate(rows[:20]):
        path = "/predict" if index % 2 else "/api/v1/models/iris/predict"
        status, body = http_json(stack.app_url + path, {"features": row})
        assert status == 200, body
        labelled.append({"prediction_id": body["prediction_id"], "label": body["prediction"]})
    shifted = [[a, b, c + shift_petal_length, d] for a, b, c, d in rows]
    status, body = http_json(stack.app_url + "/api/v1/models/iris/predict", {"instances": shifted})
    assert status == 200, body
    for _ in range(3):
        status, _body = http_json(stack.app_url + "/api/v1/models/iris/predict", {"features": [1.0, 2.0]})
        assert status == 400
    labelled[0]["label"] = "virginica" if labelled[0]["label"] != "virginica" else "setosa"  # one wrong answer
    status, body = http_json(stack.app_url + "/api/v1/feedback", labelled, token=stack.token)
    assert status in (200, 201), body


@pytest.fixture(scope="module")
def scraped_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The web server + Prometheus (scraping every second) after two rounds of traffic and two drift runs."""
    prometheus_binary = shutil.which("prometheus")
    if prometheus_binary is None:
        pytest.skip("Debian's prometheus is not installed (scripts/ensure_system.sh installs it)")
    tmp = tmp_path_factory.mktemp("dashboards")
    app_port, prometheus_port = port_free(), port_free()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "GUNICORN_", "WEB_", "GRANIAN_", "PROMETHEUS_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="mlmonitor.settings.base",
        DJANGO_DEBUG="0",
        SECRET_KEY="dashboard-test-only",
        DATABASE_URL=f"sqlite:///{tmp / 'db.sqlite3'}",
        MEDIA_ROOT=str(tmp / "media"),
        STATIC_ROOT=str(tmp / "static"),
        METRICS_COLLECTOR_CACHE_SECONDS="0",
        ALERT_RULES_DIR=str(tmp / "rules"),
        ALERTMANAGER_CONFIG_PATH=str(tmp / "alertmanager.yml"),
        ALERTMANAGER_SECRETS_DIR=str(tmp / "secrets"),
        ALERT_WEBHOOK_TOKEN_FILE=str(tmp / "secrets" / "webhook_token"),
        # Generated rules would be reloaded into this test's Prometheus, never into one running on 9090.
        PROMETHEUS_URL=f"http://127.0.0.1:{prometheus_port}",
        ALERTMANAGER_URL=f"http://127.0.0.1:{port_free()}",
    )
    manage(env, "migrate", "--noinput", "-v", "0")
    manage(env, "load_demo")
    subprocess.run(
        [sys.executable, "scripts/auth_bootstrap.py", "--username", "feeder", "--token-file", str(tmp / "token")],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=60,
    )
    stack = Stack(
        f"http://127.0.0.1:{app_port}", f"http://127.0.0.1:{prometheus_port}", (tmp / "token").read_text().strip()
    )

    render = render_module()
    config = render.prometheus_config_render(
        yaml.safe_load(render.PROMETHEUS_SOURCE.read_text()),
        targets={"web:8000": f"127.0.0.1:{app_port}", "prometheus:9090": f"127.0.0.1:{prometheus_port}"},
        rules_dir=tmp / "rules",
        scrape_interval="1s",
    )
    (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))

    web_env = {
        **env,
        "WEB_BIND": f"127.0.0.1:{app_port}",
        "WEB_WORKERS": "2",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp / "multiproc"),
    }
    with open(tmp / "web.log", "wb") as web_log, open(tmp / "prometheus.log", "wb") as prometheus_log:
        web = subprocess.Popen(
            [sys.executable, "-m", "mlmonitor.serve"],  # granian, as make run starts it
            cwd=ROOT,
            env=web_env,
            stdout=web_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        prometheus = subprocess.Popen(
            [
                prometheus_binary,
                f"--config.file={tmp / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{prometheus_port}",
                "--web.enable-lifecycle",
            ],
            cwd=tmp,
            stdout=prometheus_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_until(
                lambda: http_json(stack.app_url + "/healthz")[0] == 200, timeout=60, what="the web server", process=web
            )
            wait_until(
                lambda: urllib.request.urlopen(stack.prometheus_url + "/-/ready", timeout=2).status == 200,
                timeout=30,
                what="prometheus",
                process=prometheus,
            )
            wait_until(lambda: stack.has_data('up{job="mlmonitor"} == 1'), timeout=20, what="first scrape", process=web)

            from sklearn.datasets import load_iris

            rows = load_iris().data[::5].round(2).tolist()  # 30 rows across the three classes
            batch = rows * 4  # 120 rows: more than the drift runs' minimum window
            drift = (
                "from drift.services import drift_run_compute; from predictions.models import MLModel; "
                "drift_run_compute(model_id=MLModel.objects.get(name='iris').pk)"
            )
            traffic_send(stack, batch, shift_petal_length=0.0)
            manage(env, "shell", "-c", drift)
            wait_until(
                lambda: stack.has_data("ml_drift_last_run_timestamp_seconds") and stack.has_data("ml_model_accuracy"),
                timeout=20,
                what="the first round scraped",
                process=web,
            )
            traffic_send(stack, batch, shift_petal_length=3.0)  # petal_length drifts
            manage(env, "shell", "-c", drift)
            wait_until(
                lambda: stack.has_data("ml_drift_job_runs_total >= 2"),
                timeout=20,
                what="the second round scraped",
                process=web,
            )
            time.sleep(2.5)  # a few more scrapes, so every rate() has samples after the second round
            yield stack
        finally:
            process_group_stop(web)
            process_group_stop(prometheus)


@pytest.mark.slow
def test_template_variable_queries_list_the_demo_model(scraped_stack: Stack) -> None:
    """label_values() of `model` lists iris; of `version`, with iris selected, lists 1."""
    for board in dashboards().values():
        for variable in board["templating"]["list"]:
            # given
            match = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", variable["query"])
            assert match, variable["query"]
            selector, label = expr_fill(match.group(1), SELECTIONS["iris"]), match.group(2)
            # when
            answer = scraped_stack.query(f"count by ({label}) ({selector})")
            # then
            assert answer["status"] == "success", answer
            values = {sample["metric"][label] for sample in answer["data"]["result"]}
            assert {"model": "iris", "version": "1"}[variable["name"]] in values


@pytest.mark.slow
@pytest.mark.parametrize("selection", sorted(SELECTIONS))
def test_every_panel_query_parses_and_returns_data(scraped_stack: Stack, selection: str) -> None:
    """Each panel query, with the variables filled in, is valid PromQL and returns at least one finite sample
    (the queries in MAY_BE_EMPTY may return nothing, for the reason given there)."""
    problems = []
    for query in panel_queries():
        # given
        expr = expr_fill(query.expr, SELECTIONS[selection])
        where = f"{query.dashboard} / {query.panel} / {query.ref}: {expr}"
        # when
        answer = scraped_stack.query(expr)
        # then
        if answer.get("status") != "success":
            problems.append(f"does not parse: {where}: {answer.get('error')}")
            continue
        if not query.instant:
            ranged = scraped_stack.query_range(expr)
            if ranged.get("status") != "success":
                problems.append(f"range query fails: {where}: {ranged.get('error')}")
        if query.panel.startswith("annotation ") or any(name in expr for name in MAY_BE_EMPTY):
            continue
        values = [float(sample["value"][1]) for sample in answer["data"]["result"]]
        if not any(math.isfinite(value) for value in values):
            problems.append(f"no data: {where} -> {values}")
    assert not problems, "\n".join(problems)


@pytest.mark.slow
def test_drifted_features_table_would_list_the_shifted_feature(scraped_stack: Stack) -> None:
    """After traffic with petal_length shifted, the drifted-features query marks petal_length as drifted."""
    # when
    answer = scraped_stack.query('ml_feature_drifted{model_name="iris"} == 1')
    # then
    drifted = {sample["metric"]["feature_name"] for sample in answer["data"]["result"]}
    assert "petal_length" in drifted
