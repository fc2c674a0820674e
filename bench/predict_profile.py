"""CPU per single-row prediction inside one process, without an HTTP server: where the worker's time goes.

Calls the WSGI application of mlmonitor/wsgi.py directly (a prepared environ per request, the body
`{"features": [5.1, 3.5, 1.4, 0.2]}` POSTed to /predict) from `--threads` threads, so dynamic batching works as under
gunicorn's thread pool, and prints the process CPU milliseconds per request (time.process_time over the run /
requests) for monitoring on and off. With `--profile` it runs once more under pyinstrument (installed in a throwaway
virtualenv, never in .venv: pass its site-packages with `--pyinstrument-path`) and prints the call tree.

Run: `.venv/bin/python bench/predict_profile.py [--requests 4000] [--threads 8] [--profile --pyinstrument-path P]`
(the environment reaches the application: `WEB_HOT_PATH=0` measures the full middleware chain).
Needs PostgreSQL on 127.0.0.1:5432 (or BENCH_SQLITE=1), like bench/predict_bench.py.
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from predict_bench import PYTHON, ROOT, SINGLE_BODY, batch_lua, count_rows, database_env


def environ(body: bytes) -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/predict",
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }


def request_body(rows: int) -> bytes:
    """The single-row body, or for `rows` > 1 a batch of that many rows (the rows of bench/predict_bench.py)."""
    if rows <= 1:
        return SINGLE_BODY.encode()
    script = batch_lua(rows)
    return script[script.index("[==[") + 4 : script.index("]==]")].encode()


def drive(handler: Any, requests: int, threads: int, rows: int = 1) -> tuple[float, float, int, float | None]:
    """Send `requests` requests from `threads` threads; (wall seconds, CPU seconds, non-200 answers, CPU seconds of
    the PostgreSQL backends that served them or None, see backend_cpu_seconds)."""
    body = request_body(rows)
    per_thread = requests // threads
    failures = [0]
    database: list[float | None] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        if not status.startswith("200"):
            failures[0] += 1

    def worker() -> None:
        before = backend_cpu_seconds()  # each thread has its own connection, and a dynamic batch's leader uses its own
        for _ in range(per_thread):
            for _chunk in handler(environ(body), start_response):
                pass
        after = backend_cpu_seconds()
        database.append(None if before is None or after is None else after - before)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    wall, cpu = time.perf_counter(), time.process_time()
    if threads == 1:  # in this thread (a profiler samples the thread that started it)
        worker()
    else:
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    database_cpu = None if None in database else sum(d for d in database if d is not None)
    return wall, cpu, failures[0], database_cpu


def backend_cpu_seconds() -> float | None:
    """User + system CPU so far of this thread's PostgreSQL backend, read from /proc (a local server); None on SQLite
    or when /proc does not show it. The difference over a run is what PostgreSQL spent on this connection's
    statements: COPY, index upkeep, commits."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime, in clock ticks
    except (OSError, IndexError, ValueError):
        return None


def child(args: argparse.Namespace) -> None:
    """Runs inside a process with the environment set: warm up, measure, optionally profile."""
    # the application gunicorn serves (mlmonitor/wsgi.py), with what that module does after Django's setup
    from mlmonitor.wsgi import application as handler

    drive(handler, min(200, args.requests), args.threads, args.rows)  # load the model, warm caches
    wall, cpu, failures, database_cpu = drive(handler, args.requests, args.threads, args.rows)
    done = (args.requests // args.threads) * args.threads
    database = f", PostgreSQL {1e6 * database_cpu / (done * args.rows):.1f} us CPU/row" if database_cpu else ""
    rows = (
        f", {1e6 * cpu / (done * args.rows):.1f} us CPU/row{database}, {done * args.rows / wall:.0f} rows/s"
        if args.rows > 1
        else ""
    )
    print(
        f"METRICS_ENABLED={os.environ['METRICS_ENABLED']}: {done} requests, {1000 * cpu / done:.3f} ms CPU/request, "
        f"{done / wall:.0f} req/s in-process{rows}, non-200 {failures}",
        flush=True,
    )
    if args.cprofile:
        import cProfile
        import pstats

        # CPU time per function (time.process_time as the clock), one thread: where the CPU goes, not the waits
        profile = cProfile.Profile(time.process_time)
        profile.enable()
        drive(handler, args.requests // 2, 1, args.rows)
        profile.disable()
        stats = pstats.Stats(profile)
        # a deterministic count, unlike the times: what monitoring adds shows as the difference of --metrics 1 and 0
        print(f"Python calls per request: {stats.total_calls / (args.requests // 2):.1f}", flush=True)
        stats.sort_stats("cumulative").print_stats(45)
        pstats.Stats(profile).sort_stats("tottime").print_stats(30)
    if args.profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0005)
        profiler.start()  # pyinstrument samples the thread that started it: one thread, no dynamic batching
        drive(handler, args.requests // 2, 1)
        profiler.stop()
        print(profiler.output_text(unicode=False, color=False, show_all=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--rows", type=int, default=1, help="rows per request (> 1: batches)")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--cprofile", action="store_true", help="cProfile with process CPU time as the clock")
    parser.add_argument("--pyinstrument-path", default="", help="site-packages holding pyinstrument")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--metrics", default="1,0", help="METRICS_ENABLED values to run, comma-separated")
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    env, cleanup = database_env("mlmonitor_bench_profile")
    try:
        for command in (["migrate", "-v0"], ["load_demo"]):
            subprocess.run([PYTHON, "manage.py", *command], cwd=ROOT, env=env, check=True, capture_output=True)
        for metrics in args.metrics.split(","):
            child_env = {
                **env,
                # multiprocess metrics (mmap files), as under gunicorn: each increment costs what it costs there
                "PROMETHEUS_MULTIPROC_DIR": tempfile.mkdtemp(prefix="mlmonitor-profile-metrics-"),
                "METRICS_ENABLED": metrics,
                "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), args.pyinstrument_path])),
            }
            before = count_rows(env)
            command = [PYTHON, __file__, "--child", "--requests", str(args.requests), "--threads", str(args.threads)]
            command += ["--rows", str(args.rows)]
            flags = [*(["--profile"] if args.profile else []), *(["--cprofile"] if args.cprofile else [])]
            subprocess.run([*command, *flags], cwd=ROOT, env=child_env, check=True)
            print(f"  rows logged: {count_rows(env) - before}")
    finally:
        cleanup()


if __name__ == "__main__":
    main()
