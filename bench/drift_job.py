"""The whole drift job against PostgreSQL: read a 50,000-row window of 50 features, compute, persist.

Run: `.venv/bin/python bench/drift_job.py` (PostgreSQL on 127.0.0.1:5432, or BENCH_DATABASE_URL). It creates and
drops its own database `mlmonitor_bench`.
"""

from __future__ import annotations

import io
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FEATURES = 50
ROWS = 50_000
REPEATS = 5


def _setup_django(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_DEBUG", "1")
    os.environ["METRICS_ENABLED"] = "0"
    os.environ["DJANGO_SETTINGS_MODULE"] = "mlmonitor.settings.base"
    import tempfile

    os.environ.setdefault("MEDIA_ROOT", tempfile.mkdtemp(prefix="mlmonitor-bench-media-"))
    # The 50,000 x 50 reference CSV is about 24 MB, over the default upload limit for the admin form.
    os.environ.setdefault("REFERENCE_UPLOAD_MAX_BYTES", str(64 * 1024 * 1024))
    import django

    django.setup()


def full_job_timing(*, features: int = FEATURES, rows: int = ROWS, repeats: int = REPEATS) -> dict[str, Any]:
    """Median seconds of drift_run_compute on a `rows` window of `features` numeric features, on PostgreSQL."""
    import psycopg

    admin_url = os.environ.get("BENCH_DATABASE_ADMIN_URL", "postgresql://root@127.0.0.1:5432/postgres")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS mlmonitor_bench")
        conn.execute("CREATE DATABASE mlmonitor_bench")
    try:
        _setup_django(admin_url.rsplit("/", 1)[0] + "/mlmonitor_bench")
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        import numpy as np
        import skops.io
        from sklearn.linear_model import LogisticRegression

        from drift.services import drift_run_compute, reference_dataset_upload
        from predictions.services import model_version_register, prediction_create

        rng = np.random.default_rng(7)
        names = [f"f{i}" for i in range(features)]
        x_ref = rng.normal(size=(rows, features))
        y_ref = np.where(x_ref[:, 0] + x_ref[:, 1] > 0, "a", "b")
        model = LogisticRegression(max_iter=200).fit(x_ref[:2000], y_ref[:2000])
        buffer = io.BytesIO()
        skops.io.dump(model, buffer)
        version = model_version_register(
            model_name="wide",
            version="1",
            artifact=buffer.getvalue(),
            feature_schema=[{"name": n, "type": "numeric"} for n in names],
            class_labels=["a", "b"],
        )
        csv = io.StringIO()
        csv.write(",".join(names) + "\n")
        np.savetxt(csv, x_ref, delimiter=",", fmt="%.6f")
        upload_started = time.perf_counter()
        reference_dataset_upload(model_version=version, file=csv.getvalue().encode(), filename="ref.csv")
        upload_seconds = time.perf_counter() - upload_started
        window = rng.normal(size=(rows, features))
        window[:, :5] += 0.5
        log_started = time.perf_counter()
        for start in range(0, rows, 5000):
            prediction_create(
                model_name="wide", version=None, payload={"instances": window[start : start + 5000].tolist()}
            )
        log_seconds = time.perf_counter() - log_started
        from drift.models import DriftSettings

        DriftSettings.objects.filter(model=version.model).update(window_size=rows)
        timings, run = [], None
        for _ in range(repeats):
            started = time.perf_counter()
            run = drift_run_compute(model_id=version.model_id)
            timings.append(time.perf_counter() - started)
        assert run is not None and run.window_size == rows and run.feature_count == features
        from django.db import connections

        connections.close_all()
        return {
            "features": features,
            "rows": rows,
            "job_median_s": statistics.median(timings),
            "job_runs_s": timings,
            "drifted": run.drifted_count,
            "reference_upload_s": upload_seconds,
            "log_rows_per_s": rows / log_seconds,
        }
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS mlmonitor_bench WITH (FORCE)")


def main() -> None:
    """Print the figures."""
    result = full_job_timing()
    print(f"full drift job on PostgreSQL: {result['features']} features x {result['rows']} window rows")
    print(
        f"  job (read window + compute + persist): median {result['job_median_s']:.3f} s over "
        f"{len(result['job_runs_s'])} runs {[round(t, 3) for t in result['job_runs_s']]}"
    )
    print(f"  drifted features (5 shifted by 0.5 sd): {result['drifted']}")
    print(f"  reference upload (parse CSV, prepare, score): {result['reference_upload_s']:.2f} s")
    print(f"  logging the window through prediction_create: {result['log_rows_per_s']:.0f} rows/s")


if __name__ == "__main__":
    main()
