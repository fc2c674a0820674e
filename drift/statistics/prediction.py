"""Prediction drift: the window's predicted-class distribution against the reference's (the model's predictions on it).

The score is the Jensen-Shannon distance (base 2) of the class shares, with chi2_contingency's test beside it; class
indices outside the label list are kept in their own bucket (UNKNOWN_CLASS), not dropped.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .binning import jensenshannon_rows
from .columns import insufficient_message
from .contingency import chi2_two_row
from .results import INSUFFICIENT, OK, UNKNOWN_CLASS, PredictionDrift


def prediction_drift_compute(
    *, class_labels: Sequence[str], reference_counts: np.ndarray, window_classes: np.ndarray, min_samples: int
) -> PredictionDrift:
    """Compare the window's predicted classes (indices into class_labels) with the reference class counts."""
    labels = [str(label) for label in class_labels]
    reference = np.asarray(reference_counts, dtype=np.int64).ravel()
    if reference.size != len(labels):
        raise ValueError(f"reference_counts has {reference.size} entries for {len(labels)} classes")
    classes = np.asarray(window_classes).ravel()
    if classes.size and not np.issubdtype(classes.dtype, np.integer):
        raise ValueError("window_classes must be an integer array of class indices")
    classes = classes.astype(np.int64)
    known = (classes >= 0) & (classes < len(labels))
    # Indices outside class_labels are kept in their own bucket rather than dropped: they are drift too.
    window = np.append(np.bincount(classes[known], minlength=len(labels)), np.count_nonzero(~known))
    reference_full = np.append(reference, 0)
    all_labels = [*labels, UNKNOWN_CLASS]
    reference_distribution = _shares(reference_full, all_labels)
    current_distribution = _shares(window, all_labels)
    window_size = int(classes.size)
    minimum = max(int(min_samples), 1)
    message = insufficient_message(int(reference.sum()), window_size, minimum)
    if message:
        return PredictionDrift(
            status=INSUFFICIENT,
            score=None,
            chi2_statistic=None,
            p_value=None,
            reference_distribution=reference_distribution,
            current_distribution=current_distribution,
            window_size=window_size,
            message=message,
        )
    statistic, p_value, _ = chi2_two_row(reference_full[None, :], window[None, :])
    score = jensenshannon_rows(reference_full[None, :].astype(np.float64), window[None, :].astype(np.float64))
    return PredictionDrift(
        status=OK,
        score=min(max(float(score[0]), 0.0), 1.0),
        chi2_statistic=float(statistic[0]),
        p_value=float(p_value[0]),
        reference_distribution=reference_distribution,
        current_distribution=current_distribution,
        window_size=window_size,
    )


def _shares(counts: np.ndarray, labels: list[str]) -> dict[str, float]:
    """Return {label: share}; the last (unknown/unseen) bucket only when it is non-empty."""
    total = int(counts.sum())
    shares = {label: (int(count) / total if total else 0.0) for label, count in zip(labels, counts, strict=True)}
    if counts[-1] == 0:
        shares.pop(labels[-1])
    return shares
