"""The demo model: a scikit-learn pipeline trained on the bundled iris data (4 features, 3 classes), and its
training split as a reference CSV."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import numpy as np
import skops.io
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

IRIS_FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
IRIS_SCHEMA = [{"name": name, "type": "numeric", "nullable": False} for name in IRIS_FEATURES]


@dataclass(frozen=True)
class DemoModel:
    """A trained demo model with its artifact bytes and its train/test split."""

    artifact: bytes
    class_labels: list[str]
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def iris_demo_train(*, seed: int = 42) -> DemoModel:
    """Train StandardScaler + LogisticRegression on 70% of iris, deterministic for a seed."""
    iris = load_iris()
    labels = np.asarray(iris.target_names)[iris.target]
    x_train, x_test, y_train, y_test = train_test_split(
        iris.data, labels, test_size=0.3, random_state=seed, stratify=labels
    )
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    pipeline.fit(x_train, y_train)
    buffer = io.BytesIO()
    skops.io.dump(pipeline, buffer)
    return DemoModel(
        artifact=buffer.getvalue(),
        class_labels=[str(c) for c in pipeline.classes_],
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
    )


IRIS_LABEL_COLUMN = "species"


def iris_reference_csv(rows: np.ndarray, labels: np.ndarray | None = None) -> bytes:
    """Rows of the four iris features as CSV with a header of feature names (a reference dataset upload), and with
    `labels` a last column IRIS_LABEL_COLUMN of each row's true class (performance estimation without labels)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    if labels is None:
        writer.writerow(IRIS_FEATURES)
        writer.writerows(rows.tolist())
    else:
        writer.writerow([*IRIS_FEATURES, IRIS_LABEL_COLUMN])
        writer.writerows([*row, str(label)] for row, label in zip(rows.tolist(), labels, strict=True))
    return buffer.getvalue().encode()
