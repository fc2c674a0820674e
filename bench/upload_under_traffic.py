"""Single-row predictions while an operator uploads a large reference dataset in the admin, on the SQLite default.

On SQLite a write transaction holds the database's write lock from its start (transaction_mode IMMEDIATE, see
mlmonitor/settings/base.py), so whatever runs inside one makes every prediction wait. The script makes a fresh
SQLite database with the demo model and an admin user, starts the web server as `make run` does (`python -m
mlmonitor.serve`, granian, 2 workers), keeps --clients threads posting the seed's row to /predict, and uploads a CSV of
--rows iris-like rows through the admin's add form (a real multipart POST with the session and CSRF token). It
prints the upload's duration and, over the predictions whose request overlapped the upload, their count, median,
p99 and maximum latency, and the non-200 answers. Each round uses its own database and server.

Run: `.venv/bin/python bench/upload_under_traffic.py [--rows 800000] [--clients 4] [--rounds 2]`.
Traffic goes to 127.0.0.1 only and stops by itself.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.mlmonitor.test_gunicorn import server_env  # noqa: E402 - the suite's production-like environment
from tests.servers import LOOPBACK, command_run, free_port, running, wait_for_http  # noqa: E402

PASSWORD = "a-long-bench-password-1"
SEED_ROW = {"features": [0.1, 0.5, 0.3, 0.8]}


def reference_csv(rows: int) -> bytes:
    """An iris-like reference CSV of `rows` rows (header as the demo schema names the features)."""
    rng = np.random.default_rng(0)
    values = rng.normal([5.8, 3.0, 3.7, 1.2], [0.8, 0.4, 1.7, 0.7], size=(rows, 4)).clip(0.1)
    lines = ["sepal_length,sepal_width,petal_length,petal_width"]
    lines += [",".join(f"{v:.2f}" for v in row) for row in values.tolist()]
    return "\n".join(lines).encode()


def csrf_token(page: str) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert match, "no CSRF token on the page"
    return match.group(1)


def one_round(rows: int, clients: int, data: bytes) -> str:
    """Start a fresh stack, upload under traffic, and describe what the predictions saw."""
    directory = Path(tempfile.mkdtemp(prefix="mlmonitor-bench-upload-"))
    env = {
        **server_env(directory),
        "DJANGO_SUPERUSER_PASSWORD": PASSWORD,
        "REFERENCE_UPLOAD_MAX_BYTES": str(len(data) + 1024 * 1024),
        "SUGGESTED_THRESHOLDS_ON_UPLOAD": "0",  # the fit runs in a Celery worker, not in the web server
    }
    (directory / "static").mkdir()
    python = sys.executable
    command_run([python, "manage.py", "migrate", "--noinput", "-v", "0"], env=env, cwd=ROOT)
    command_run([python, "manage.py", "load_demo"], env=env, cwd=ROOT)
    user = ["--noinput", "--username", "operator", "--email", "operator@example.com"]
    command_run([python, "manage.py", "createsuperuser", *user], env=env, cwd=ROOT)
    port = free_port()
    server_environment = {**env, "WEB_BIND": f"{LOOPBACK}:{port}", "WEB_WORKERS": "2"}
    log = directory / "web.log"
    with running([python, "-m", "mlmonitor.serve"], name="web", log_path=log, env=server_environment, cwd=ROOT) as web:
        wait_for_http(port, "/healthz", timeout=60, server=web)
        base = f"http://{LOOPBACK}:{port}"
        admin = requests.Session()
        login = base + "/admin/login/?next=/admin/"
        credentials = {"username": "operator", "password": PASSWORD}
        page = admin.post(login, data={"csrfmiddlewaretoken": csrf_token(admin.get(login).text), **credentials})
        assert "Log out" in page.text, "the admin login failed"
        add = base + "/admin/drift/referencedataset/add/"
        form_page = admin.get(add).text
        version = re.search(r'<option value="(\d+)"[^>]*>iris', form_page)
        assert version, "no iris version on the upload form"
        stop = threading.Event()
        answers: list[tuple[float, float, int]] = []  # (start, end, status)

        def client() -> None:
            session = requests.Session()
            while not stop.is_set():
                started = time.perf_counter()
                status = session.post(base + "/predict", json=SEED_ROW, timeout=60).status_code
                answers.append((started, time.perf_counter(), status))

        threads = [threading.Thread(target=client) for _ in range(clients)]
        for thread in threads:
            thread.start()
        time.sleep(2.0)  # traffic flows before the upload
        fields = {"csrfmiddlewaretoken": csrf_token(form_page), "model_version": version.group(1), "name": "big"}
        upload_started = time.perf_counter()
        response = admin.post(
            add,
            data={**fields, "_save": "Save"},
            files={"file": ("big.csv", data, "text/csv")},
            headers={"Referer": add},
            allow_redirects=False,
        )
        upload_ended = time.perf_counter()
        time.sleep(1.0)
        stop.set()
        for thread in threads:
            thread.join(timeout=90)
    overlapping = [
        (end - start, status) for start, end, status in answers if start < upload_ended and end > upload_started
    ]
    latencies = np.array([seconds for seconds, status in overlapping if status == 200]) * 1000.0
    failed = [status for _, status in overlapping if status != 200]
    stored = "stored" if response.status_code == 302 else f"NOT stored (status {response.status_code})"
    summary = (
        f"median {np.median(latencies):.1f} ms, p99 {np.percentile(latencies, 99):.0f} ms, max {latencies.max():.0f} ms"
        if latencies.size
        else "none answered 200"
    )
    return (
        f"upload of {rows} rows ({len(data) / 1e6:.1f} MB) {stored} in {upload_ended - upload_started:.2f} s; "
        f"{len(overlapping)} predictions overlapped it: {summary}; non-200: {len(failed)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=800_000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    data = reference_csv(args.rows)
    for index in range(args.rounds):
        print(f"round {index + 1}: {one_round(args.rows, args.clients, data)}", flush=True)


if __name__ == "__main__":
    main()
