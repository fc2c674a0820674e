"""Benchmark of the drift engine against a plain per-feature scipy loop on the same data.

Run: .venv/bin/python bench/drift_bench.py   (no Django needed). The last line of the output is
`speedup_vs_scipy_loop: N.Nx`.
"""

from __future__ import annotations

import json
import os
import statistics as pystatistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from drift import statistics as drift_statistics

NUMERIC_FEATURES = 100
CATEGORICAL_FEATURES = 10
REFERENCE_ROWS = 50_000
WINDOW_ROWS = 50_000
# A monitored window usually has a few drifted features; they are also the expensive case for scipy's p-value.
DRIFTED_NUMERIC = 5
DRIFTED_CATEGORICAL = 1
REPEATS = 5
SEED = 20240611


def bench_data_generate(*, seed: int = SEED, drifted_numeric: int = DRIFTED_NUMERIC) -> dict[str, Any]:
    """Generate seeded reference and window matrices: varied numeric distributions plus categorical codes."""
    rng = np.random.default_rng(seed)

    def numeric_sample(kind: int, rows: int, shift: float) -> np.ndarray:
        # Continuous, skewed, heavy-tied (integers, rounded) and bounded shapes, as real features are.
        if kind == 0:
            return rng.normal(shift, 1.0, rows)
        if kind == 1:
            return rng.lognormal(0.0 + shift, 0.8, rows)
        if kind == 2:
            return rng.poisson(4.0 + 4.0 * shift, rows).astype(np.float64)
        if kind == 3:
            return np.round(rng.normal(shift, 2.0, rows), 1)
        return rng.uniform(0.0 + shift, 1.0 + shift, rows)

    reference = np.empty((REFERENCE_ROWS, NUMERIC_FEATURES))
    window = np.empty((WINDOW_ROWS, NUMERIC_FEATURES))
    drifted = set(range(0, NUMERIC_FEATURES, NUMERIC_FEATURES // drifted_numeric)) if drifted_numeric else set()
    for j in range(NUMERIC_FEATURES):
        reference[:, j] = numeric_sample(j % 5, REFERENCE_ROWS, 0.0)
        window[:, j] = numeric_sample(j % 5, WINDOW_ROWS, 0.1 if j in drifted else 0.0)
    # A tenth of the features have 2% missing values (NaN and inf), on both sides.
    for j in range(3, NUMERIC_FEATURES, 10):
        reference[rng.random(REFERENCE_ROWS) < 0.02, j] = np.nan
        window[rng.random(WINDOW_ROWS) < 0.01, j] = np.nan
        window[rng.random(WINDOW_ROWS) < 0.01, j] = np.inf

    categories = [tuple(f"c{i}" for i in range(3 + 3 * j)) for j in range(CATEGORICAL_FEATURES)]
    reference_codes = np.empty((REFERENCE_ROWS, CATEGORICAL_FEATURES))
    window_codes = np.empty((WINDOW_ROWS, CATEGORICAL_FEATURES))
    for j, names in enumerate(categories):
        shares = rng.dirichlet(np.full(len(names), 2.0))
        reference_codes[:, j] = rng.choice(len(names), REFERENCE_ROWS, p=shares)
        window_shares = rng.dirichlet(np.full(len(names), 2.0)) if j < DRIFTED_CATEGORICAL else shares
        window_codes[:, j] = rng.choice(len(names), WINDOW_ROWS, p=window_shares)
    # Missing and never-seen codes in the window.
    window_codes[rng.random(window_codes.shape) < 0.01] = np.nan
    window_codes[rng.random(window_codes.shape) < 0.001] = 99.0
    return {
        "numeric_names": [f"num_{j}" for j in range(NUMERIC_FEATURES)],
        "categorical_names": [f"cat_{j}" for j in range(CATEGORICAL_FEATURES)],
        "categories": categories,
        "reference": reference,
        "window": window,
        "reference_codes": reference_codes,
        "window_codes": window_codes,
    }


def scipy_loop(data: dict[str, Any]) -> tuple[list[Any], list[Any]]:
    """The plain approach: one ks_2samp per numeric column, one chi2_contingency per categorical column."""
    reference, window = data["reference"], data["window"]
    ks_results = []
    for j in range(reference.shape[1]):
        a, b = reference[:, j], window[:, j]
        ks_results.append(stats.ks_2samp(a[np.isfinite(a)], b[np.isfinite(b)]))
    chi2_results = []
    for j, names in enumerate(data["categories"]):
        table = np.stack(
            [
                _category_table_row(data["reference_codes"][:, j], len(names)),
                _category_table_row(data["window_codes"][:, j], len(names)),
            ]
        )
        table = table[:, table.sum(axis=0) > 0]
        chi2_results.append(stats.chi2_contingency(table))
    return ks_results, chi2_results


def _category_table_row(codes: np.ndarray, size: int) -> np.ndarray:
    """Counts of codes 0..size-1 and, last, of any other non-missing code."""
    present = codes[~np.isnan(codes)]
    known = (present >= 0) & (present < size) & (present == np.floor(present))
    return np.append(np.bincount(present[known].astype(np.int64), minlength=size), np.count_nonzero(~known))


def engine_run(
    numeric: drift_statistics.NumericReference, categorical: drift_statistics.CategoricalReference, data: dict[str, Any]
) -> tuple[list[drift_statistics.FeatureDrift], list[drift_statistics.FeatureDrift]]:
    """The engine: KS on every numeric feature, chi2 on every categorical feature (each result with its chart)."""
    numeric_results = drift_statistics.numeric_drift_compute(
        reference=numeric, window=data["window"], tests=["ks"] * NUMERIC_FEATURES, min_samples=100
    )
    categorical_results = drift_statistics.categorical_drift_compute(
        reference=categorical, window=data["window_codes"], tests=["chi2"] * CATEGORICAL_FEATURES, min_samples=100
    )
    return numeric_results, categorical_results


def _timed(action: Callable[[], object]) -> tuple[float, float]:
    """Wall and CPU seconds (all threads) of one run."""
    started, started_cpu = time.perf_counter(), time.process_time()
    action()
    return time.perf_counter() - started, time.process_time() - started_cpu


def _interleaved_medians(
    actions: dict[str, Callable[[], object]], repeats: int = REPEATS
) -> dict[str, tuple[float, float]]:
    """Median wall and CPU seconds of each action; runs alternate so that all see the same machine load."""
    for action in actions.values():
        action()  # warm-up: page faults, lazy imports, caches
    timings: dict[str, list[tuple[float, float]]] = {name: [] for name in actions}
    for _ in range(repeats):
        for name, action in actions.items():
            timings[name].append(_timed(action))
    return {
        name: (pystatistics.median(w for w, _ in runs), pystatistics.median(c for _, c in runs))
        for name, runs in timings.items()
    }


def engine_vs_scipy_loop(*, drifted_numeric: int = DRIFTED_NUMERIC) -> dict[str, float]:
    """Time the engine against the scipy loop on the bench data, check they agree, and return the figures."""
    data = bench_data_generate(drifted_numeric=drifted_numeric)

    started = time.perf_counter()
    numeric = drift_statistics.numeric_reference_prepare(names=data["numeric_names"], values=data["reference"])
    categorical = drift_statistics.categorical_reference_prepare(
        names=data["categorical_names"], categories=data["categories"], codes=data["reference_codes"]
    )
    prepare_seconds = time.perf_counter() - started

    blob = numeric.to_bytes()
    timings = _interleaved_medians(
        {
            "engine": lambda: engine_run(numeric, categorical, data),
            "scipy": lambda: scipy_loop(data),
            "load": lambda: drift_statistics.NumericReference.from_bytes(blob),
        }
    )
    (engine_seconds, engine_cpu), (scipy_seconds, scipy_cpu) = timings["engine"], timings["scipy"]

    numeric_results, categorical_results = engine_run(numeric, categorical, data)
    ks_results, chi2_results = scipy_loop(data)
    ks_d = max(abs(r.statistic - s.statistic) for r, s in zip(numeric_results, ks_results, strict=True))
    ks_p = max(abs(r.p_value - s.pvalue) for r, s in zip(numeric_results, ks_results, strict=True))
    chi2_stat = max(
        abs(r.statistic - s.statistic) / max(1.0, s.statistic)
        for r, s in zip(categorical_results, chi2_results, strict=True)
    )
    chi2_p = max(abs(r.p_value - s.pvalue) for r, s in zip(categorical_results, chi2_results, strict=True))
    if ks_d > 1e-12 or ks_p > 1e-9 or chi2_stat > 1e-9 or chi2_p > 1e-9:
        raise AssertionError(f"engine and scipy disagree: D {ks_d}, p {ks_p}, chi2 {chi2_stat}, chi2 p {chi2_p}")
    # The chart data stored per feature result, as the JSONField serializes it.
    numeric_chart_bytes = [len(json.dumps(result.chart)) for result in numeric_results]
    categorical_chart_bytes = [len(json.dumps(result.chart)) for result in categorical_results]
    return {
        "engine_seconds": engine_seconds,
        "scipy_loop_seconds": scipy_seconds,
        "speedup": scipy_seconds / engine_seconds,
        "engine_cpu_seconds": engine_cpu,
        "scipy_loop_cpu_seconds": scipy_cpu,
        "prepare_seconds": prepare_seconds,
        "reference_blob_mib": len(blob) / 2**20,
        "reference_load_seconds": timings["load"][0],
        "max_ks_d_difference": ks_d,
        "max_ks_p_difference": ks_p,
        "max_chi2_relative_difference": chi2_stat,
        "max_chi2_p_difference": chi2_p,
        "numeric_chart_bytes_mean": pystatistics.mean(numeric_chart_bytes),
        "numeric_chart_bytes_max": max(numeric_chart_bytes),
        "categorical_chart_bytes_max": max(categorical_chart_bytes),
    }


def _report(label: str, figures: dict[str, float]) -> None:
    """Print one scenario's figures."""
    print(f"[{label}]")
    print(
        f"  engine (KS x{NUMERIC_FEATURES} + chi2 x{CATEGORICAL_FEATURES}): {figures['engine_seconds'] * 1e3:8.1f} ms"
    )
    print(f"  scipy loop (ks_2samp + chi2_contingency):  {figures['scipy_loop_seconds'] * 1e3:8.1f} ms")
    print(f"  speedup:                                   {figures['speedup']:8.1f}x")
    print(
        f"  CPU time (all threads): engine {figures['engine_cpu_seconds'] * 1e3:.1f} ms, "
        f"scipy loop {figures['scipy_loop_cpu_seconds'] * 1e3:.1f} ms"
    )
    print(f"  reference prepare (once, at upload):       {figures['prepare_seconds'] * 1e3:8.1f} ms")
    print(
        f"  reference blob: {figures['reference_blob_mib']:.1f} MiB, "
        f"from_bytes {figures['reference_load_seconds'] * 1e3:.1f} ms"
    )
    print(
        f"  agreement: max |dD| {figures['max_ks_d_difference']:.1e}, max |dp| {figures['max_ks_p_difference']:.1e}, "
        f"chi2 rel {figures['max_chi2_relative_difference']:.1e}, chi2 |dp| {figures['max_chi2_p_difference']:.1e}"
    )
    print(
        f"  chart JSON per feature (computed in the engine run): numeric mean {figures['numeric_chart_bytes_mean']:.0f}"
        f" B, max {figures['numeric_chart_bytes_max']} B over {NUMERIC_FEATURES} features; categorical max "
        f"{figures['categorical_chart_bytes_max']} B"
    )


def _full_job_report() -> None:
    """The whole job on PostgreSQL (bench/drift_job.py): read a 50,000-row window of 50 features, compute, persist."""
    import psycopg

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from drift_job import full_job_timing

    try:
        result = full_job_timing()
    except psycopg.OperationalError as exc:
        print(f"full drift job: skipped, PostgreSQL is not reachable ({exc})")
        return
    print(
        f"full drift job on PostgreSQL ({result['features']} features, {result['rows']:,}-row window; read, compute, "
        f"persist): median {result['job_median_s']:.3f} s over {len(result['job_runs_s'])} runs, "
        f"{result['drifted']} of 5 shifted features flagged"
    )


def main() -> None:
    """Run the engine-vs-scipy comparison and print the figures."""
    print(
        f"drift bench: {NUMERIC_FEATURES} numeric + {CATEGORICAL_FEATURES} categorical features, "
        f"{REFERENCE_ROWS:,} reference rows, {WINDOW_ROWS:,} window rows, median of {REPEATS} runs, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start"
    )
    no_drift = engine_vs_scipy_loop(drifted_numeric=0)
    _report("no drifted feature", no_drift)
    drifted = engine_vs_scipy_loop()
    _report(f"{DRIFTED_NUMERIC} drifted numeric + {DRIFTED_CATEGORICAL} drifted categorical features", drifted)
    _full_job_report()
    # The headline is the less favourable scenario: with drift, scipy also pays for exact Smirnov p-values.
    print(f"speedup_vs_scipy_loop: {min(no_drift['speedup'], drifted['speedup']):.1f}x")


if __name__ == "__main__":
    main()
