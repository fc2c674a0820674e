"""Drift fixtures: the iris reference, traffic helpers, a categorical model."""

from __future__ import annotations

import io
from collections.abc import Callable
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
