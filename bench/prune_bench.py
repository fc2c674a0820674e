"""Pruning 10 million old predictions on PostgreSQL while predictions are served: p99 before and during.

Fills the prediction log with N rows created 40 to 31 days ago (INSERT ... SELECT generate_series, ids built as
UUIDv7 from their time, VACUUM ANALYZE after, as an aged table would be), starts the web server as configured for
production, measures single-row predictions with wrk for --seconds (before), then starts `manage.py prune_history`
(retention 30 days: every generated row goes) and measures again for --seconds while it runs (during; the window
must end before the prune does, else the script says so). Prints p50/p99 of both windows, the p99 ratio
(target: at most 2), the prune's rows per second, and checks that the generated rows are gone and the ones the load
created are not.

Run: `.venv/bin/python bench/prune_bench.py [--rows 10000000] [--seconds 30] [--connections 16]`; the prune takes
PRUNE_BATCH_SIZE and PRUNE_BATCH_PAUSE_SECONDS from the environment (the settings' defaults otherwise).
Needs wrk (Debian package `wrk`) and PostgreSQL on 127.0.0.1:5432; about 3 GB of disk for 10^7 rows.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

import psycopg
from predict_bench import PYTHON, ROOT, SINGLE_LUA, Server, database_env, wrk

DB_NAME = "mlmonitor_bench_prune"
DAY_MS = 86_400_000

# Ids are UUIDv7 (predictions/ids.py): 48 bits of Unix milliseconds, version 7, 12 random bits, variant 10, 62 random
# bits. Row g of N gets a time spread evenly from 40 to 31 days ago, so ids ascend with g like a real log's.
FILL_SQL = """
INSERT INTO predictions_prediction
    (id, model_version_id, features, predicted_index, confidence, probabilities, latency_ms)
SELECT
    (lpad(to_hex(%(start_ms)s::bigint + (g::bigint * %(span_ms)s::bigint) / %(size)s::bigint), 12, '0')
        || '7' || substr(md5((g + %(offset)s)::text), 1, 3)
        || '8' || substr(md5((g + %(offset)s)::text), 4, 15))::uuid,
    %(version_id)s, %(features)s, (g %% 3)::smallint, 0.9, %(probabilities)s, 1.0
FROM generate_series(1, %(size)s) AS g
"""
CHUNK = 1_000_000


def fill(dsn: str, rows: int) -> float:
    """Insert `rows` predictions of the active iris version, 40 to 31 days old, in chunks of a million, then
    VACUUM ANALYZE; returns seconds taken."""
    started = time.perf_counter()
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT v.id FROM predictions_modelversion v JOIN predictions_mlmodel m ON m.id = v.model_id "
            "WHERE m.name = 'iris' AND v.is_active"
        ).fetchone()
        assert row is not None, "load_demo did not register iris"
        start_ms = int(time.time() * 1000) - 40 * DAY_MS
        for offset in range(0, rows, CHUNK):
            size = min(CHUNK, rows - offset)
            with conn.transaction():
                conn.execute("SET LOCAL synchronous_commit = off")
                conn.execute(
                    FILL_SQL,
                    {
                        "start_ms": start_ms + offset * 9 * DAY_MS // rows,
                        "span_ms": size * 9 * DAY_MS // rows,
                        "size": size,
                        "offset": offset,
                        "version_id": row[0],
                        "features": b"\0" * 32,
                        "probabilities": b"\0" * 24,
                    },
                )
            print(f"  filled {offset + size:,} rows ({time.perf_counter() - started:.0f} s)", flush=True)
        conn.execute("VACUUM ANALYZE predictions_prediction")
    return time.perf_counter() - started


def counts(dsn: str, retention_days: int) -> tuple[int, int, int]:
    """(rows older than the retention, rows newer, table size in bytes with indexes)."""
    cutoff_ms = int(time.time() * 1000) - retention_days * DAY_MS
    bound = f"{cutoff_ms:012x}"[:8] + "-" + f"{cutoff_ms:012x}"[8:] + "-7000-8000-000000000000"
    with psycopg.connect(dsn) as conn:
        old = conn.execute("SELECT count(*) FROM predictions_prediction WHERE id < %s::uuid", [bound]).fetchone()
        new = conn.execute("SELECT count(*) FROM predictions_prediction WHERE id >= %s::uuid", [bound]).fetchone()
        size = conn.execute("SELECT pg_total_relation_size('predictions_prediction')").fetchone()
    assert old is not None and new is not None and size is not None
    return int(old[0]), int(new[0]), int(size[0])


def main() -> None:
    """Fill, measure before, measure during the prune, report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--seconds", type=int, default=30, help="length of each measuring window")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database afterwards")
    args = parser.parse_args()
    env, drop = database_env(DB_NAME)
    env["STATIC_ROOT"] = str(ROOT / "bench")  # any existing directory: whitenoise warns on each request otherwise
    dsn = env["DATABASE_URL"]
    retention = 30
    try:
        for command in (["migrate", "-v0"], ["load_demo"]):
            subprocess.run([PYTHON, "manage.py", *command], cwd=ROOT, env=env, check=True, capture_output=True)
        print(f"filling {args.rows:,} predictions 40 to 31 days old ...", flush=True)
        filled = fill(dsn, args.rows)
        old, _, size = counts(dsn, retention)
        print(f"filled in {filled:.0f} s: {old:,} old rows, table with indexes {size / 2**30:.2f} GiB")
        with Server(env, args.workers, args.threads, True) as server:
            url = f"http://127.0.0.1:{server.port}/predict"
            wrk(url, SINGLE_LUA, connections=args.connections, duration=3)  # warm-up: load the model
            before = wrk(url, SINGLE_LUA, connections=args.connections, duration=args.seconds)
            print(f"before: {before['rps']:.0f} req/s, p50 {before['p50_ms']:.1f} ms, p99 {before['p99_ms']:.1f} ms")
            prune_env = {**env, "PREDICTION_RETENTION_DAYS": str(retention)}
            log = Path(ROOT / ".prune_bench.log")
            started = time.perf_counter()
            with log.open("w") as handle:
                prune = subprocess.Popen(
                    [PYTHON, "manage.py", "prune_history", "-v", "2"],
                    cwd=ROOT,
                    env=prune_env,
                    stdout=handle,
                    stderr=handle,
                )
                while "pruning in batches" not in log.read_text() and prune.poll() is None:
                    time.sleep(0.05)  # measure from the first batch on, not while the command imports Django
                during = wrk(url, SINGLE_LUA, connections=args.connections, duration=args.seconds)
                covered = prune.poll() is None
                prune.wait()
            pruned_in = time.perf_counter() - started
            report = log.read_text()
            log.unlink()
            print(f"during: {during['rps']:.0f} req/s, p50 {during['p50_ms']:.1f} ms, p99 {during['p99_ms']:.1f} ms")
            if not covered:
                print("!! the prune ended before the measuring window: shorten --seconds or add --rows")
        left, new, size_after = counts(dsn, retention)
        print()
        for line in report.strip().splitlines()[:2]:
            print(f"prune_history: {line}")
        own = re.search(r"removed (\d+) rows .* in (\d+) batches, ([\d.]+) s", report)
        if own:
            rows, batches, seconds = int(own.group(1)), int(own.group(2)), float(own.group(3))
            print(f"  {rows:,} rows in {batches:,} batches, {seconds:.1f} s: {rows / seconds:,.0f} rows/s")
        print(f"  {pruned_in:.0f} s wall including the command's start; old rows left: {left}")
        print(f"  newer rows kept: {new:,} (the load's own predictions); table now {size_after / 2**30:.2f} GiB")
        print(f"p99 during / before: {during['p99_ms'] / before['p99_ms']:.2f} (target <= 2)")
        print(f"p50 during / before: {during['p50_ms'] / before['p50_ms']:.2f}")
        print(f"throughput during / before: {during['rps'] / before['rps']:.2f}")
        print(f"non-2xx answers: before {before['non2xx']:.0f}, during {during['non2xx']:.0f}")
    finally:
        if not args.keep:
            drop()


if __name__ == "__main__":
    sys.exit(main())
