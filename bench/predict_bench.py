"""Prediction throughput and latency under gunicorn, measured with wrk on 127.0.0.1.

Reports, in one run: single-row predictions per second and p50/p99 latency at 32 connections with monitoring on
(METRICS_ENABLED=1: django-prometheus middleware + DB instrumentation + the ml_* metrics, the data-quality counters of
predictions/data_quality.py included, checked against the demo's reference) and off, and batch rows per
second for batches of 1000 rows. Every answered prediction is persisted: the script checks the row count against
wrk's count of 2xx answers. Runs are interleaved (on, off, on, off, ...) and medians quoted, as the machine is noisy.

Run: `.venv/bin/python bench/predict_bench.py [--duration 10] [--repeats 3] [--workers 2 --threads 8]`
Needs wrk (Debian package `wrk`) and PostgreSQL on 127.0.0.1:5432 (or BENCH_SQLITE=1 for SQLite).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
ADMIN_URL = os.environ.get("BENCH_DATABASE_ADMIN_URL", "postgresql://root@127.0.0.1:5432/postgres")
DB_NAME = f"mlmonitor_bench_predict_{os.getpid()}"  # per run: parallel runs never drop each other's database

SINGLE_LUA = """
wrk.method = "POST"
wrk.body = '{"features": [5.1, 3.5, 1.4, 0.2]}'
wrk.headers["Content-Type"] = "application/json"
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def batch_lua(rows: int) -> str:
    import random

    rng = random.Random(1)
    instances = [
        [
            round(rng.uniform(4, 8), 1),
            round(rng.uniform(2, 4.5), 1),
            round(rng.uniform(1, 7), 1),
            round(rng.uniform(0.1, 2.5), 1),
        ]
        for _ in range(rows)
    ]
    body = json.dumps({"instances": instances})
    return f'wrk.method = "POST"\nwrk.body = [==[{body}]==]\nwrk.headers["Content-Type"] = "application/json"\n'


def parse_wrk(output: str) -> dict[str, float]:
    """Requests/sec, latency percentiles (ms) and non-2xx count from wrk --latency output."""

    def millis(text: str) -> float:
        number, unit = re.match(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
        return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]

    result = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))}  # type: ignore[union-attr]
    for pct in ("50", "99"):
        match = re.search(rf"\s{pct}(?:\.000)?%\s+([\d.]+\w+)", output)
        result[f"p{pct}_ms"] = millis(match.group(1)) if match else float("nan")
    total = re.search(r"(\d+) requests in", output)
    result["requests"] = float(total.group(1)) if total else 0.0
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    result["non2xx"] = float(non2xx.group(1)) if non2xx else 0.0
    return result


class Server:
    """gunicorn on a free loopback port with its own multiprocess metrics directory."""

    def __init__(self, env: dict[str, str], workers: int, threads: int, monitoring: bool) -> None:
        self.port = free_port()
        self.metrics_dir = tempfile.mkdtemp(prefix="mlmonitor-bench-prom-")
        self.env = {
            **env,
            "METRICS_ENABLED": "1" if monitoring else "0",
            "PROMETHEUS_MULTIPROC_DIR": self.metrics_dir,
            "GUNICORN_BIND": f"127.0.0.1:{self.port}",
            "GUNICORN_WORKERS": str(workers),
            "GUNICORN_THREADS": str(threads),
            "GUNICORN_LOGLEVEL": "warning",
        }
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        self.process = subprocess.Popen(
            [PYTHON, "-m", "gunicorn", "-c", "mlmonitor/gunicorn.conf.py"],
            cwd=ROOT,
            env=self.env,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=1) as response:
                    if response.status == 200:
                        return self
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("gunicorn did not start")

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=30)
        shutil.rmtree(self.metrics_dir, ignore_errors=True)


def wrk(url: str, script: str, *, connections: int, duration: int) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script or "-- plain GET\n")
    try:
        output = subprocess.run(
            ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", "-s", handle.name, url],
            check=True,
            capture_output=True,
            text=True,
            timeout=duration + 60,
        ).stdout
    finally:
        os.unlink(handle.name)
    return parse_wrk(output)


COUNT_ROWS = "from predictions.models import Prediction; print(Prediction.objects.count())"


def data_quality_rows(port: int) -> float:
    """ml_data_quality_rows_total of the demo model on this server's /metrics (0 when absent: monitoring off)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as response:
        text = response.read().decode()
    match = re.search(r'^ml_data_quality_rows_total\{model_name="iris"\} (\S+)$', text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def count_rows(env: dict[str, str]) -> int:
    out = subprocess.run(
        [
            PYTHON,
            "manage.py",
            "shell",
            "-c",
            "from predictions.models import Prediction; print(Prediction.objects.count())",
        ],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return int(out.strip().splitlines()[-1])


def database_env(name: str = DB_NAME) -> tuple[dict[str, str], Any]:
    env = {
        **os.environ,
        "SECRET_KEY": "bench-only",
        "DJANGO_SETTINGS_MODULE": "mlmonitor.settings.base",
        "MEDIA_ROOT": tempfile.mkdtemp(prefix="mlmonitor-bench-media-"),
    }
    env.pop("DJANGO_DEBUG", None)
    if os.environ.get("BENCH_SQLITE") == "1":
        path = Path(tempfile.mkdtemp(prefix="mlmonitor-bench-db-")) / "db.sqlite3"
        env["DATABASE_URL"] = f"sqlite:///{path}"
        return env, lambda: shutil.rmtree(path.parent, ignore_errors=True)
    import psycopg

    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")

    def drop() -> None:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    env["DATABASE_URL"] = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    return env, drop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=int(os.environ.get("GUNICORN_WORKERS", "2")))
    parser.add_argument("--threads", type=int, default=int(os.environ.get("GUNICORN_THREADS", "8")))
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--batch-rows", type=int, default=1000)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")
    env, cleanup = database_env()
    try:
        for command in (["migrate", "-v0"], ["load_demo"]):
            subprocess.run([PYTHON, "manage.py", *command], cwd=ROOT, env=env, check=True, capture_output=True)
        print(
            f"gunicorn gthread workers={args.workers} threads={args.threads}, wrk -t2 -c{args.connections} "
            f"-d{args.duration}s, database={env['DATABASE_URL'].split(':')[0]}"
        )
        single: dict[bool, list[dict[str, float]]] = {True: [], False: []}
        floors: dict[bool, float] = {}
        for repeat in range(args.repeats):
            for monitoring in (True, False):
                with Server(env, args.workers, args.threads, monitoring) as server:
                    url = f"http://127.0.0.1:{server.port}/predict"
                    wrk(url, SINGLE_LUA, connections=args.connections, duration=2)  # warm-up: load the model
                    before = count_rows(env)
                    result = wrk(url, SINGLE_LUA, connections=args.connections, duration=args.duration)
                    result["persisted"] = count_rows(env) - before
                    result["quality_rows"] = data_quality_rows(server.port)
                    if repeat == 0:  # the same stack answering a view that does nothing: Django's own ceiling here
                        floor = wrk(
                            f"http://127.0.0.1:{server.port}/healthz",
                            "",
                            connections=args.connections,
                            duration=max(3, args.duration // 2),
                        )
                        floors[monitoring] = floor["rps"]
                single[monitoring].append(result)
                print(
                    f"  run {repeat + 1} monitoring={'on ' if monitoring else 'off'}: {result['rps']:.0f} req/s, "
                    f"p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms, non-2xx {result['non2xx']:.0f}, "
                    f"persisted {result['persisted']:.0f} of {result['requests']:.0f} answered, "
                    f"data-quality rows counted {result['quality_rows']:.0f}"
                )
        batch: list[dict[str, float]] = []
        with Server(env, args.workers, args.threads, True) as server:
            url = f"http://127.0.0.1:{server.port}/predict"
            script = batch_lua(args.batch_rows)
            wrk(url, script, connections=4, duration=2)
            for _ in range(args.repeats):
                before = count_rows(env)
                result = wrk(url, script, connections=4, duration=args.duration)
                result["persisted"] = count_rows(env) - before
                batch.append(result)
                print(
                    f"  batch of {args.batch_rows}: {result['rps'] * args.batch_rows:.0f} rows/s, "
                    f"p99 {result['p99_ms']:.0f} ms, persisted {result['persisted']:.0f} rows"
                )

        def median(runs: list[dict[str, float]], key: str) -> float:
            return statistics.median(run[key] for run in runs)

        on, off = median(single[True], "rps"), median(single[False], "rps")
        print()
        print(
            f"single-row, monitoring on : {on:.0f} req/s, p50 {median(single[True], 'p50_ms'):.1f} ms, "
            f"p99 {median(single[True], 'p99_ms'):.1f} ms (median of {args.repeats})"
        )
        print(
            f"single-row, monitoring off: {off:.0f} req/s, p50 {median(single[False], 'p50_ms'):.1f} ms, "
            f"p99 {median(single[False], 'p99_ms'):.1f} ms"
        )
        print(f"monitoring cost: {100 * (1 - on / off):.1f}% of throughput (on/off = {on / off:.3f})")
        counted = sum(r["quality_rows"] for r in single[True])
        print(
            f"monitoring on includes the data-quality counters: {counted:.0f} rows counted in the on runs "
            f"(warm-ups included); off: {sum(r['quality_rows'] for r in single[False]):.0f}"
        )
        print(
            f"ceiling of the same stack on GET /healthz (a view that does nothing): monitoring on "
            f"{floors[True]:.0f} req/s, off {floors[False]:.0f} req/s"
        )
        print(
            f"batch rows/s (batches of {args.batch_rows}, 4 connections): {median(batch, 'rps') * args.batch_rows:.0f}"
        )
        # wrk counts completed answers; rows committed for requests cut off at the end may exceed them, never fall short
        lost = sum(max(0.0, r["requests"] - r["non2xx"] - r["persisted"]) for runs in single.values() for r in runs)
        print(f"answered but not persisted: {lost:.0f}")
    finally:
        cleanup()


if __name__ == "__main__":
    main()
