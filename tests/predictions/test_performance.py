"""The accuracy and F1 arithmetic behind the performance gauges (predictions/performance.py)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score

from predictions.performance import classification_scores


def test_classification_scores_equal_sklearn_on_random_labels() -> None:
    """On 300 random label vectors (2..7 classes, 1..60 rows, some classes absent or never predicted), accuracy and
    macro F1 equal sklearn's accuracy_score and f1_score(average="macro")."""
    rng = np.random.default_rng(20240601)
    for _ in range(300):
        # given
        n_classes = int(rng.integers(2, 8))
        size = int(rng.integers(1, 61))
        used = rng.choice(n_classes, size=int(rng.integers(1, n_classes + 1)), replace=False)
        y_true = rng.choice(used, size=size)
        y_pred = np.where(rng.random(size) < 0.6, y_true, rng.integers(0, n_classes, size=size))
        # when
        accuracy, f1 = classification_scores(y_true=y_true, y_pred=y_pred, n_classes=n_classes)
        # then
        assert accuracy == pytest.approx(accuracy_score(y_true, y_pred), abs=1e-12)
        assert f1 == pytest.approx(f1_score(y_true, y_pred, average="macro", zero_division=0), abs=1e-12)


@pytest.mark.parametrize(
    ("y_true", "y_pred", "n_classes"),
    [
        ([0, 0, 0], [0, 0, 0], 3),  # one class, all right
        ([0, 0, 0], [1, 1, 1], 3),  # all wrong
        ([2], [2], 3),
        ([0, 1, 2, 2], [2, 2, 2, 2], 3),
        ([1, 1, 0], [1, 0, 2], 3),  # a class only predicted, never true
    ],
)
def test_classification_scores_on_edge_cases(y_true: list[int], y_pred: list[int], n_classes: int) -> None:
    """Single-class, all-wrong and one-row inputs give sklearn's numbers too."""
    # when
    accuracy, f1 = classification_scores(
        y_true=np.asarray(y_true, dtype=np.int64), y_pred=np.asarray(y_pred, dtype=np.int64), n_classes=n_classes
    )
    # then
    assert accuracy == pytest.approx(accuracy_score(y_true, y_pred))
    assert f1 == pytest.approx(f1_score(y_true, y_pred, average="macro", zero_division=0))


def test_classification_scores_of_nothing_are_zero() -> None:
    """No labelled rows: (0, 0), which the collector never exports (it skips versions without labels)."""
    empty = np.empty(0, dtype=np.int64)
    assert classification_scores(y_true=empty, y_pred=empty, n_classes=3) == (0.0, 0.0)
