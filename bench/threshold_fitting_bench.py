"""Cost of fitting suggested drift thresholds (drift/threshold_fitting.py) for one reference and window size.

Run: .venv/bin/python bench/threshold_fitting_bench.py [--rows 20000 --numeric 20 --categorical 5 --window 1000]
Prints the time of the numeric and categorical fits at the default 500 resamples (KS and chi-squared, the defaults of
a drift run), and the time per resample. No Django needed.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from drift.threshold_fitting import DEFAULT_RESAMPLES, categorical_thresholds_fit, numeric_thresholds_fit


def main() -> None:
    """Fit thresholds on a seeded synthetic reference and print the times."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--numeric", type=int, default=20)
    parser.add_argument("--categorical", type=int, default=5)
    parser.add_argument("--window", type=int, default=1_000)
    parser.add_argument("--resamples", type=int, default=DEFAULT_RESAMPLES)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    numeric = rng.normal(size=(args.rows, args.numeric)) * rng.uniform(0.5, 3.0, args.numeric)
    numeric[:, ::4] = np.round(numeric[:, ::4])  # tied features, as counts and rounded values are
    categories = [tuple(f"c{i}" for i in range(3 + j)) for j in range(args.categorical)]
    codes = np.column_stack([rng.integers(0, len(c), args.rows) for c in categories]).astype(np.float64)

    started = time.perf_counter()
    numeric_thresholds_fit(
        names=[f"n{j}" for j in range(args.numeric)],
        values=numeric,
        tests=["ks"] * args.numeric,
        window_size=args.window,
        min_samples=100,
        resamples=args.resamples,
    )
    numeric_s = time.perf_counter() - started
    started = time.perf_counter()
    categorical_thresholds_fit(
        names=[f"c{j}" for j in range(args.categorical)],
        categories=categories,
        codes=codes,
        tests=["chi2"] * args.categorical,
        window_size=args.window,
        min_samples=100,
        resamples=args.resamples,
    )
    categorical_s = time.perf_counter() - started
    print(
        f"reference {args.rows} rows x ({args.numeric} numeric, {args.categorical} categorical), window {args.window}, "
        f"{args.resamples} resamples"
    )
    print(f"numeric fit: {numeric_s:.2f} s ({numeric_s / args.resamples * 1e3:.1f} ms per resample)")
    print(f"categorical fit: {categorical_s:.2f} s ({categorical_s / args.resamples * 1e3:.1f} ms per resample)")
    print(f"threshold_fit_seconds: {numeric_s + categorical_s:.2f}")


if __name__ == "__main__":
    main()
