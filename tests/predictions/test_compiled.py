"""Linear pipelines in numpy (predictions/compiled.py): the same probabilities as predict_proba, or nothing."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from demo.iris import IRIS_SCHEMA
from predictions.compiled import linear_pipeline_compile
from predictions.inference import artifact_load
from predictions.schema import feature_schema_parse
from tests.conftest import iris_demo

RNG = np.random.default_rng(3)
X = RNG.normal(2.0, 3.0, (300, 5))
Y3 = np.digitize(X[:, 0] + X[:, 1], [0.0, 4.0])
Y2 = (X[:, 2] > 2.0).astype(int)
PROBE = RNG.normal(0.0, 5.0, (40, 5))


@pytest.mark.parametrize(
    "estimator, labels",
    [
        (make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)), Y3),
        (make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)), Y2),
        (make_pipeline(StandardScaler(with_mean=False), LogisticRegression(C=0.1)), Y3),
        (make_pipeline(StandardScaler(with_std=False), StandardScaler(), LogisticRegression()), Y2),
        (LogisticRegression(max_iter=1000), Y3),
    ],
    ids=["scaled-3-class", "scaled-binary", "no-centering", "two-scalers", "bare"],
)
def test_supported_pipelines_give_the_estimators_probabilities(estimator: Any, labels: np.ndarray) -> None:
    estimator.fit(X, labels)
    compiled = linear_pipeline_compile(estimator, PROBE)
    assert compiled is not None
    rows = RNG.normal(2.0, 4.0, (1000, 5))
    np.testing.assert_allclose(compiled(rows), estimator.predict_proba(rows), rtol=0, atol=1e-12)
    np.testing.assert_allclose(compiled(rows[:1]), estimator.predict_proba(rows[:1]), rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "estimator",
    [
        make_pipeline(PCA(n_components=3), LogisticRegression()),
        RandomForestClassifier(n_estimators=3, random_state=0),
        make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=3, random_state=0)),
    ],
    ids=["pca-step", "forest", "scaled-forest"],
)
def test_other_estimators_are_left_to_scikit_learn(estimator: Any) -> None:
    estimator.fit(X, Y3)
    assert linear_pipeline_compile(estimator, PROBE) is None


def test_a_model_that_disagrees_on_the_probe_is_not_compiled() -> None:
    """The check against the estimator's own answer, not the step types alone, decides."""
    estimator = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, Y3)
    shifted = estimator.predict_proba(PROBE)[:, ::-1].copy()
    estimator.predict_proba = lambda rows: shifted  # type: ignore[method-assign]
    assert linear_pipeline_compile(estimator, PROBE) is None


def test_the_demo_model_is_served_compiled_with_identical_probabilities() -> None:
    demo = iris_demo()
    loaded = artifact_load(data=demo.artifact, schema=feature_schema_parse(IRIS_SCHEMA), class_labels=demo.class_labels)
    assert loaded.compiled is not None
    rows = np.asarray(demo.x_test, dtype=np.float64)
    np.testing.assert_allclose(loaded.predict_proba(rows), loaded.estimator.predict_proba(rows), rtol=0, atol=1e-12)
