"""Drift fixtures: the iris reference, traffic helpers, a categorical model, statistics runners and checks."""

from __future__ import annotations

import io
import json
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest
import skops.io
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from demo.iris import iris_reference_csv
from drift.models import ReferenceDataset
from drift.services import reference_dataset_upload
from drift.statistics import FeatureDrift, numeric_drift_compute, numeric_reference_prepare
from predictions import services
from predictions.models import ModelVersion
from tests.conftest import iris_demo

MIXED_SCHEMA = [
    {"name": "size", "type": "numeric", "nullable": False},
    {"name": "color", "type": "categorical", "categories": ["red", "green", "blue"], "nullable": False},
]


@pytest.fixture
def iris_reference(iris_version: ModelVersion) -> ReferenceDataset:
    """The iris training split uploaded as the active reference of iris v1."""
    return reference_dataset_upload(
        model_version=iris_version, file=iris_reference_csv(iris_demo().x_train), filename="iris-train.csv"
    )


@pytest.fixture
def send_iris(api_client: Any) -> Callable[..., list[str]]:
    """Factory: post `count` iris rows sampled from the reference, optionally shifted per feature index."""

    def send(count: int, *, shift: dict[int, float] | None = None, seed: int = 0) -> list[str]:
        rng = np.random.default_rng(seed)
        rows = iris_demo().x_train[rng.integers(0, len(iris_demo().x_train), count)].copy()
        for index, delta in (shift or {}).items():
            rows[:, index] += delta
        ids: list[str] = []
        for start in range(0, count, 500):
            response = api_client.post(
                "/api/v1/models/iris/predict", {"instances": rows[start : start + 500].tolist()}, format="json"
            )
            assert response.status_code == 200, response.content
            ids.extend(p["prediction_id"] for p in response.json()["predictions"])
        return ids

    return send


@pytest.fixture
def mixed_version(db: None) -> Callable[..., ModelVersion]:
    """Factory: a model with one numeric and one categorical feature (OneHotEncoder pipeline, skops-safe)."""

    def register(name: str = "mixed") -> ModelVersion:
        rng = np.random.default_rng(1)
        size = rng.normal(size=300)
        color = rng.choice(["red", "green", "blue"], size=300)
        x = np.empty((300, 2), dtype=object)
        x[:, 0], x[:, 1] = size, color
        y = np.where((size > 0) | (color == "red"), "yes", "no")
        pipeline = make_pipeline(
            ColumnTransformer([("num", "passthrough", [0]), ("cat", OneHotEncoder(handle_unknown="ignore"), [1])]),
            LogisticRegression(),
        ).fit(x, y)
        buffer = io.BytesIO()
        skops.io.dump(pipeline, buffer)
        return services.model_version_register(
            model_name=name,
            version="1",
            artifact=buffer.getvalue(),
            feature_schema=MIXED_SCHEMA,
            class_labels=["no", "yes"],
            make_default=False,
        )

    return register


@pytest.fixture
def numeric_run() -> Callable[..., list[FeatureDrift]]:
    """Factory: prepare a numeric reference from [rows, features] and compare a window with one test everywhere."""

    def run(reference: np.ndarray, window: np.ndarray, test: str, min_samples: int = 1) -> list[FeatureDrift]:
        names = [f"f{j}" for j in range(reference.shape[1])]
        prepared = numeric_reference_prepare(names=names, values=reference)
        return numeric_drift_compute(
            reference=prepared, window=window, tests=[test] * reference.shape[1], min_samples=min_samples
        )

    return run


def _numbers(value: Any) -> list[float]:
    """Every number inside a JSON-like value."""
    if isinstance(value, dict):
        return [number for item in value.values() for number in _numbers(item)]
    if isinstance(value, list | tuple):
        return [number for item in value for number in _numbers(item)]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return []
    return [float(value)]


@pytest.fixture
def assert_all_finite() -> Callable[[Sequence[FeatureDrift]], None]:
    """Check: no NaN or infinity anywhere in results (scores, shares, summaries, charts), and each stores as JSON."""

    def check(results: Sequence[FeatureDrift]) -> None:
        for result in results:
            fields = [
                result.score,
                result.statistic,
                result.p_value,
                result.missing_share,
                result.out_of_range_share,
                result.unseen_category_share,
                result.reference_summary,
                result.current_summary,
                result.chart,
            ]
            assert all(math.isfinite(number) for number in _numbers(fields)), result
            json.dumps([result.reference_summary, result.current_summary, result.chart], allow_nan=False)

    return check


@pytest.fixture
def legacy_numeric_blob() -> Callable[[Sequence[str], np.ndarray], bytes]:
    """Factory: a format-1 numeric reference blob of [rows, features] values, written as the code before format 2
    wrote it (decile bins with duplicate edges dropped)."""

    def write(names: Sequence[str], values: np.ndarray) -> bytes:
        matrix = np.asarray(values, dtype=np.float64)
        feature_count = matrix.shape[1]
        uniques, counts, sizes = [], [], []
        missing = np.zeros(feature_count, dtype=np.int64)
        bin_edges = np.full((feature_count, 9), np.inf)
        bin_counts = np.zeros((feature_count, 10), dtype=np.int64)
        summaries = np.full((feature_count, 11), np.nan)
        for j in range(feature_count):
            finite = np.sort(matrix[np.isfinite(matrix[:, j]), j])
            unique, count = np.unique(finite, return_counts=True)
            uniques.append(unique)
            counts.append(count)
            sizes.append(unique.size)
            missing[j] = matrix.shape[0] - finite.size
            summaries[j, :2] = finite.size, missing[j] / matrix.shape[0]
            if finite.size:
                edges = np.unique(np.quantile(finite, np.linspace(0.1, 0.9, 9)))
                bin_edges[j, : edges.size] = edges
                bin_counts[j] = np.bincount(np.searchsorted(bin_edges[j], finite, side="right"), minlength=10)
                summaries[j, 2:] = [
                    finite.mean(),
                    finite.std(),
                    finite[0],
                    *np.quantile(finite, [0.05, 0.25, 0.5, 0.75, 0.95]),
                    finite[-1],
                ]
        all_counts = np.concatenate(counts) if counts else np.empty(0, dtype=np.int64)
        buffer = io.BytesIO()
        np.savez(
            buffer,
            kind=np.array("numeric"),
            format_version=np.array(1),
            names=np.array(list(names), dtype=str),
            values=np.concatenate(uniques) if uniques else np.empty(0),
            counts=all_counts.astype(np.min_scalar_type(int(all_counts.max()) if all_counts.size else 0)),
            offsets=np.concatenate(([0], np.cumsum(sizes))).astype(np.int64),
            row_count=np.array(matrix.shape[0]),
            missing_counts=missing,
            bin_edges=bin_edges,
            bin_counts=bin_counts,
            summaries=summaries,
        )
        return buffer.getvalue()

    return write
