"""Performance of a classifier over labelled predictions: accuracy and macro F1 from the true labels posted as
feedback (the ml_model_accuracy and ml_model_f1_score gauges). Pure numpy; the rows are read by
predictions.selectors.model_performance_list."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ModelPerformance:
    """Accuracy and macro F1 of a model version over its most recent labelled predictions."""

    model_name: str
    model_version: str
    labelled: int
    coverage: float
    accuracy: float
    f1_macro: float


def classification_scores(*, y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> tuple[float, float]:
    """(accuracy, macro F1) over the classes present in either array, as sklearn computes them."""
    if y_true.size == 0:
        return 0.0, 0.0
    confusion = np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)
    true_positive = np.diag(confusion).astype(np.float64)
    support = confusion.sum(axis=1)
    predicted = confusion.sum(axis=0)
    present = (support + predicted) > 0
    denominator = (support + predicted).astype(np.float64)
    f1 = np.divide(2 * true_positive, denominator, out=np.zeros(n_classes), where=denominator > 0)
    accuracy = float(true_positive.sum() / y_true.size)
    return accuracy, float(f1[present].mean())
