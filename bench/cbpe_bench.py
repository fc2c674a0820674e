"""Benchmark of our CBPE (drift/estimation.py) against NannyML 0.13's CBPE on the same reference and windows.

Run: .venv/bin/python bench/cbpe_bench.py
The first run creates bench/.venv-nannyml (NannyML and its pins, from PyPI; a few minutes), later runs reuse it.

Data: the covariate-shift cases of tests/drift/test_estimation.py (imported, same seed): a binary and a three-class
logistic regression, a labelled reference of 20,000 rows and 72 windows of 1,000 rows in 6 shift steps. NannyML
gets the same reference (probabilities, predicted class = argmax, labels) and the windows concatenated with
chunk_size=1000, so its chunks are our windows. Both sides use the same calibration method family: isotonic
regression per class, kept only where NannyML's cross-validated ECE check says it helps, one-vs-rest and
renormalized for multiclass; both environments have the project's numpy, scipy and scikit-learn pins.

NannyML's binary F1 is the positive class's; our F1 is macro. The script compares our class-1 F1 with NannyML's
F1, and our macro F1 with the mean of NannyML's F1 for class 1 and for class 0 (a second NannyML run on the
mirrored problem: 1 - p, labels and predictions flipped). Times: fit + estimate of all windows, median of
--repeats runs, measured inside each process (imports and data loading excluded); NannyML's mirrored run is not in
its time. The last lines are `<case>_max_mean_abs_diff: X` and `<case>_nannyml_over_ours_time: Rx`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics as pystatistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from drift.estimation import cbpe_estimate, cbpe_reference_prepare  # noqa: E402
from tests.drift.test_estimation import SHIFT_SEED, ShiftData, shift_data_build  # noqa: E402

NANNYML = "nannyml==0.13.1"
# nannyml 0.13.1 imports statsmodels without declaring it; pandas is pinned for repeatable runs.
NANNYML_EXTRA = ("statsmodels==0.15.0", "pandas==3.1.1")
# The project's pins of the numerical stack, so that both sides run the same isotonic regression and splits.
SHARED_PINS = ("numpy", "scipy", "scikit-learn")
DEFAULT_VENV = ROOT / "bench" / ".venv-nannyml"
CASES = ("binary", "three_class")
CHUNK_ROWS = 1_000

# Runs in the NannyML virtualenv: argv = input npz, output json, repeats.
NANNYML_SCRIPT = r"""
import json, os, sys, time, warnings
os.environ["NML_DISABLE_USAGE_LOGGING"] = "1"
warnings.filterwarnings("ignore")
import numpy as np, pandas as pd, nannyml
from nannyml.calibration import NoopCalibrator

data = np.load(sys.argv[1])
repeats = int(sys.argv[3])
classes = data["reference_probabilities"].shape[1]

def frame(probabilities, labels, mirrored=False):
    predicted = probabilities.argmax(axis=1)
    if classes == 2:
        positive = probabilities[:, 1]
        if mirrored:
            return pd.DataFrame({"p": 1.0 - positive, "y_pred": 1 - predicted, "y": 1 - labels})
        return pd.DataFrame({"p": positive, "y_pred": predicted, "y": labels})
    columns = {f"p{c}": probabilities[:, c] for c in range(classes)}
    return pd.DataFrame({**columns, "y_pred": predicted, "y": labels})

def run(mirrored=False):
    reference = frame(data["reference_probabilities"], data["reference_labels"], mirrored)
    analysis = frame(data["window_probabilities"], data["window_labels"], mirrored)
    outputs = "p" if classes == 2 else {c: f"p{c}" for c in range(classes)}
    problem = "classification_binary" if classes == 2 else "classification_multiclass"
    started = time.perf_counter()
    estimator = nannyml.CBPE(
        y_pred_proba=outputs, y_pred="y_pred", y_true="y", problem_type=problem,
        metrics=["accuracy", "f1"], chunk_size=int(sys.argv[4]),
    )
    estimator.fit(reference)
    fitted = time.perf_counter()
    result = estimator.estimate(analysis).filter(period="analysis").to_df()
    done = time.perf_counter()
    if classes == 2:
        calibrated = [bool(estimator.needs_calibration)]
    else:
        calibrated = [not isinstance(estimator._calibrators[c], NoopCalibrator) for c in range(classes)]
    columns = {
        f"{metric}_{field}": result[(metric, field)].astype(float).tolist()
        for metric in ("accuracy", "f1")
        for field in ("value", "realized", "lower_confidence_boundary", "upper_confidence_boundary")
    }
    return {"fit_s": fitted - started, "estimate_s": done - fitted, "calibrated": calibrated, **columns}

runs = [run() for _ in range(repeats)]
output = {"version": nannyml.__version__, "runs": runs}
if classes == 2:
    output["mirrored"] = run(mirrored=True)
with open(sys.argv[2], "w") as handle:
    json.dump(output, handle)
"""


def nannyml_requirements() -> list[str]:
    """NannyML, its undeclared import, and the project's numerical pins."""
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        name, _, version = line.partition("==")
        if name.strip().lower() in SHARED_PINS and version:
            pins[name.strip().lower()] = f"{name.strip()}=={version.strip()}"
    missing = set(SHARED_PINS) - set(pins)
    if missing:
        raise SystemExit(f"requirements.txt does not pin {sorted(missing)}")
    return [NANNYML, *NANNYML_EXTRA, *pins.values()]


def nannyml_venv_ensure(venv: Path) -> Path:
    """Create (or reuse) the NannyML virtualenv with exactly the pinned requirements; return its python."""
    requirements = nannyml_requirements()
    stamp = hashlib.sha256("\n".join(requirements).encode()).hexdigest()
    marker = venv / ".installed"
    python = venv / "bin" / "python"
    if marker.exists() and marker.read_text() == stamp and python.exists():
        return python
    print(f"creating {venv} with {' '.join(requirements)} (first run: a few minutes)", flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", *requirements], check=True)
    marker.write_text(stamp)
    return python


def ours_run(data: ShiftData, repeats: int) -> dict[str, Any]:
    """Fit and estimate with drift.estimation: times (medians) and per-window values of the last run."""
    fit_times, estimate_times = [], []
    estimates = []
    for _ in range(repeats):
        started = time.perf_counter()
        reference = cbpe_reference_prepare(probabilities=data.reference_probabilities, labels=data.reference_labels)
        fitted = time.perf_counter()
        estimates = [
            cbpe_estimate(reference=reference, probabilities=probabilities, labels=labels)
            for probabilities, labels in data.windows()
        ]
        fit_times.append(fitted - started)
        estimate_times.append(time.perf_counter() - fitted)
    return {
        "fit_s": pystatistics.median(fit_times),
        "estimate_s": pystatistics.median(estimate_times),
        "calibrated": list(reference.calibrated),
        "accuracy": np.array([e.accuracy.value for e in estimates]),
        "accuracy_realized": np.array([e.accuracy.realized for e in estimates], dtype=float),
        "accuracy_band": np.array([(e.accuracy.lower, e.accuracy.upper) for e in estimates]),
        "f1_macro": np.array([e.f1_macro.value for e in estimates]),
        "f1_macro_realized": np.array([e.f1_macro.realized for e in estimates], dtype=float),
        "f1_macro_band": np.array([(e.f1_macro.lower, e.f1_macro.upper) for e in estimates]),
        "f1_class_1": np.array([e.f1_per_class[1] for e in estimates], dtype=float),
    }


def nannyml_run(python: Path, data: ShiftData, repeats: int, workdir: Path) -> dict[str, Any]:
    """Run NannyML's CBPE in its virtualenv on the same data; return its output (times per repeat)."""
    inputs, outputs, script = workdir / "data.npz", workdir / "nannyml.json", workdir / "nannyml_cbpe.py"
    np.savez(
        inputs,
        reference_probabilities=data.reference_probabilities,
        reference_labels=data.reference_labels,
        window_probabilities=data.window_probabilities,
        window_labels=data.window_labels,
    )
    script.write_text(NANNYML_SCRIPT)
    environment = {**os.environ, "NML_DISABLE_USAGE_LOGGING": "1", "PYTHONWARNINGS": "ignore"}
    subprocess.run(
        [str(python), str(script), str(inputs), str(outputs), str(repeats), str(CHUNK_ROWS)],
        check=True,
        env=environment,
    )
    return json.loads(outputs.read_text())


def coverage(band: np.ndarray, realized: np.ndarray) -> float:
    """Share of windows whose realized value lies in [lower, upper]."""
    return float(((band[:, 0] <= realized) & (realized <= band[:, 1])).mean())


def case_report(case: str, ours: dict[str, Any], theirs: dict[str, Any]) -> dict[str, float]:
    """Print one case's agreement, coverage and times; return its headline figures."""
    last = theirs["runs"][-1]
    their_accuracy = np.array(last["accuracy_value"])
    their_f1 = np.array(last["f1_value"])
    windows = len(ours["accuracy"])
    if len(their_accuracy) != windows:
        raise SystemExit(f"NannyML made {len(their_accuracy)} chunks of {windows} windows")
    realized_gap = np.abs(np.array(last["accuracy_realized"]) - ours["accuracy_realized"]).max()
    accuracy_diff = np.abs(their_accuracy - ours["accuracy"])
    lines = [f"== {case}: {windows} windows of {CHUNK_ROWS} rows, NannyML {theirs['version']}"]
    mirrored = f" (mirrored class-0 run {theirs['mirrored']['calibrated']})" if case == "binary" else ""
    lines.append(f"calibrated classes: ours {ours['calibrated']}, NannyML {last['calibrated']}{mirrored}")
    lines.append(f"realized accuracy, max difference between the two computations: {realized_gap:.2e}")
    lines.append(f"accuracy: mean |NannyML - ours| {accuracy_diff.mean():.2e} (max {accuracy_diff.max():.2e})")
    if case == "binary":
        positive_diff = np.abs(their_f1 - ours["f1_class_1"])
        their_macro = (their_f1 + np.array(theirs["mirrored"]["f1_value"])) / 2
        macro_diff = np.abs(their_macro - ours["f1_macro"])
        lines.append(f"F1 of class 1: mean |NannyML - ours| {positive_diff.mean():.2e} (max {positive_diff.max():.2e})")
        lines.append(
            f"macro F1 (NannyML: mean of class-1 and mirrored class-0 runs): mean |diff| {macro_diff.mean():.2e} "
            f"(max {macro_diff.max():.2e})"
        )
        f1_diffs = [positive_diff.mean(), macro_diff.mean()]
    else:
        macro_diff = np.abs(their_f1 - ours["f1_macro"])
        lines.append(f"macro F1: mean |NannyML - ours| {macro_diff.mean():.2e} (max {macro_diff.max():.2e})")
        f1_diffs = [macro_diff.mean()]
    their_accuracy_band = np.column_stack(
        (last["accuracy_lower_confidence_boundary"], last["accuracy_upper_confidence_boundary"])
    )
    lines.append(
        f"accuracy band covers realized: ours {coverage(ours['accuracy_band'], ours['accuracy_realized']):.1%}, "
        f"NannyML {coverage(their_accuracy_band, ours['accuracy_realized']):.1%}"
    )
    ours_within = (np.abs(ours["accuracy"] - ours["accuracy_realized"]) <= 0.03).mean()
    their_within = (np.abs(their_accuracy - ours["accuracy_realized"]) <= 0.03).mean()
    lines.append(f"estimate within 0.03 of realized accuracy: ours {ours_within:.1%}, NannyML {their_within:.1%}")
    their_fit = pystatistics.median(run["fit_s"] for run in theirs["runs"])
    their_estimate = pystatistics.median(run["estimate_s"] for run in theirs["runs"])
    ours_total, theirs_total = ours["fit_s"] + ours["estimate_s"], their_fit + their_estimate
    lines.append(
        f"time (median): ours fit {ours['fit_s'] * 1e3:.1f} ms + estimate {ours['estimate_s'] * 1e3:.1f} ms = "
        f"{ours_total * 1e3:.1f} ms; NannyML fit {their_fit * 1e3:.1f} ms + estimate {their_estimate * 1e3:.1f} ms = "
        f"{theirs_total * 1e3:.1f} ms"
    )
    print("\n".join(lines), flush=True)
    return {"max_mean_abs_diff": max(accuracy_diff.mean(), *f1_diffs), "time_ratio": theirs_total / ours_total}


def main() -> None:
    """Run both cases and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per side (median reported)")
    parser.add_argument("--seed", type=int, default=SHIFT_SEED, help="seed of the synthetic cases")
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV, help="where the NannyML virtualenv lives")
    args = parser.parse_args()
    python = nannyml_venv_ensure(args.venv)
    headline = {}
    with tempfile.TemporaryDirectory(prefix="cbpe-bench-") as workdir:
        for case in CASES:
            data = shift_data_build(case, args.seed)
            ours = ours_run(data, args.repeats)
            theirs = nannyml_run(python, data, args.repeats, Path(workdir))
            headline[case] = case_report(case, ours, theirs)
    for case, figures in headline.items():
        print(f"{case}_max_mean_abs_diff: {figures['max_mean_abs_diff']:.2e}")
    for case, figures in headline.items():
        print(f"{case}_nannyml_over_ours_time: {figures['time_ratio']:.1f}x")


if __name__ == "__main__":
    main()
