"""The web server launcher (mlmonitor/serve.py) and the scrape-time cleanup of dead workers' live gauges."""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from mlmonitor.metrics import dead_processes_forget, process_alive
from mlmonitor.serve import (
    GRACEFUL_SECONDS,
    bind_split,
    multiprocess_directory_default,
    multiprocess_directory_reset,
    server_command,
)
from tests.mlmonitor.test_gunicorn import REPO, server_env
from tests.servers import LOOPBACK, command_run, free_port, http_get, wait_for_http


def test_granian_is_the_default_and_reads_the_web_variables() -> None:
    # when
    command = server_command({"WEB_BIND": "0.0.0.0:8123", "WEB_WORKERS": "3", "WEB_THREADS": "5"}, ["--http", "1"])
    # then
    assert command[:3] == [sys.executable, "-m", "granian"]
    options = dict(zip(command[3:-1:2], command[4:-1:2], strict=False))
    assert options["--interface"] == "wsgi" and options["--host"] == "0.0.0.0" and options["--port"] == "8123"
    assert options["--workers"] == "3" and options["--blocking-threads"] == "5"
    assert "--respawn-failed-workers" in command and "--access-log" not in command
    assert command[command.index("--workers-kill-timeout") + 1] == str(GRACEFUL_SECONDS)  # as gunicorn's graceful
    assert command[-3:] == ["--http", "1", "mlmonitor.wsgi:application"]


def test_granian_defaults_and_access_log() -> None:
    # when
    command = server_command({"WEB_ACCESSLOG": "1"})
    # then
    assert command[command.index("--host") + 1] == "127.0.0.1" and command[command.index("--port") + 1] == "8000"
    assert command[command.index("--workers") + 1] == "2" and command[command.index("--blocking-threads") + 1] == "8"
    assert "--access-log" in command


@pytest.mark.parametrize("blank", ["", "  "])
def test_web_variables_set_but_blank_take_their_defaults(blank: str) -> None:
    """A blank `WEB_WORKERS=` or `WEB_WORKERS= ` line in an env file is the default, for granian's command line and
    gunicorn's config; a blank WEB_ACCESSLOG leaves the access log off."""
    empty = dict.fromkeys(
        ("WEB_SERVER", "WEB_BIND", "WEB_WORKERS", "WEB_THREADS", "WEB_LOGLEVEL", "WEB_ACCESSLOG"), blank
    )
    # when
    command = server_command(empty)
    config = subprocess.run(
        [
            sys.executable,
            "-c",
            "import runpy; c = runpy.run_path('mlmonitor/gunicorn.conf.py'); "
            "print(c['bind'], c['workers'], c['threads'], c['loglevel'], c['keepalive'], c['timeout'], "
            "c['worker_class'], c['accesslog'])",
        ],
        cwd=REPO,
        env={
            "PATH": os.environ.get("PATH", ""),
            **empty,
            **dict.fromkeys(("GUNICORN_KEEPALIVE", "GUNICORN_TIMEOUT", "GUNICORN_WORKER_CLASS"), blank),
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    # then
    assert command[:3] == [sys.executable, "-m", "granian"]
    values = [command[command.index(option) + 1] for option in ("--host", "--port", "--workers", "--blocking-threads")]
    assert values == ["127.0.0.1", "8000", "2", "8"]
    assert command[command.index("--log-level") + 1] == "info" and "--access-log" not in command
    assert config.returncode == 0, config.stderr
    assert config.stdout.split() == ["127.0.0.1:8000", "2", "8", "info", "5", "60", "gthread", "None"]


def test_gunicorn_runs_with_the_project_config() -> None:
    # when
    command = server_command({"WEB_SERVER": "gunicorn"}, ["--control-socket", "/tmp/x.ctl"])
    # then
    assert command == [
        sys.executable,
        "-m",
        "gunicorn",
        "-c",
        "mlmonitor/gunicorn.conf.py",
        "--control-socket",
        "/tmp/x.ctl",
    ]


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"WEB_SERVER": "uwsgi"}, "WEB_SERVER must be one of granian, gunicorn"),
        ({"WEB_BIND": "8000"}, "WEB_BIND must be host:port"),
        ({"WEB_BIND": "localhost:http"}, "WEB_BIND must be host:port"),
        ({"WEB_BIND": ":8000"}, "WEB_BIND must be host:port"),
    ],
)
def test_bad_settings_are_refused_with_their_name(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        server_command(environ)


def test_ipv6_bind() -> None:
    assert bind_split("[::1]:8000") == ("::1", "8000")


def _launcher_run(**settings: str) -> subprocess.CompletedProcess[str]:
    """`python -m mlmonitor.serve` with these variables added to the environment, run to its end."""
    return subprocess.run(
        [sys.executable, "-m", "mlmonitor.serve"],
        env={**os.environ, **settings},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_launcher_exits_with_the_reason_for_bad_settings() -> None:
    # when
    done = _launcher_run(WEB_SERVER="nope")
    # then
    assert done.returncode == 1
    assert "WEB_SERVER must be one of granian, gunicorn, got 'nope'" in done.stderr


def test_the_launcher_exits_with_the_reason_for_a_metrics_directory_it_cannot_empty(tmp_path: Path) -> None:
    # given: a file where the directory should be
    (tmp_path / "prom").write_text("not a directory")
    # when
    done = _launcher_run(PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "prom"))
    # then
    assert done.returncode == 1
    assert "mlmonitor.serve: PROMETHEUS_MULTIPROC_DIR cannot be emptied" in done.stderr
    assert "Traceback" not in done.stderr


def test_multiprocess_directory_is_emptied_or_created(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A set directory is emptied or made; an unset or blank one is left alone (a blank one was made, named by the
    blank, in the working directory)."""
    # given
    monkeypatch.chdir(tmp_path)
    directory = tmp_path / "prom"
    directory.mkdir()
    (directory / "counter_123.db").write_bytes(b"old")
    # when
    multiprocess_directory_reset({"PROMETHEUS_MULTIPROC_DIR": str(directory)})
    multiprocess_directory_reset({"PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "new")})
    multiprocess_directory_reset({})
    multiprocess_directory_reset({"PROMETHEUS_MULTIPROC_DIR": " "})
    # then
    assert directory.is_dir() and list(directory.iterdir()) == []
    assert sorted(path.name for path in tmp_path.iterdir()) == ["new", "prom"]


def test_the_launcher_gives_the_workers_a_metrics_directory_where_none_is_set() -> None:
    """Without PROMETHEUS_MULTIPROC_DIR (unset or empty) every worker would count alone and each scrape show one
    worker's counts: the launcher makes a new private directory per start (two starts never share or empty one);
    a set one is kept."""
    # when
    made = [multiprocess_directory_default(environ) for environ in ({}, {"PROMETHEUS_MULTIPROC_DIR": ""})]
    made.append(multiprocess_directory_default({"PROMETHEUS_MULTIPROC_DIR": " "}))
    kept = multiprocess_directory_default({"PROMETHEUS_MULTIPROC_DIR": "/srv/prom"})
    # then
    try:
        assert len(set(made)) == 3 and kept == "/srv/prom"
        for directory in made:
            assert Path(directory).parent == Path(tempfile.gettempdir()) and Path(directory).is_dir()
            assert Path(directory).stat().st_mode & 0o777 == 0o700
    finally:
        for directory in made:
            shutil.rmtree(directory, ignore_errors=True)


_LIVE_GAUGE = """
import os, sys
from prometheus_client import Gauge
Gauge("test_live_bytes", "a live gauge", multiprocess_mode="livemax").set(float(sys.argv[1]))
print(os.getpid())
"""


def test_a_dead_workers_live_gauges_are_dropped_at_scrape_and_a_live_ones_kept(tmp_path: Path) -> None:
    # given: a process that wrote a live gauge and exited, and a live-gauge file of this (running) process
    environment = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", _LIVE_GAUGE, "7"], env=environment, capture_output=True, text=True, check=True
    )
    dead_pid = int(done.stdout)
    dead_file = tmp_path / f"gauge_livemax_{dead_pid}.db"
    assert dead_file.exists()
    own_file = tmp_path / f"gauge_livemax_{os.getpid()}.db"
    own_file.write_bytes(dead_file.read_bytes())
    counter_file = tmp_path / f"counter_{dead_pid}.db"
    counter_file.write_bytes(b"")
    # when
    forgotten = dead_processes_forget(str(tmp_path))
    # then
    assert forgotten == [dead_pid]
    assert not dead_file.exists() and own_file.exists()
    assert counter_file.exists(), "a dead worker's counts happened: its counter file stays"


@pytest.mark.slow
def test_granian_worker_killed_is_respawned_its_gauge_dropped_and_sigterm_exits_cleanly(tmp_path: Path) -> None:
    """Under granian (no child-exit hook): a worker killed with SIGKILL is replaced, the scrape drops its
    ml_model_memory_bytes (a livemax gauge) and keeps its counts, and SIGTERM stops every process with status 0."""
    # given: two granian workers that each served predictions (each loaded the model: a memory gauge per worker)
    directory = tmp_path / "prometheus"
    server, port, env, _ = _granian_with_demo(
        tmp_path, {"PROMETHEUS_MULTIPROC_DIR": str(directory), "WEB_WORKERS": "2"}
    )
    try:
        wait_for_http(port, "/healthz", timeout=60)
        deadline = time.monotonic() + 60
        while len(list(directory.glob("gauge_livemax_*.db"))) < 2 and time.monotonic() < deadline:
            command_run(
                [
                    "curl", "-s", "-o", "/dev/null", "-X", "POST", "-H", "Content-Type: application/json",
                    "-d", '{"features": [5.1, 3.5, 1.4, 0.2]}', f"http://{LOOPBACK}:{port}/predict",
                ],
                env=env,
                cwd=REPO,
            )  # fmt: skip
        gauges = {int(path.stem.rpartition("_")[2]) for path in directory.glob("gauge_livemax_*.db")}
        assert len(gauges) == 2, f"the predictions did not reach both workers: {gauges}"
        status, before = http_get(port, "/metrics")
        assert status == 200
        served = float(_value(before, 'ml_prediction_requests_total{model_name="iris",model_version="1"'))
        # when: one worker is killed
        victim = sorted(gauges)[0]
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 30
        after = b""
        while time.monotonic() < deadline:
            try:  # a connection the killed worker had accepted is reset
                status, after = http_get(port, "/metrics")
            except OSError:
                continue
            if status == 200 and not (directory / f"gauge_livemax_{victim}.db").exists():
                break
            time.sleep(0.2)
        # then
        assert not (directory / f"gauge_livemax_{victim}.db").exists(), "the dead worker's live gauge was kept"
        assert after.count(b'ml_model_memory_bytes{model_name="iris"}') == 1
        assert float(_value(after, 'ml_prediction_requests_total{model_name="iris",model_version="1"')) == served
        assert server.poll() is None
        # when: SIGTERM, once the replacement worker has imported the app (its own counter file)
        deadline = time.monotonic() + 60
        while len(list(directory.glob("counter_*.db"))) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        wait_for_http(port, "/healthz", timeout=30)
        server.send_signal(signal.SIGTERM)
        # then: it exits, with status 0, within the graceful period and a margin (without granian's
        # --workers-kill-timeout, the exit took more than 30 s in two full suite runs and more than 90 s in a third,
        # never alone: the cause is not known)
        assert server.wait(timeout=GRACEFUL_SECONDS + 30) == 0
        assert not [pid for pid in gauges - {victim} if _alive(pid)], "a worker outlived the server"
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)  # the server and its workers
            server.wait()


def _value(exposition: bytes, prefix: str) -> str:
    """The value of the first sample line starting with `prefix`."""
    for line in exposition.decode().splitlines():
        if line.startswith(prefix):
            return line.rsplit(" ", 1)[1]
    raise AssertionError(f"no sample {prefix!r}")


def _alive(pid: int) -> bool:
    """A process that exists and is not a zombie (an exited worker not yet reaped still answers signal 0)."""
    return process_alive(pid) and Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def test_granian_workers_survive_the_end_of_idle_threads_that_used_the_database(tmp_path: Path) -> None:
    """granian ends blocking threads idle for GRANIAN_BLOCKING_THREADS_IDLE_TIMEOUT seconds (5 here, 30 by default).
    Each had opened a SQLite connection; the worker must go on serving in the same process, and the connections of
    the ended threads are closed when new threads open theirs. (Closing them from the ending thread's local storage
    crashed both workers with a segfault in the interpreter about 30 s after every burst: seen in a fresh-clone
    trial, and here before the fix.)"""
    # given: one granian worker whose 8 threads each served predictions
    server, port, _, log_path = _granian_with_demo(
        tmp_path,
        {
            "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus"),
            "WEB_WORKERS": "1",
            "WEB_THREADS": "8",
            "GRANIAN_BLOCKING_THREADS_IDLE_TIMEOUT": "5",
        },
    )

    def burst() -> list[int]:
        with ThreadPoolExecutor(16) as pool:
            return list(pool.map(lambda _: _predict(port), range(160)))

    try:
        wait_for_http(port, "/healthz", timeout=60)
        workers = _children(server.pid)
        assert burst() == [200] * 160
        # when: the threads stay idle past the timeout, then requests come back
        time.sleep(12)
        statuses = burst()
        # then
        assert statuses == [200] * 160
        assert _children(server.pid) == workers, log_path.read_text()
        assert "Unexpected exit" not in log_path.read_text()
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def _predict(port: int) -> int:
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=30)
    try:
        body = b'{"features": [5.1, 3.5, 1.4, 0.2]}'
        connection.request("POST", "/predict", body, {"Content-Type": "application/json"})
        return connection.getresponse().status
    finally:
        connection.close()


def _children(pid: int) -> set[int]:
    return {int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}


def _granian_with_demo(
    tmp_path: Path, settings: dict[str, str]
) -> tuple[subprocess.Popen[bytes], int, dict[str, str], Path]:
    """A migrated SQLite database holding the demo model, and the web server (mlmonitor.serve: granian) on a free
    loopback port with these settings, in a process group of its own: (server, port, environment, log path)."""
    env = server_env(tmp_path)
    (tmp_path / "static").mkdir()
    command_run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], env=env, cwd=REPO)
    command_run([sys.executable, "manage.py", "load_demo"], env=env, cwd=REPO)
    port = free_port()
    log_path = tmp_path / "granian.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "mlmonitor.serve"],
            env={**env, "WEB_BIND": f"{LOOPBACK}:{port}", **settings},
            cwd=REPO,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    return server, port, env, log_path


@pytest.mark.parametrize("warm", ["1", "0"])
def test_a_granian_worker_loads_the_active_models_when_it_starts_unless_told_not_to(tmp_path: Path, warm: str) -> None:
    """With WEB_WARM_MODELS on (the default) the worker loads the demo model as it starts: /metrics shows the model's
    memory before any prediction. With it off, the model waits for the first request, as before."""
    # given: a server started with the demo model registered, and no prediction yet
    server, port, _, log_path = _granian_with_demo(
        tmp_path,
        {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus"), "WEB_WORKERS": "1", "WEB_WARM_MODELS": warm},
    )
    try:
        wait_for_http(port, "/healthz", timeout=60)
        # when
        exposition = http_get(port, "/metrics")[1]
        # then
        memory = [
            line
            for line in exposition.decode().splitlines()
            if line.startswith('ml_model_memory_bytes{model_name="iris"}')
        ]
        if warm == "1":
            assert memory and float(memory[0].rsplit(" ", 1)[1]) > 0, log_path.read_text()
        else:
            assert memory == []
            assert _predict(port) == 200
            assert _value(http_get(port, "/metrics")[1], 'ml_model_memory_bytes{model_name="iris"}') != "0.0"
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def test_granian_hands_over_a_cut_off_body_and_it_is_refused(tmp_path: Path) -> None:
    """A client declares 135 bytes, sends a complete JSON row of 35 and stops sending: granian hands the 35 bytes to
    the application, which answers 400 `body_truncated` and stores nothing (before, the row was scored and stored,
    found by a fresh-clone trial)."""
    import json
    import socket
    import sqlite3

    # given
    server, port, env, _ = _granian_with_demo(tmp_path, {"WEB_WORKERS": "1"})
    sent = b'{"features": [0.1, 0.5, 0.3, 0.8]}'
    head = (
        f"POST /predict HTTP/1.1\r\nHost: {LOOPBACK}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(sent) + 100}\r\nConnection: close\r\n\r\n"
    ).encode()
    try:
        wait_for_http(port, "/healthz", timeout=60)
        # when
        with socket.create_connection((LOOPBACK, port), timeout=30) as client:
            client.sendall(head + sent)
            client.shutdown(socket.SHUT_WR)  # the body ends here
            answer = b""
            while chunk := client.recv(65536):
                answer += chunk
        # then
        status_line, _, rest = answer.partition(b"\r\n")
        assert b" 400 " in status_line, answer
        assert json.loads(rest.partition(b"\r\n\r\n")[2])["error"]["code"] == "body_truncated"
        database = env["DATABASE_URL"].removeprefix("sqlite:///")
        with sqlite3.connect(database) as db:
            assert db.execute("SELECT COUNT(*) FROM predictions_prediction").fetchone() == (0,)
    finally:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def test_two_granian_workers_without_a_metrics_directory_are_scraped_together(tmp_path: Path) -> None:
    """Started without PROMETHEUS_MULTIPROC_DIR, the two workers share the launcher's default directory: every scrape
    shows both workers' counts (before, each worker counted alone and a scrape showed the one that answered it)."""
    # given: the server as the README starts it by hand, no metrics directory set
    server, port, _, _ = _granian_with_demo(tmp_path, {"WEB_WORKERS": "2", "TMPDIR": str(tmp_path / "tmp")})
    (tmp_path / "tmp").mkdir()
    try:
        wait_for_http(port, "/healthz", timeout=60)
        directories = list((tmp_path / "tmp").glob("mlmonitor-prometheus-*"))
        assert len(directories) == 1, directories
        directory = directories[0]
        # when: requests until both workers have counted some (each has its own counter file)
        deadline = time.monotonic() + 60
        while len(list(directory.glob("counter_*.db"))) < 2 and time.monotonic() < deadline:
            with ThreadPoolExecutor(8) as pool:
                list(pool.map(lambda _: http_get(port, "/healthz"), range(16)))
        # then
        assert len(list(directory.glob("counter_*.db"))) == 2, "the workers did not share the default directory"
        totals = []
        for _ in range(6):
            status, body = http_get(port, "/metrics")
            assert status == 200
            totals.append(float(_value(body, "django_http_requests_before_middlewares_total ")))
        # each scrape counts every earlier request and itself, whichever worker served them: one more each time
        assert totals == [totals[0] + step for step in range(6)], totals
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


@pytest.mark.parametrize("entry_point", ["manage.py", "wsgi", "celery"])
def test_an_empty_settings_module_variable_takes_the_projects_settings(tmp_path: Path, entry_point: str) -> None:
    """`DJANGO_SETTINGS_MODULE=` (empty or blank) in the environment: manage.py, the WSGI app and the Celery app use
    the project's settings, as without the variable (`os.environ.setdefault` kept the empty value, and Django then
    failed with "settings are not configured")."""
    code = {
        "manage.py": [sys.executable, "manage.py", "diffsettings", "--output", "unified"],
        "wsgi": [
            sys.executable,
            "-c",
            "import mlmonitor.wsgi; from django.conf import settings; print(settings.DEBUG)",
        ],
        "celery": [sys.executable, "-c", "from mlmonitor.celery import app; print(app.conf.task_default_queue)"],
    }[entry_point]
    for blank in ("", " "):
        environ = {**server_env(tmp_path), "DJANGO_SETTINGS_MODULE": blank}
        # when
        done = subprocess.run(code, env=environ, cwd=REPO, capture_output=True, text=True, timeout=120)
        # then
        assert done.returncode == 0, done.stderr[-2000:]
        assert "settings are not configured" not in done.stderr and done.stdout.strip()


def test_a_control_socket_path_is_one_per_address_and_fits_a_unix_socket() -> None:
    """gunicorn's control socket is named after the server's addresses, with a digest of them as given: addresses that
    read the same once made safe for a file name (`_` and `-`, `/` and `-`) get their own sockets. A name that would
    pass the 107 bytes of a Unix socket path becomes the digest alone (the same addresses, the same digest)."""
    import runpy

    control_socket_path = runpy.run_path(str(REPO / "mlmonitor" / "gunicorn.conf.py"))["control_socket_path"]
    # when
    short = control_socket_path("/run/user/0", ["http://[::1]:8000"])
    alike = [control_socket_path("/run/user/0", [address]) for address in ("unix:/tmp/a_b.sock", "unix:/tmp/a-b.sock")]
    alike.append(control_socket_path("/run/user/0", ["unix:/tmp/a/b.sock"]))
    long_addresses = ["unix:/" + "d" * 90 + "/app.sock"]
    long = control_socket_path("/home/someone/.gunicorn", long_addresses)
    # then
    assert short.startswith("/run/user/0/gunicorn-http-1-8000-") and short.endswith(".ctl")
    assert len(set(alike)) == 3, alike
    assert len(long.encode()) < 108 and long == control_socket_path("/home/someone/.gunicorn", long_addresses)
    assert long != control_socket_path("/home/someone/.gunicorn", ["unix:/" + "e" * 90 + "/app.sock"])
