"""The first seconds of a freshly started web server: p99 of single-row predictions per 1 s slice from its start.

Starts mlmonitor as bench/predict_bench.py does (mlmonitor/serve.py: granian, 2 workers x 8 threads, PostgreSQL or
BENCH_SQLITE=1, monitoring on) `--starts` times; each time, as soon as /healthz answers, it sends `wrk -t2 -c32`
single-row POSTs in `--slices` runs of 1 s and prints each run's p99 (ms). What it shows is the cost of what a worker
does on its first requests (imports, model loading, database connections); `WEB_WARM_MODELS=0` in the environment
leaves the models to the first requests (mlmonitor/wsgi.py, worker_warm).

Run: `.venv/bin/python bench/predict_startup.py [--starts 2] [--slices 10]`
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from predict_bench import PYTHON, ROOT, SINGLE_LUA, Server, database_env, wrk


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=2, help="server starts")
    parser.add_argument("--slices", type=int, default=10, help="1 s wrk runs after each start")
    args = parser.parse_args()
    env, cleanup = database_env()
    try:
        for command in (["migrate", "-v0"], ["load_demo"]):
            subprocess.run([PYTHON, "manage.py", *command], cwd=ROOT, env=env, check=True, capture_output=True)
        warm = os.environ.get("WEB_WARM_MODELS", "1")
        print(f"WEB_WARM_MODELS={warm}; p99 (ms) of each 1 s slice of wrk -t2 -c32 from the server's start:")
        for start in range(args.starts):
            with Server(env, 2, 8, True, {"WEB_WARM_MODELS": warm}) as server:
                p99s = [wrk(server.url, SINGLE_LUA, connections=32, duration=1)["p99_ms"] for _ in range(args.slices)]
            print(f"  start {start + 1}: {' '.join(f'{p99:.0f}' for p99 in p99s)}", flush=True)
    finally:
        cleanup()


if __name__ == "__main__":
    main()
