"""Prediction throughput, latency and worker CPU: mlmonitor against the seed's FastAPI sketch and MLServer, one run.

Each round runs `wrk -t2 -c32` single-row POSTs against each of these, one at a time on the machine (the others
stopped; only the monitoring pair runs two servers at once):

- mlmonitor under its web server (mlmonitor/serve.py: granian), monitoring on (METRICS_ENABLED=1), every answer
  persisted to the prediction log and committed before it is sent;
- `seed`: bench/peers/seed_fastapi.py, a FastAPI + prometheus_client service behaving like the seed's sketch
  (argmax of the first three features, a random confidence, its metrics, its X-Process-Time HTTP middleware, no
  model, no persistence), one uvicorn worker on the HTTP stack the sketch's requirements install (h11, asyncio);
- `seed-lean`: the same service without the middleware, on uvicorn's fast path (httptools, uvloop): a stricter
  peer than the sketch as written;
- `mlserver`: MLServer 1.7 + mlserver-sklearn serving the demo's iris pipeline (the same training code as
  `load_demo`, saved as joblib by bench/peers/mlserver_model.py) through the V2 protocol, asking for predict_proba,
  `parallel_workers: 0`;
- for the cost of monitoring, a pair: mlmonitor with monitoring on and mlmonitor with monitoring off
  (METRICS_ENABLED=0), both servers up side by side, measured in alternating wrk slices (`--slices` per server, of
  `--duration` / `--slices` seconds each, in the order on, off, off, on, on, off, ...; which server starts and
  goes first alternates from round to round). `--pair-off-env` and `--pair-off-tree` make the second server another
  configuration or another checkout (an earlier commit in a `git worktree`), for A/B runs. This machine's speed moves by
  10-30% within seconds (1 s throughput of one server from 903 to 1,711 req/s), so two separate 8 s runs one after
  the other differ by that much whatever the code; slices a few seconds apart see the same machine on both sides
  (docs/benchmarks.md, "Monitoring cost: on and off side by side").

The peers live in their own virtualenvs under BENCH_PEER_CACHE (default ~/.cache/mlmonitor-bench/<peer>-venv),
created on first use with pinned versions; nothing is installed into the project's .venv. For every run the script
prints req/s, p50, p99 and the CPU milliseconds the server's processes spent per request (utime + stime of every
process in the server's session, from /proc, before and after the measured wrk run), then the medians, the two
ratios (mlmonitor / each peer; median of the per-round ratios), the monitoring cost (the pair's on / off
throughput, median of the per-round ratios), and batch rows
per second for batches of 1,000 and 5,000 rows. Every mlmonitor run counts the rows in the prediction log against
wrk's 2xx answers (rows x rows per request for batches) and the script exits 1 if an answer was not persisted.

Run: `.venv/bin/python bench/predict_bench.py [--duration 10] [--repeats 3] [--quick] [--peers seed,seed-lean,mlserver]`
Needs wrk (Debian package `wrk`), PostgreSQL on 127.0.0.1:5432 (or BENCH_SQLITE=1 for SQLite) and, for the peers,
pip access to PyPI on the first run.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
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
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
ADMIN_URL = os.environ.get("BENCH_DATABASE_ADMIN_URL", "postgresql://root@127.0.0.1:5432/postgres")
DB_NAME = f"mlmonitor_bench_predict_{os.getpid()}"  # per run: parallel runs never drop each other's database
PEER_CACHE = Path(os.environ.get("BENCH_PEER_CACHE", Path.home() / ".cache" / "mlmonitor-bench"))
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

SINGLE_BODY = '{"features": [5.1, 3.5, 1.4, 0.2]}'
SINGLE_LUA = f"""
wrk.method = "POST"
wrk.body = '{SINGLE_BODY}'
wrk.headers["Content-Type"] = "application/json"
"""
# The same request answered by the DRF view behind the lean one (predictions/lean.py sends any Accept header it does
# not list to DRF; this one still negotiates JSON): the A/B of `--variant drf`.
SINGLE_LUA_DRF = SINGLE_LUA + 'wrk.headers["Accept"] = "application/json; q=0.9"\n'
# The same row in the V2 inference protocol, asking the scikit-learn runtime for class probabilities.
MLSERVER_LUA = """
wrk.method = "POST"
wrk.body = '{"inputs": [{"name": "input-0", "shape": [1, 4], "datatype": "FP64", "data": [5.1, 3.5, 1.4, 0.2]}], \
"outputs": [{"name": "predict_proba"}]}'
wrk.headers["Content-Type"] = "application/json"
"""


def _requirement_pins(*names: str) -> list[str]:
    """The project's own pins (requirements.txt) of some packages, so a peer runs the same library versions."""
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        match = re.match(r"([A-Za-z0-9_.-]+)(?:\[[^]]*\])?==(\S+)", line.strip())
        if match:
            pins[match.group(1).lower()] = f"{match.group(1)}=={match.group(2)}"
    return [pins[name] for name in names]


# Peer virtualenvs: pinned requirements. uvicorn[standard] brings uvloop and httptools, uvicorn's fast path, which the
# seed-lean slot uses; the seed slot asks uvicorn for h11 and asyncio, what the sketch's plain `uvicorn` requirement
# gives. Both slots share the seed virtualenv.
PEER_REQUIREMENTS: dict[str, Callable[[], list[str]]] = {
    "seed": lambda: [
        "fastapi==0.163.2",
        "uvicorn[standard]==0.54.0",
        *_requirement_pins("prometheus-client", "numpy"),
    ],
    "mlserver": lambda: ["mlserver==1.7.1", "mlserver-sklearn==1.7.1", *_requirement_pins("scikit-learn")],
    # not a peer: the sampling profiler of bench/predict_sample.py, kept out of the project's .venv like the peers
    "py-spy": lambda: ["py-spy==0.4.3"],
}


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
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    result["socket_errors"] = float(sum(int(g) for g in errors.groups())) if errors else 0.0
    return result


def session_stats(session: int) -> Iterator[tuple[int, list[bytes]]]:
    """(pid, /proc stat fields after "pid (comm) ") of every live process in a session (a server and its workers)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()  # state is fields[0], the session fields[3]
        if int(fields[3]) == session:
            yield int(entry), fields


def session_cpu_seconds(session: int) -> float:
    """User + system CPU seconds of every live process in a session (the server and its workers), from /proc."""
    ticks = sum(int(fields[11]) + int(fields[12]) for _, fields in session_stats(session))  # utime, stime (proc(5))
    return ticks / CLOCK_TICKS


class Process:
    """A server started in its own session on loopback, ready once `health_url` answers 200; stopped with SIGTERM
    to the whole session."""

    name = "server"

    def __init__(self, command: list[str], env: dict[str, str], health_url: str, cwd: Path = ROOT) -> None:
        self.command, self.env, self.health_url, self.cwd = command, env, health_url, cwd
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Process:
        # The server's output goes to a file, shown only if it does not start (MLServer logs every start at INFO).
        self.log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            self.command, cwd=self.cwd, env=self.env, start_new_session=True, stdout=self.log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.log.seek(0)
                sys.stderr.write(self.log.read().decode(errors="replace")[-4000:])
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}")
            try:
                with urllib.request.urlopen(self.health_url, timeout=1) as response:
                    if response.status == 200:
                        return self
            except OSError:
                time.sleep(0.2)
        self.__exit__()
        raise RuntimeError(f"{self.name} did not start")

    def cpu_seconds(self) -> float:
        """CPU seconds its processes have used so far."""
        assert self.process is not None
        return session_cpu_seconds(self.process.pid)

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=30)
            except ProcessLookupError:
                pass
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        if getattr(self, "log", None) is not None:
            self.log.close()


class Server(Process):
    """The web server (mlmonitor/serve.py: granian, or gunicorn with WEB_SERVER=gunicorn) on a free loopback port with
    its own multiprocess metrics directory."""

    name = "web server"

    def __init__(
        self,
        env: dict[str, str],
        workers: int,
        threads: int,
        monitoring: bool,
        extra: dict[str, str] | None = None,
        tree: Path = ROOT,
    ) -> None:
        self.port = free_port()
        self.metrics_dir = tempfile.mkdtemp(prefix="mlmonitor-bench-prom-")
        server_env = {
            **env,
            "METRICS_ENABLED": "1" if monitoring else "0",
            "PROMETHEUS_MULTIPROC_DIR": self.metrics_dir,
            "WEB_BIND": f"127.0.0.1:{self.port}",
            "WEB_WORKERS": str(workers),
            "WEB_THREADS": str(threads),
            "WEB_LOGLEVEL": "warning",
            **(extra or {}),  # a variant's settings win
        }
        # granian unless the environment (or a variant) sets WEB_SERVER=gunicorn, as `make run` starts it
        command = [PYTHON, "-m", "mlmonitor.serve"]
        super().__init__(command, server_env, f"http://127.0.0.1:{self.port}/healthz", tree)
        self.url = f"http://127.0.0.1:{self.port}/predict"

    def __exit__(self, *exc: object) -> None:
        super().__exit__()
        shutil.rmtree(self.metrics_dir, ignore_errors=True)


def peer_python(peer: str) -> Path:
    """The python of a peer's virtualenv, created (or re-created when its pins changed) with its pinned packages."""
    peer = peer.removesuffix("-lean")  # seed-lean runs in the seed virtualenv
    requirements = PEER_REQUIREMENTS[peer]()
    venv = PEER_CACHE / f"{peer}-venv"
    python = venv / "bin" / "python"
    stamp = hashlib.sha256("\n".join(requirements).encode()).hexdigest()
    marker = venv / ".installed"
    if marker.exists() and marker.read_text() == stamp and python.exists():
        return python
    print(f"creating {venv} with {' '.join(requirements)} (first run only)", flush=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", *requirements], check=True)
    marker.write_text(stamp)
    return python


class SeedPeer(Process):
    """bench/peers/seed_fastapi.py under one uvicorn worker: as the sketch is written (its middleware, h11 and asyncio),
    or with `lean` without the middleware on httptools and uvloop."""

    name = "seed"

    def __init__(self, python: Path, *, lean: bool = False) -> None:
        self.port = free_port()
        stack = ["--http", "httptools", "--loop", "uvloop"] if lean else ["--http", "h11", "--loop", "asyncio"]
        super().__init__(
            [
                str(python),
                "-m",
                "uvicorn",
                "seed_fastapi:app",
                "--app-dir",
                str(ROOT / "bench" / "peers"),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                "1",
                "--no-access-log",
                "--log-level",
                "warning",
                *stack,
            ],
            {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "SEED_PEER_LEAN": "1" if lean else "0"},
            f"http://127.0.0.1:{self.port}/metrics",
        )
        self.url = f"http://127.0.0.1:{self.port}/predict"


class MLServerPeer(Process):
    """MLServer 1.7 serving the demo pipeline from a model repository written for this run."""

    name = "mlserver"

    def __init__(self, python: Path) -> None:
        self.port = free_port()
        self.repository = Path(tempfile.mkdtemp(prefix="mlmonitor-bench-mlserver-"))
        subprocess.run(
            [
                PYTHON,
                str(ROOT / "bench" / "peers" / "mlserver_model.py"),
                str(self.repository),
                str(self.port),
                str(free_port()),
                str(free_port()),
            ],
            check=True,
            cwd=ROOT,
        )
        super().__init__(
            [str(python.parent / "mlserver"), "start", str(self.repository)],
            {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
            f"http://127.0.0.1:{self.port}/v2/models/iris/ready",
            cwd=self.repository,
        )
        self.url = f"http://127.0.0.1:{self.port}/v2/models/iris/infer"

    def __exit__(self, *exc: object) -> None:
        super().__exit__()
        shutil.rmtree(self.repository, ignore_errors=True)


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


def count_rows(env: dict[str, str]) -> int:
    """Rows in the prediction log."""
    url = env["DATABASE_URL"]
    if url.startswith("sqlite"):
        import sqlite3

        with sqlite3.connect(url.split(":///", 1)[1]) as conn:
            return int(conn.execute("SELECT count(*) FROM predictions_prediction").fetchone()[0])
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM predictions_prediction").fetchone()
        assert row is not None
        return int(row[0])


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


def measured(
    server: Process, url: str, script: str, *, connections: int, duration: int, warmup: int
) -> dict[str, float]:
    """A warm-up run (`warmup` seconds, 0 for none), then the measured run with the CPU its server spent per request
    (ms)."""
    if warmup:
        wrk(url, script, connections=connections, duration=warmup)
    cpu_before = server.cpu_seconds()
    result = wrk(url, script, connections=connections, duration=duration)
    result["cpu_s"] = server.cpu_seconds() - cpu_before
    result["cpu_ms_per_request"] = 1000.0 * result["cpu_s"] / max(1.0, result["requests"])
    return result


def alternating_measured(
    servers: list[Server], script: str, *, connections: int, duration: int, slices: int
) -> tuple[list[dict[str, float]], int]:
    """Servers running side by side, measured in turns: `slices` wrk runs of `duration` seconds each per server, the
    order reversed every turn (A B, B A, A B, ...: neither side always goes first). Per server: req/s over all its
    slices, the median of its slices' p50 and p99 (ms), its CPU per request and its non-2xx answers; and the rows
    logged meanwhile (the servers share one database)."""
    totals = [{"requests": 0.0, "non2xx": 0.0, "cpu_s": 0.0} for _ in servers]
    latencies: list[dict[str, list[float]]] = [{"p50_ms": [], "p99_ms": []} for _ in servers]
    before = count_rows(servers[0].env)
    for turn in range(slices):
        order = range(len(servers)) if turn % 2 == 0 else reversed(range(len(servers)))
        for index in order:
            server = servers[index]
            cpu_before = server.cpu_seconds()
            run = wrk(server.url, script, connections=connections, duration=duration)
            totals[index]["cpu_s"] += server.cpu_seconds() - cpu_before
            for key in ("requests", "non2xx"):
                totals[index][key] += run[key]
            for key, values in latencies[index].items():
                values.append(run[key])
    logged = count_rows(servers[0].env) - before
    results = [
        {
            **total,
            "rps": total["requests"] / (slices * duration),
            **{key: statistics.median(values) for key, values in latency.items()},
            "cpu_ms_per_request": 1000.0 * total["cpu_s"] / max(1.0, total["requests"]),
        }
        for total, latency in zip(totals, latencies, strict=True)
    ]
    return results, logged


def persisted_check(result: dict[str, float], rows_per_request: int) -> str:
    """Compare the rows logged during a run with the rows wrk saw answered with 2xx; records a shortfall."""
    answered = (result["requests"] - result["non2xx"]) * rows_per_request
    # Requests cut off when wrk stops may have been committed without being counted: more rows is fine, fewer is not.
    result["lost"] = max(0.0, answered - result["persisted"])
    return f"persisted {result['persisted']:.0f} rows for {answered:.0f} answered"


def line(label: str, result: dict[str, float]) -> str:
    return (
        f"{label:<16} {result['rps']:8.0f} req/s  p50 {result['p50_ms']:6.1f} ms  p99 {result['p99_ms']:6.1f} ms  "
        f"CPU {result['cpu_ms_per_request']:.3f} ms/req  non-2xx {result['non2xx']:.0f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds of each measured wrk run")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--quick", action="store_true", help="one round of 4 s runs, batches of 1,000 only")
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_WORKERS", "2")))
    parser.add_argument("--threads", type=int, default=int(os.environ.get("WEB_THREADS", "8")))
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--batch-rows", default="1000,5000", help="comma-separated batch sizes")
    parser.add_argument(
        "--peers", default="seed,seed-lean,mlserver", help="comma-separated: seed, seed-lean, mlserver; empty for none"
    )
    parser.add_argument("--no-off", action="store_true", help="skip the monitoring on/off pair")
    parser.add_argument(
        "--slices", type=int, default=4, help="alternating wrk slices per server of the monitoring on/off pair"
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        help="another mlmonitor slot per round, monitoring on: `drf` (the DRF view behind the lean one) or "
        "`NAME:KEY=VALUE,KEY=VALUE` (server environment, e.g. `t4:WEB_THREADS=4`; `gunicorn:WEB_SERVER=gunicorn` "
        "runs gunicorn gthread with the same worker and thread counts)",
    )
    parser.add_argument(
        "--pair-off-env",
        default="",
        help="`KEY=VALUE,KEY=VALUE`: environment of the pair's second server, over METRICS_ENABLED=0 (e.g. "
        "`METRICS_ENABLED=1,WEB_HOT_PATH=0` compares two configurations side by side)",
    )
    parser.add_argument(
        "--pair-off-tree",
        default=str(ROOT),
        help="a checkout the pair's second server runs from (e.g. a `git worktree` of an earlier commit, with "
        "`--pair-off-env METRICS_ENABLED=1`: two commits side by side; its migrations must match this tree's)",
    )
    args = parser.parse_args()
    pair_off_env = dict(pair.split("=", 1) for pair in args.pair_off_env.split(",") if pair)
    pair_off_tree = Path(args.pair_off_tree).resolve()
    if args.quick:
        args.duration, args.repeats, args.batch_rows = 4, 1, "1000"
    warmup = 2
    peers = [p for p in args.peers.split(",") if p]
    if unknown := set(peers) - {"seed", "seed-lean", "mlserver"}:
        parser.error(f"unknown peers: {', '.join(sorted(unknown))}")
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")
    pythons = {peer: peer_python(peer) for peer in peers}
    env, cleanup = database_env()
    runs: dict[str, list[dict[str, float]]] = {
        "mlmonitor": [],
        "pair-on": [],
        "pair-off": [],
        **{p: [] for p in peers},
    }
    batch: dict[int, list[dict[str, float]]] = {}
    try:
        for command in (["migrate", "-v0"], ["load_demo"]):
            subprocess.run([PYTHON, "manage.py", *command], cwd=ROOT, env=env, check=True, capture_output=True)
        print(
            f"mlmonitor: {os.environ.get('WEB_SERVER') or 'granian'} workers={args.workers} "
            f"threads={args.threads}; wrk -t2 -c{args.connections} -d{args.duration}s after a {warmup} s warm-up; "
            f"database={env['DATABASE_URL'].split(':')[0]}; peers: {', '.join(peers) or 'none'}",
            flush=True,
        )

        variants: dict[str, tuple[dict[str, str], str]] = {}
        for spec in args.variant:
            if spec == "drf":
                variants["mlmonitor-drf"] = ({}, SINGLE_LUA_DRF)
            else:
                name, _, assignments = spec.partition(":")
                pairs = dict(item.split("=", 1) for item in assignments.split(",") if item)
                variants[f"mlmonitor-{name}"] = (pairs, SINGLE_LUA)
        runs.update({name: [] for name in variants})

        def mlmonitor_run(
            monitoring: bool, extra: dict[str, str] | None = None, script: str = SINGLE_LUA
        ) -> dict[str, float]:
            with Server(env, args.workers, args.threads, monitoring, extra) as server:
                wrk(server.url, script, connections=args.connections, duration=warmup)
                before = count_rows(env)
                result = measured(
                    server, server.url, script, connections=args.connections, duration=args.duration, warmup=0
                )
                result["persisted"] = count_rows(env) - before
            return result

        def pair_run(on_first: bool) -> tuple[list[dict[str, float]], int]:
            """The pair side by side: (on, off) results and the rows logged. Which server starts, warms up and takes
            the first slice alternates with `on_first`, so no order favours one side in every round
            (docs/benchmarks.md, "Monitoring cost: deferred records, tried and not kept")."""
            with contextlib.ExitStack() as stack:
                roles = (True, False) if on_first else (False, True)
                servers = [
                    stack.enter_context(
                        Server(env, args.workers, args.threads, True)
                        if monitoring
                        else Server(env, args.workers, args.threads, False, pair_off_env, pair_off_tree)
                    )
                    for monitoring in roles
                ]
                for server in servers:
                    wrk(server.url, SINGLE_LUA, connections=args.connections, duration=warmup)
                results, logged = alternating_measured(
                    servers,
                    SINGLE_LUA,
                    connections=args.connections,
                    duration=max(1, args.duration // args.slices),
                    slices=args.slices,
                )
                return (results if on_first else results[::-1]), logged

        def peer_run(peer: str) -> dict[str, float]:
            seed = peer.startswith("seed")
            server: Process = SeedPeer(pythons[peer], lean=peer == "seed-lean") if seed else MLServerPeer(pythons[peer])
            script = SINGLE_LUA if seed else MLSERVER_LUA
            with server:
                return measured(
                    server,
                    server.url,  # type: ignore[attr-defined]
                    script,
                    connections=args.connections,
                    duration=args.duration,
                    warmup=warmup,
                )

        for repeat in range(args.repeats):
            order = ["mlmonitor", *([] if args.no_off else ["pair"]), *peers, *variants]
            for slot in order:
                if slot == "pair":
                    (pair_on, pair_off), logged = pair_run(on_first=repeat % 2 == 0)
                    both = {key: pair_on[key] + pair_off[key] for key in ("requests", "non2xx")}
                    both["persisted"] = float(logged)
                    check = persisted_check(both, 1)  # the pair shares one database: checked together
                    pair_on["lost"], pair_off["lost"] = both["lost"], 0.0
                    runs["pair-on"].append(pair_on)
                    runs["pair-off"].append(pair_off)
                    print(f"  round {repeat + 1} {line('pair-on', pair_on)}", flush=True)
                    print(f"  round {repeat + 1} {line('pair-off', pair_off)}  {check}", flush=True)
                    continue
                if slot in variants:
                    result = mlmonitor_run(True, *variants[slot])
                elif slot == "mlmonitor":
                    result = mlmonitor_run(True)
                else:
                    result = peer_run(slot)
                runs[slot].append(result)
                check = f"  {persisted_check(result, 1)}" if slot.startswith("mlmonitor") else ""
                print(f"  round {repeat + 1} {line(slot, result)}{check}", flush=True)

        sizes = [int(s) for s in args.batch_rows.split(",") if s]
        if sizes:
            with Server(env, args.workers, args.threads, True) as server:
                for size in sizes:
                    script = batch_lua(size)
                    wrk(server.url, script, connections=4, duration=warmup)
                    batch[size] = []
                    for _ in range(args.repeats):
                        before = count_rows(env)
                        result = measured(server, server.url, script, connections=4, duration=args.duration, warmup=0)
                        result["persisted"] = count_rows(env) - before
                        result["rows_per_s"] = result["rps"] * size
                        batch[size].append(result)
                        print(
                            f"  batch of {size}: {result['rows_per_s']:.0f} rows/s, p99 {result['p99_ms']:.0f} ms, "
                            f"CPU {1000 * result['cpu_s'] / max(1.0, result['requests'] * size):.4f} ms/row, "
                            f"non-2xx {result['non2xx']:.0f}, {persisted_check(result, size)}",
                            flush=True,
                        )
    finally:
        cleanup()

    def median(slot_runs: list[dict[str, float]], key: str) -> float:
        return statistics.median(run[key] for run in slot_runs)

    print()
    print(f"medians of {args.repeats} interleaved round(s):")
    for slot, slot_runs in runs.items():
        if slot_runs:
            summary = {key: median(slot_runs, key) for key in ("rps", "p50_ms", "p99_ms", "cpu_ms_per_request")}
            print("  " + line(slot, {**summary, "non2xx": sum(r["non2xx"] for r in slot_runs)}))
    for peer in peers:
        ratios = [ours["rps"] / theirs["rps"] for ours, theirs in zip(runs["mlmonitor"], runs[peer], strict=True)]
        print(
            f"ratio mlmonitor / {peer}: {statistics.median(ratios):.2f}x req/s "
            f"(per round {', '.join(f'{r:.2f}' for r in ratios)}); CPU per request "
            f"{median(runs['mlmonitor'], 'cpu_ms_per_request') / median(runs[peer], 'cpu_ms_per_request'):.2f}x theirs"
        )
    if runs["pair-off"]:
        pairs = [on["rps"] / off["rps"] for on, off in zip(runs["pair-on"], runs["pair-off"], strict=True)]
        print(
            f"monitoring cost: {100 * (1 - statistics.median(pairs)):.1f}% of throughput "
            f"(on/off per round {', '.join(f'{p:.3f}' for p in pairs)}; {args.slices} alternating slices per server, "
            f"side by side); CPU per request on/off {median(runs['pair-on'], 'cpu_ms_per_request'):.3f} / "
            f"{median(runs['pair-off'], 'cpu_ms_per_request'):.3f} ms"
        )
    for size, size_runs in batch.items():
        print(f"batch rows/s, batches of {size} (4 connections): {median(size_runs, 'rows_per_s'):.0f}")
    for name in variants:
        pairs = [ours["rps"] / other["rps"] for ours, other in zip(runs["mlmonitor"], runs[name], strict=True)]
        print(
            f"mlmonitor / {name}: {statistics.median(pairs):.3f}x req/s (per round "
            f"{', '.join(f'{p:.3f}' for p in pairs)}); CPU per request "
            f"{median(runs['mlmonitor'], 'cpu_ms_per_request'):.3f} / {median(runs[name], 'cpu_ms_per_request'):.3f} ms"
        )
    checked = [r for slot in ("mlmonitor", "pair-on", *variants) for r in runs[slot]] + [
        r for size_runs in batch.values() for r in size_runs
    ]
    lost = sum(r["lost"] for r in checked)
    print(f"answered but not persisted: {lost:.0f} (over {len(checked)} checked runs)")
    if lost:
        sys.exit(1)


if __name__ == "__main__":
    main()
