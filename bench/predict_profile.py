"""CPU per single-row prediction inside one process, without an HTTP server: where the worker's time goes.

Calls Django's WSGI handler directly (a prepared environ per request, the body `{"features": [5.1, 3.5, 1.4, 0.2]}`
POSTed to /predict) from `--threads` threads, so dynamic batching works as under gunicorn's thread pool, and prints
the process CPU milliseconds per request (time.process_time over the run / requests) for monitoring on and off.
With `--profile` it runs once more under pyinstrument (installed in a throwaway virtualenv, never in .venv: pass its
site-packages with `--pyinstrument-path`) and prints the call tree.

Run: `.venv/bin/python bench/predict_profile.py [--requests 4000] [--threads 8] [--profile --pyinstrument-path P]`
Needs PostgreSQL on 127.0.0.1:5432 (or BENCH_SQLITE=1), like bench/predict_bench.py.
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from predict_bench import PYTHON, ROOT, SINGLE_BODY, count_rows, database_env


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


def drive(handler: Any, requests: int, threads: int) -> tuple[float, float, int]:
    """Send `requests` requests from `threads` threads; (wall seconds, CPU seconds, non-200 answers)."""
    body = SINGLE_BODY.encode()
    per_thread = requests // threads
    failures = [0]

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        if not status.startswith("200"):
            failures[0] += 1

    def worker() -> None:
        for _ in range(per_thread):
            for _chunk in handler(environ(body), start_response):
                pass

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    wall, cpu = time.perf_counter(), time.process_time()
    if threads == 1:  # in this thread (a profiler samples the thread that started it)
        worker()
        return time.perf_counter() - wall, time.process_time() - cpu, failures[0]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return time.perf_counter() - wall, time.process_time() - cpu, failures[0]


def child(args: argparse.Namespace) -> None:
    """Runs inside a process with the environment set: warm up, measure, optionally profile."""
    import django

    django.setup()
    from django.core.handlers.wsgi import WSGIHandler

    handler = WSGIHandler()
    drive(handler, 200, args.threads)  # load the model, warm caches
    wall, cpu, failures = drive(handler, args.requests, args.threads)
    done = (args.requests // args.threads) * args.threads
    print(
        f"METRICS_ENABLED={os.environ['METRICS_ENABLED']}: {done} requests, {1000 * cpu / done:.3f} ms CPU/request, "
        f"{done / wall:.0f} req/s in-process, non-200 {failures}",
        flush=True,
    )
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
    parser.add_argument("--profile", action="store_true")
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
                "METRICS_ENABLED": metrics,
                "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), args.pyinstrument_path])),
            }
            before = count_rows(env)
            command = [PYTHON, __file__, "--child", "--requests", str(args.requests), "--threads", str(args.threads)]
            subprocess.run([*command, *(["--profile"] if args.profile else [])], cwd=ROOT, env=child_env, check=True)
            print(f"  rows logged: {count_rows(env) - before}")
    finally:
        cleanup()


if __name__ == "__main__":
    main()
