"""Where the web server's workers spend their Python time under load: py-spy samples of the GIL holder, by function.

Starts mlmonitor as bench/predict_bench.py does (mlmonitor/serve.py: granian, 2 workers x 8 threads, PostgreSQL or
BENCH_SQLITE=1), sends `wrk -t2 -c32` single-row POSTs for `--duration` seconds after a warm-up, and meanwhile samples
each worker with py-spy (`record --gil --nonblocking --format raw`: only the thread holding the GIL, so waits on the
database or on other threads are left out). Unlike a profiler inside the process (bench/predict_profile.py), this
sees the code in its real context: concurrent requests, dynamic batches, the caches the rest of the work leaves.
Prints, for each `--metrics` value (METRICS_ENABLED), the GIL samples per 1,000 requests, the share of samples whose
stack holds one of the monitoring functions (MONITORING) with each function's own share, and the functions that hold
the GIL longest themselves.

py-spy lives in its own virtualenv under BENCH_PEER_CACHE (created on first use, pinned; never in .venv); sampling
another process needs ptrace permission (root, or kernel.yama.ptrace_scope 0).

Run: `.venv/bin/python bench/predict_sample.py [--duration 15] [--rate 1000] [--metrics 1,0]`
"""

from __future__ import annotations

import argparse
import collections
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from predict_bench import PYTHON, ROOT, SINGLE_LUA, Server, database_env, peer_python, session_stats, wrk

# Functions that exist for monitoring only, as py-spy names them ("function (file:line)"): a sample counts once when
# any of them is on its stack.
MONITORING = (
    "HotPathHttpMetrics.record (mlmonitor/middleware.py",
    "_batch_metrics_record (predictions/services.py",
    "_metrics_write (predictions/services.py",
    "statement_record (mlmonitor/backends/__init__.py",
    "MetricWrites.",
)


def session_workers(session: int) -> list[int]:
    """The pids of a server's worker processes: its session's processes other than the session leader."""
    return [pid for pid, _ in session_stats(session) if pid != session]


def summarize(paths: list[Path], requests: float) -> None:
    """Print the monitoring share and the top functions of py-spy's raw output files (one line per stack)."""
    total = 0
    monitoring = 0
    by_function: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    for path in paths:
        for line in path.read_text().splitlines():
            stack, _, count_text = line.rpartition(" ")
            count = int(count_text)
            total += count
            frames = stack.split(";")
            own[frames[-1]] += count
            hits = {name for name in MONITORING for frame in frames if name in frame}
            if hits:
                monitoring += count
                for name in hits:
                    by_function[name] += count
    if total == 0:
        print("  no samples (is ptrace allowed?)")
        return
    print(f"  {total} GIL samples, {1000 * total / max(requests, 1.0):.1f} per 1,000 requests")
    print(f"  monitoring functions on the stack: {100 * monitoring / total:.2f}% of the samples")
    for name, count in by_function.most_common():
        print(f"    {100 * count / total:5.2f}%  {name.split(' (')[0]}")
    print("  holding the GIL themselves, the top 12:")
    for frame, count in own.most_common(12):
        print(f"    {100 * count / total:5.2f}%  {frame[:110]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=15, help="seconds sampled (wrk runs one second longer)")
    parser.add_argument("--rate", type=int, default=1000, help="py-spy samples per second")
    parser.add_argument("--metrics", default="1,0", help="METRICS_ENABLED values to run, comma-separated")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    py_spy = peer_python("py-spy").parent / "py-spy"
    env, cleanup = database_env()
    try:
        for command in (["migrate", "-v0"], ["load_demo"]):
            subprocess.run([PYTHON, "manage.py", *command], cwd=ROOT, env=env, check=True, capture_output=True)
        for metrics in args.metrics.split(","):
            monitoring = metrics == "1"
            with Server(env, args.workers, args.threads, monitoring) as server, tempfile.TemporaryDirectory() as out:
                wrk(server.url, SINGLE_LUA, connections=32, duration=3)  # warm-up: models loaded, batches formed
                workers = session_workers(server.process.pid)
                paths = [Path(out) / f"{pid}.txt" for pid in workers]
                sampling = ["--gil", "--nonblocking", "--format", "raw", "--rate", str(args.rate)]
                sampling += ["--duration", str(args.duration)]
                samplers = [
                    subprocess.Popen(
                        [str(py_spy), "record", "--pid", str(pid), *sampling, "--output", str(path)],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                    for pid, path in zip(workers, paths, strict=True)
                ]
                cpu_before = server.cpu_seconds()
                result = wrk(server.url, SINGLE_LUA, connections=32, duration=args.duration + 1)
                cpu = server.cpu_seconds() - cpu_before
                for sampler in samplers:
                    sampler.wait(timeout=60)
                print(
                    f"METRICS_ENABLED={metrics}: {len(workers)} workers, {result['rps']:.0f} req/s, "
                    f"{1000 * cpu / max(result['requests'], 1.0):.3f} ms CPU per request (sampling included)",
                    flush=True,
                )
                # py-spy sampled `duration` of wrk's `duration + 1` seconds: the requests of that share
                summarize([p for p in paths if p.exists()], result["requests"] * args.duration / (args.duration + 1))
    finally:
        cleanup()


if __name__ == "__main__":
    main()
