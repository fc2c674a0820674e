"""gunicorn with several workers (mlmonitor/gunicorn.conf.py): /metrics adds up every worker's counters exactly,
whichever worker answers the scrape."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import runpy
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.exposition import Exposition
from tests.servers import (
    LOOPBACK,
    ServerError,
    ServerProcess,
    command_run,
    free_port,
    http_get,
    promtool_check_metrics,
    running,
    wait_for_http,
)

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
REQUESTS = 200
CLIENTS = 8
WORKERS = 4
ROWS = [[5.1, 3.5, 1.4, 0.2], [6.2, 2.9, 4.3, 1.3], [7.7, 3.0, 6.1, 2.3], [5.8, 2.7, 5.1, 1.9]]


def server_env(tmp_path: Path) -> dict[str, str]:
    """A production-like environment: base settings, a fresh SQLite file, files under tmp_path."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(
            ("DJANGO_", "GUNICORN_", "WEB_", "GRANIAN_", "PROMETHEUS_", "DATABASE_", "API_", "METRICS_", "GPU_")
        )
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "mlmonitor.settings.base",
            "SECRET_KEY": "test",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
            "MEDIA_ROOT": str(tmp_path / "media"),
            "STATIC_ROOT": str(tmp_path / "static"),
            "GPU_METRICS_ENABLED": "0",
            "METRICS_COLLECTOR_CACHE_SECONDS": "0",
            "LOG_LEVEL": "WARNING",
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        }
    )
    return env


def workers_wait(directory: Path, *, server: ServerProcess, timeout: float = 60.0) -> None:
    """Wait until every worker has imported the app: each then has its own counter_<pid>.db (metrics defined at
    import time), so the requests that follow can spread over all of them."""
    deadline = time.monotonic() + timeout
    while len(list(directory.glob("counter_*.db"))) < WORKERS:
        server.check_alive()
        if time.monotonic() > deadline:
            raise ServerError(f"only {len(list(directory.glob('counter_*.db')))} of {WORKERS} workers started")
        time.sleep(0.1)


def predict_many(port: int, count: int, clients: int) -> list[str]:
    """POST `count` single-row predictions from `clients` threads, a new connection each; returns the failures."""
    failures: list[str] = []
    lock = threading.Lock()
    counter = iter(range(count))

    def client() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with lock:
                index = next(counter, None)
            if index is None:
                return
            body = json.dumps({"features": ROWS[index % len(ROWS)]})
            connection = http.client.HTTPConnection(LOOPBACK, port, timeout=30)
            try:
                connection.request("POST", "/predict", body, {"Content-Type": "application/json"})
                response = connection.getresponse()
                payload = response.read()
                if response.status != 200:
                    with lock:
                        failures.append(f"request {index}: {response.status} {payload[:300]!r}")
            except OSError as exc:
                with lock:
                    failures.append(f"request {index}: {type(exc).__name__}: {exc}")
            finally:
                connection.close()
        with lock:
            failures.append("client ran out of time")

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    return failures


def chunked_predict(port: int) -> tuple[int, str]:
    """POST one row with `Transfer-Encoding: chunked` (no Content-Length); (status, error code)."""
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=30)
    try:
        body = iter([json.dumps({"features": ROWS[0]}).encode()])
        connection.request("POST", "/predict", body, {"Content-Type": "application/json"}, encode_chunked=True)
        response = connection.getresponse()
        payload = json.loads(response.read())
        return response.status, payload["error"]["code"]
    finally:
        connection.close()


@pytest.mark.slow
@pytest.mark.parametrize("web_server", ["granian", "gunicorn"])
def test_counts_are_exact_across_four_workers(tmp_path: Path, web_server: str) -> None:
    """200 predictions over 8 concurrent clients to 4 workers of either server (`python -m mlmonitor.serve`): every
    scrape, whichever worker serves it, reports exactly 200 successful requests and 200 latency observations (in the
    ml_* series and in the HTTP series), the model info, and passes promtool; the prediction log holds exactly 200
    rows."""
    # given: a migrated SQLite database with the demo model, and the server as configured for production
    env = server_env(tmp_path)
    (tmp_path / "static").mkdir()  # whitenoise warns on every request about a missing STATIC_ROOT
    python = sys.executable
    command_run([python, "manage.py", "migrate", "--noinput", "-v", "0"], env=env, cwd=REPO)
    command_run([python, "manage.py", "load_demo"], env=env, cwd=REPO)
    port = free_port()
    args = [python, "-m", "mlmonitor.serve"]
    # Only the server gets the multiprocess directory (the launcher creates it empty), as in scripts/run.sh.
    server_environment = {
        **env,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus"),
        "WEB_SERVER": web_server,
        "WEB_WORKERS": str(WORKERS),
        "WEB_BIND": f"{LOOPBACK}:{port}",
    }
    log_path = tmp_path / f"{web_server}.log"
    with running(args, name=web_server, log_path=log_path, env=server_environment, cwd=REPO) as server:
        wait_for_http(port, "/healthz", timeout=60, server=server)
        workers_wait(tmp_path / "prometheus", server=server)
        # when
        failures = predict_many(port, REQUESTS, CLIENTS)
        chunked = chunked_predict(port)
        scrapes: list[Exposition] = []
        for _ in range(6):
            status, body = http_get(port, "/metrics")
            assert status == 200, body[:500]
            scrapes.append(Exposition.parse(body))
        # then
        assert failures == [], failures[:10]
        assert chunked == (411, "length_required"), "a chunked body must be refused, never read as empty"
        success: dict[str, Any] = {"model_name": "iris", "model_version": "1", "status": "success"}
        for metrics in scrapes:
            assert metrics.value("ml_prediction_requests_total", **success) == REQUESTS
            assert metrics.get("ml_prediction_requests_total", **{**success, "status": "error"}) == 0
            assert metrics.value("ml_prediction_latency_seconds_count", model_name="iris") == REQUESTS
            assert metrics.value("ml_batch_size_count", model_name="iris") == REQUESTS
            assert metrics.value("ml_model_info", model_name="iris", model_version="1", framework="sklearn") == 1
            distribution = sum(
                metrics.get("ml_prediction_distribution_total", **serie)
                for serie in metrics.series("ml_prediction_distribution_total")
            )
            assert distribution == REQUESTS
            # the HTTP series, recorded by the hot-path handler itself (mlmonitor/wsgi.py), as exact
            predicted = {"view": "seed-predict", "method": "POST"}
            answered = metrics.value(
                "django_http_responses_total_by_status_view_method_total", status="200", **predicted
            )
            assert answered == REQUESTS
            assert metrics.value("django_http_requests_latency_seconds_by_view_method_count", **predicted) == REQUESTS
        # Each process writes its own counter_<pid>.db: more than one holding prediction counts proves the summing.
        writers = [
            path.name
            for path in (tmp_path / "prometheus").glob("counter_*.db")
            if b"ml_prediction_requests" in path.read_bytes()
        ]
        assert len(writers) >= 2, f"all predictions went to one worker ({writers}): the test proves nothing"
        promtool_check_metrics(scrapes[-1].text.encode())
        server.check_alive()
    with contextlib.closing(sqlite3.connect(tmp_path / "db.sqlite3")) as database:
        assert database.execute("SELECT COUNT(*) FROM predictions_prediction").fetchone() == (REQUESTS,)


@pytest.fixture
def short_home() -> Iterator[Path]:
    """A home directory with a short path: a Unix socket's path has at most 107 bytes, and tmp_path's are long."""
    with tempfile.TemporaryDirectory(prefix="home-", dir="/tmp") as directory:
        yield Path(directory)


def control_command(socket_path: Path, command: str, env: dict[str, str]) -> dict[str, Any]:
    """Run one gunicornc command against a control socket; its JSON answer."""
    output = command_run([str(VENV_BIN / "gunicornc"), "-s", str(socket_path), "-c", command, "-j"], env=env)
    answer: dict[str, Any] = json.loads(output)
    return answer


def socket_wait(path: Path, *, server: ServerProcess, timeout: float = 60.0) -> None:
    """Wait until a control socket exists (gunicorn makes it once its first workers are spawned)."""
    deadline = time.monotonic() + timeout
    while not path.is_socket():
        server.check_alive()
        if time.monotonic() > deadline:
            raise ServerError(f"no control socket at {path}")
        time.sleep(0.1)


@pytest.mark.slow
def test_two_gunicorn_servers_each_keep_a_control_socket_of_their_own(tmp_path: Path, short_home: Path) -> None:
    """gunicorn's default control socket is one path per user (~/.gunicorn/gunicorn.ctl): a second server took it
    over and stopping either removed it. Each server's socket is now named after its address; both answer gunicornc
    while both run, and the first still answers after the second stops."""
    # given: the same user (one HOME) starts two gunicorn servers on two ports, without --control-socket
    home = short_home
    env = {key: value for key, value in server_env(tmp_path).items() if key != "XDG_RUNTIME_DIR"}
    env.update({"HOME": str(home), "WEB_SERVER": "gunicorn", "WEB_WORKERS": "1", "WEB_THREADS": "2"})
    ports = [free_port(), free_port()]
    conf = runpy.run_path(str(REPO / "mlmonitor" / "gunicorn.conf.py"))
    sockets = [
        Path(conf["control_socket_path"](str(home / ".gunicorn"), [f"http://{LOOPBACK}:{port}"])) for port in ports
    ]
    with contextlib.ExitStack() as stack:
        servers = [
            stack.enter_context(
                running(
                    [sys.executable, "-m", "mlmonitor.serve"],
                    name=f"gunicorn-{index}",
                    log_path=tmp_path / f"gunicorn-{index}.log",
                    env={**env, "WEB_BIND": f"{LOOPBACK}:{port}"},
                    cwd=REPO,
                )
            )
            for index, port in enumerate(ports)
        ]
        for path, server in zip(sockets, servers, strict=True):
            socket_wait(path, server=server)
        # when: both answer, then the second stops
        answers = [control_command(path, "show workers", env) for path in sockets]
        servers[1].stop()
        after = control_command(sockets[0], "show workers", env)
        # then: each socket reaches its own server; the first survives the second's exit
        worker_pids = [{worker["pid"] for worker in answer["workers"]} for answer in answers]
        assert all(len(pids) == 1 for pids in worker_pids) and worker_pids[0] != worker_pids[1], answers
        assert {worker["pid"] for worker in after["workers"]} == worker_pids[0]
        assert sockets[0].is_socket() and not sockets[1].exists()
        assert not (home / ".gunicorn" / "gunicorn.ctl").exists()
