"""Model artifacts for registry tests: small estimators trained on synthetic data, dumped with skops.

Each builder returns the artifact bytes; the untrusted one holds a class defined here, which skops does not trust.
"""

from __future__ import annotations

import functools
import io
from typing import Any

import numpy as np
import pytest
import skops.io
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier
from sklearn.impute import KNNImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder
from sklearn.svm import LinearSVC

from demo.iris import IRIS_FEATURES, IRIS_SCHEMA
from tests.conftest import iris_demo

IRIS_CLASSES = ["setosa", "versicolor", "virginica"]
COLORS = ["red", "green", "blue"]
CATEGORICAL_SCHEMA = [
    {"name": "color", "type": "categorical", "categories": COLORS, "nullable": False},
    {"name": "size", "type": "numeric", "nullable": True},
]
CATEGORICAL_CLASSES = ["no", "yes"]


class HomeMadeClassifier(LogisticRegression):
    """A subclass defined outside scikit-learn: loading it would import and run this module's code."""


def skops_bytes(estimator: Any) -> bytes:
    """The skops artifact of an estimator."""
    buffer = io.BytesIO()
    skops.io.dump(estimator, buffer)
    return buffer.getvalue()


def _iris_like(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """60 rows of 4 features with the iris class names (20 of each)."""
    rng = np.random.default_rng(seed)
    y = np.repeat(IRIS_CLASSES, 20)
    x = rng.normal(size=(60, 4)) + np.repeat(np.arange(3), 20)[:, None]
    return x, y


@functools.cache
def untrusted_artifact() -> bytes:
    """An iris-shaped classifier whose type is HomeMadeClassifier (untrusted)."""
    x, y = _iris_like()
    return skops_bytes(HomeMadeClassifier(max_iter=500).fit(x, y))


@functools.cache
def no_proba_artifact() -> bytes:
    """An iris-shaped LinearSVC: a trusted type, but without predict_proba."""
    x, y = _iris_like()
    return skops_bytes(LinearSVC().fit(x, y))


@functools.cache
def constant_artifact() -> bytes:
    """An iris-shaped classifier that answers virginica (p = 0.5) for every row, whatever the input."""
    x, _ = _iris_like()
    y = np.asarray(["setosa"] * 12 + ["versicolor"] * 18 + ["virginica"] * 30)
    return skops_bytes(DummyClassifier(strategy="prior").fit(x, y))


@functools.cache
def categorical_artifact() -> bytes:
    """OneHotEncoder(color) + KNNImputer(size) + LogisticRegression: "yes" for red, "no" otherwise.

    KNNImputer, not SimpleImputer: SimpleImputer keeps a numpy dtype, which skops 0.16 does not trust.
    """
    rng = np.random.default_rng(1)
    colors = np.tile(COLORS, 30)
    sizes = rng.normal(size=colors.size)
    sizes[::7] = np.nan
    x = np.empty((colors.size, 2), dtype=object)
    x[:, 0] = colors
    x[:, 1] = sizes
    y = np.where(colors == "red", "yes", "no")
    pipeline = make_pipeline(
        ColumnTransformer([("color", OneHotEncoder(categories=[COLORS]), [0]), ("size", KNNImputer(), [1])]),
        LogisticRegression(),
    )
    return skops_bytes(pipeline.fit(x, y))


def iris_artifact() -> bytes:
    """The demo iris pipeline (4 features, classes setosa, versicolor, virginica)."""
    return iris_demo().artifact


def garbage_artifact() -> bytes:
    """Bytes that start like a zip file and are not one."""
    return b"PK\x03\x04 not really a zip"


IRIS_SCHEMA_3 = [{"name": name, "type": "numeric", "nullable": False} for name in IRIS_FEATURES[:3]]

# (artifact builder, feature schema, class labels, field at fault, message fragment): artifacts the registry refuses.
REFUSED = [
    pytest.param(untrusted_artifact, IRIS_SCHEMA, IRIS_CLASSES, "artifact", "HomeMadeClassifier", id="untrusted-type"),
    pytest.param(garbage_artifact, IRIS_SCHEMA, IRIS_CLASSES, "artifact", "Not a readable", id="garbage-bytes"),
    pytest.param(
        iris_artifact, IRIS_SCHEMA, ["versicolor", "setosa", "virginica"], "artifact", "do not match", id="labels-order"
    ),
    pytest.param(iris_artifact, IRIS_SCHEMA, ["a", "b", "c"], "artifact", "do not match", id="labels-differ"),
    pytest.param(iris_artifact, IRIS_SCHEMA, ["setosa"], "class_labels", "at least two", id="one-label"),
    pytest.param(iris_artifact, IRIS_SCHEMA_3, IRIS_CLASSES, "artifact", "takes 4 features", id="3-features"),
    pytest.param(iris_artifact, {"name": "x"}, IRIS_CLASSES, "feature_schema", "non-empty list", id="schema-object"),
    pytest.param(iris_artifact, [{"type": "numeric"}] * 4, IRIS_CLASSES, "feature_schema", "name", id="schema-no-name"),
    pytest.param(no_proba_artifact, IRIS_SCHEMA, IRIS_CLASSES, "artifact", "no predict_proba", id="no-predict-proba"),
]
