"""Server-side time of the dashboard pages with the data in PostgreSQL, timed with Django's test client.

Run: `.venv/bin/python bench/dashboard_bench.py` (PostgreSQL on 127.0.0.1:5432, or BENCH_DATABASE_ADMIN_URL). It
creates and drops its own database `mlmonitor_bench_dashboard` and builds:
- 20 models, each with an active version of 10 numeric features, 2,000 logged predictions of which 1,000 labelled
  (the accuracy window reads 1,000 of each), and 288 drift runs (a day at the default 5-minute schedule);
- a model of 50 features with 288 runs (14,400 per-feature rows) for the model page;
- a model of 100 features (90 numeric, 10 categorical) whose latest run stores chart data, for the drift report.
Each page is requested REPEATS times after two warm-ups; medians in ms and the SQL query count are printed, once with
Prometheus and Alertmanager unreachable (connection refused: the database part alone) and, when Debian's
`prometheus` is installed, once against a real, empty Prometheus (every query answered, none cached).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATABASE = "mlmonitor_bench_dashboard"
MODELS = 20
RUNS = 288
REPEATS = 15


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _setup_django(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "mlmonitor.settings.test"
    os.environ["METRICS_ENABLED"] = "0"
    os.environ.setdefault("MEDIA_ROOT", tempfile.mkdtemp(prefix="mlmonitor-bench-media-"))
    import django

    django.setup()


def _data_build() -> dict[str, Any]:
    """The models, predictions, labels and drift runs described above; returns what the pages need."""
    import numpy as np
    from django.utils import timezone

    from drift.models import DriftRun, FeatureDriftResult
    from predictions.models import ModelVersion, Prediction
    from tests.dashboard.factories import FeatureSpec, feature_result_build, model_version_make

    now = timezone.now()
    rng = np.random.default_rng(5)

    def model_make(name: str, features: list[str]) -> ModelVersion:
        return model_version_make(name=name, features=features, classes=("a", "b", "c"))

    def runs_make(version: ModelVersion, specs: list[FeatureSpec], count: int, *, charts_last: bool) -> DriftRun:
        """`count` runs five minutes apart; per-feature rows reuse one computed result per feature (with its chart
        only on the last run, as a stored run has; earlier runs get the same numbers without chart data)."""
        runs = DriftRun.objects.bulk_create(
            [
                DriftRun(
                    model=version.model,
                    model_version=version,
                    status="ok",
                    computed_at=now - timedelta(minutes=5 * (count - 1 - i)),
                    duration_seconds=0.5,
                    window_size=1000,
                    feature_count=len(specs),
                    drifted_count=2,
                    drifted_share=2 / len(specs),
                    prediction_status="ok",
                    prediction_score=0.05,
                    prediction_threshold=0.1,
                    prediction_reference_distribution={"a": 0.3, "b": 0.3, "c": 0.4},
                    prediction_current_distribution={"a": 0.2, "b": 0.3, "c": 0.5},
                    settings_snapshot={"alpha": 0.05, "correction": "bonferroni", "dataset_drift_share": 0.5},
                )
                for i in range(count)
            ]
        )
        template = [
            feature_result_build(run=runs[-1], spec=spec, threshold=0.15, seed=i, tests=len(specs))
            for i, spec in enumerate(specs)
        ]
        rows = []
        for index, run in enumerate(runs):
            last = index == len(runs) - 1
            for result in template:
                copy = FeatureDriftResult(
                    **{f.attname: getattr(result, f.attname) for f in FeatureDriftResult._meta.concrete_fields}
                )
                copy.pk = None
                copy.run = run
                if not (last and charts_last):
                    copy.chart = {}
                rows.append(copy)
        FeatureDriftResult.objects.bulk_create(rows, batch_size=2000)
        return runs[-1]

    overview_versions = []
    for m in range(MODELS):
        names = [f"f{i}" for i in range(10)]
        version = model_make(f"model-{m:02d}", names)
        overview_versions.append(version)
        features = rng.normal(size=(2000, 10))
        Prediction.objects.bulk_create(
            [
                Prediction(
                    model_version=version,
                    features=features[i].tobytes(),
                    predicted_index=int(rng.integers(0, 3)),
                    confidence=0.8,
                    probabilities=np.asarray([0.8, 0.1, 0.1]).tobytes(),
                    latency_ms=4.0,
                    label_index=int(rng.integers(0, 3)) if i % 2 == 0 else None,
                    labelled_at=now if i % 2 == 0 else None,
                )
                for i in range(2000)
            ],
            batch_size=2000,
        )
        runs_make(
            version, [FeatureSpec(n, 2.0 if i < 2 else 0.0) for i, n in enumerate(names)], RUNS, charts_last=False
        )
    wide50 = model_make("wide-50", [f"f{i}" for i in range(50)])
    runs_make(wide50, [FeatureSpec(f"f{i}", 1.5 if i < 3 else 0.0) for i in range(50)], RUNS, charts_last=False)
    specs100 = [FeatureSpec(f"n{i}", 1.5 if i < 5 else 0.0) for i in range(90)]
    specs100 += [FeatureSpec(f"c{i}", categories=("red", "green", "blue", "grey")) for i in range(10)]
    wide100 = model_make("wide-100", [s.name for s in specs100])
    report_run = runs_make(wide100, specs100, 12, charts_last=True)
    stored = FeatureDriftResult.objects.filter(run=report_run)
    numeric_bytes = [len(json.dumps(r.chart, separators=(",", ":"))) for r in stored if r.feature_type == "numeric"]
    categorical_bytes = [len(json.dumps(r.chart, separators=(",", ":"))) for r in stored if r.feature_type != "numeric"]
    return {
        "report_run": report_run.pk,
        "chart_bytes_numeric": statistics.median(numeric_bytes),
        "chart_bytes_categorical": statistics.median(categorical_bytes),
    }


@contextlib.contextmanager
def _prometheus() -> Iterator[str | None]:
    """A real, empty Prometheus on a free loopback port (None when it is not installed)."""
    binary = shutil.which("prometheus")
    if binary is None:
        yield None
        return
    tmp = Path(tempfile.mkdtemp(prefix="mlmonitor-bench-prom-"))
    port = _free_port()
    (tmp / "prometheus.yml").write_text("global:\n  scrape_interval: 15s\nscrape_configs: []\n")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={tmp / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        import urllib.request

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=1):
                    break
            except OSError:
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=15)
        shutil.rmtree(tmp, ignore_errors=True)


def _time_pages(pages: dict[str, str], *, repeats: int = REPEATS) -> dict[str, tuple[float, int]]:
    """Median ms and query count of each page."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    user = get_user_model().objects.filter(username="bench").first() or get_user_model().objects.create_user(
        username="bench", is_staff=True
    )
    client = Client()
    client.force_login(user)
    results = {}
    for name, path in pages.items():
        for _ in range(2):
            assert client.get(path).status_code == 200, path
        timings = []
        for _ in range(repeats):
            started = time.perf_counter()
            response = client.get(path)
            timings.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200
        with CaptureQueriesContext(connection) as queries:
            client.get(path)
        results[name] = (statistics.median(timings), len(queries.captured_queries))
    return results


def main() -> None:
    """Build the data, time the pages, print the figures."""
    import psycopg

    admin_url = os.environ.get("BENCH_DATABASE_ADMIN_URL", "postgresql://root@127.0.0.1:5432/postgres")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DATABASE}")
    try:
        _setup_django(admin_url.rsplit("/", 1)[0] + "/" + DATABASE)
        from django.conf import settings
        from django.core.management import call_command
        from django.test.utils import setup_test_environment

        setup_test_environment()
        call_command("migrate", verbosity=0)
        started = time.perf_counter()
        built = _data_build()
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")  # planner statistics, as autovacuum would have them on a live database
        print(f"data built in {time.perf_counter() - started:.1f} s")
        logging.getLogger("dashboard").setLevel(logging.WARNING)
        settings.DASHBOARD_CACHE_SECONDS = 0
        settings.ALERTMANAGER_URL = f"http://127.0.0.1:{_free_port()}"
        pages = {
            f"overview, {MODELS} models (+2 wide), range 24h": "/dashboard/?range=24h",
            f"model page, 50 features, {RUNS} runs in range 24h": "/dashboard/models/wide-50/?range=24h",
            "drift report, 100 features (20 cards drawn)": f"/dashboard/drift-runs/{built['report_run']}/",
            "alerts": "/dashboard/alerts/",
        }
        settings.PROMETHEUS_URL = f"http://127.0.0.1:{_free_port()}"
        offline = _time_pages(pages)
        with _prometheus() as prometheus_url:
            online = None
            if prometheus_url:
                settings.PROMETHEUS_URL = prometheus_url
                online = _time_pages(pages)
        print(f"dashboard pages on PostgreSQL, median of {REPEATS} requests (Django test client, server side):")
        print(f"  {'page':55s} {'no Prometheus':>14s} {'real Prometheus':>16s} {'SQL queries':>12s}")
        for name, (ms, count) in offline.items():
            live = f"{online[name][0]:.0f} ms" if online else "n/a"
            print(f"  {name:55s} {ms:11.0f} ms {live:>16s} {count:12d}")
        print(
            f"stored chart data per feature (JSON, median, as the drift engine writes it): numeric "
            f"{built['chart_bytes_numeric']:.0f} B, categorical {built['chart_bytes_categorical']:.0f} B (4 categories)"
        )
        from django.db import connections

        connections.close_all()
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")


if __name__ == "__main__":
    main()
