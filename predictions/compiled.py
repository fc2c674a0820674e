"""Linear pipelines evaluated in numpy: the probabilities of scikit-learn's predict_proba without its per-call cost.

A fitted `Pipeline(StandardScaler, LogisticRegression)` (the demo model, and the most common tabular baseline) costs,
per predict_proba call, a few hundred microseconds to a millisecond of input checks, config handling and dataframe
dispatch in scikit-learn 1.9 before about twenty microseconds of arithmetic (measured in docs/benchmarks.md). For the
steps below, this module reads the fitted parameters once and computes the same formulas:

- `StandardScaler`: (x - mean_) / scale_, each term only where fitted (with_mean / with_std);
- `LogisticRegression`: z = x @ coef_.T + intercept_; binary: [1 - expit(z), expit(z)]; multiclass: softmax(z)
  (scikit-learn's `predict_proba` for the multinomial loss, the only multiclass option since 1.8).

`linear_pipeline_compile` returns None for anything else (another step, a one-vs-rest model, a non-float input), and
the caller keeps the estimator. It also returns None unless the compiled function agrees with the estimator's own
predict_proba on the probe rows given (max absolute difference 1e-9), so a model whose formula differs is never
answered by this path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

Compiled = Callable[[np.ndarray], np.ndarray]
TOLERANCE = 1e-9


def _scaler(step: Any) -> Compiled | None:
    mean = getattr(step, "mean_", None) if getattr(step, "with_mean", False) else None
    scale = getattr(step, "scale_", None) if getattr(step, "with_std", False) else None
    mean = None if mean is None else np.asarray(mean, dtype=np.float64)
    scale = None if scale is None else np.asarray(scale, dtype=np.float64)

    def transform(x: np.ndarray) -> np.ndarray:
        if mean is not None:
            x = x - mean
        if scale is not None:
            x = x / scale
        return x

    return transform


def _logistic(step: Any) -> Compiled | None:
    coef = np.asarray(step.coef_, dtype=np.float64)
    intercept = np.asarray(step.intercept_, dtype=np.float64)
    if getattr(step, "multi_class", "auto") not in ("auto", "multinomial", "deprecated"):
        return None  # one-vs-rest normalizes differently
    if coef.shape[0] == 1:

        def binary(x: np.ndarray) -> np.ndarray:
            z = x @ coef[0] + intercept[0]
            positive = 1.0 / (1.0 + np.exp(-z))
            return np.column_stack([1.0 - positive, positive])

        return binary
    coef_t = np.ascontiguousarray(coef.T)

    def softmax(x: np.ndarray) -> np.ndarray:
        z = x @ coef_t + intercept
        z -= z.max(axis=1, keepdims=True)
        np.exp(z, out=z)
        z /= z.sum(axis=1, keepdims=True)
        return z

    return softmax


def linear_pipeline_compile(estimator: Any, probe: np.ndarray) -> Compiled | None:
    """A numpy function giving `estimator.predict_proba(x)` for float rows x [n, features], or None when the
    estimator is not a supported pipeline or the function disagrees with it on `probe` (float rows)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    steps = [step for _, step in estimator.steps] if isinstance(estimator, Pipeline) else [estimator]
    steps = [step for step in steps if step is not None and step != "passthrough"]
    if not steps or type(steps[-1]) is not LogisticRegression or probe.dtype != np.float64:
        return None
    functions: list[Compiled] = []
    for step in steps[:-1]:
        if type(step) is not StandardScaler:
            return None
        function = _scaler(step)
        if function is None:
            return None
        functions.append(function)
    last = _logistic(steps[-1])
    if last is None:
        return None
    functions.append(last)

    def predict_proba(x: np.ndarray) -> np.ndarray:
        for function in functions:
            x = function(x)
        return x

    try:
        expected = np.asarray(estimator.predict_proba(probe), dtype=np.float64)
        got = predict_proba(probe)
    except Exception:
        return None
    if got.shape != expected.shape or not np.allclose(got, expected, rtol=0.0, atol=TOLERANCE):
        return None
    return predict_proba
