"""Categorical drift: every categorical feature's window category counts against its prepared reference counts."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .charts import categorical_chart
from .columns import as_matrix, finite_or_none, insufficient_message
from .contingency import category_counts
from .references import CategoricalReference
from .registry import CATEGORICAL_DRIFT_TESTS, tests_resolve
from .results import INSUFFICIENT, OK, FeatureDrift
from .summaries import categorical_summary_dict


def categorical_drift_compute(
    *, reference: CategoricalReference, window: np.ndarray, tests: Sequence[str], min_samples: int
) -> list[FeatureDrift]:
    """Compare window category codes (float64 [rows, features] in reference.names order; NaN = missing, any other
    non-code value is an unseen category) with the reference; tests[i] names feature i's test in
    CATEGORICAL_DRIFT_TESTS. ValueError on a wrong shape or test name."""
    feature_count = len(reference.names)
    matrix = as_matrix(window, feature_count, "window")
    test_list = tests_resolve(tests, feature_count, CATEGORICAL_DRIFT_TESTS)
    minimum = max(int(min_samples), 1)
    row_count = matrix.shape[0]
    sizes = np.array([len(c) for c in reference.categories], dtype=np.int64)
    window_counts, window_missing = category_counts(matrix, sizes, width=reference.counts.shape[1])
    reference_sizes = reference.counts.sum(axis=1)
    window_sizes = window_counts.sum(axis=1)

    statistics = np.full(feature_count, np.nan)
    scores = np.full(feature_count, np.nan)
    p_values = np.full(feature_count, np.nan)
    usable = (reference_sizes > 0) & (window_sizes > 0)
    names = np.array(test_list, dtype=object)
    for name, test in CATEGORICAL_DRIFT_TESTS.items():
        chosen = np.flatnonzero(usable & (names == name))
        if chosen.size:
            statistics[chosen], scores[chosen], p_values[chosen] = test.compute(
                reference.counts[chosen], window_counts[chosen]
            )

    # A category the reference never took (zero count), or a code outside the category list, is unseen.
    never_seen = reference.counts == 0
    never_seen[:, -1] = True
    unseen = (window_counts * never_seen).sum(axis=1)

    results = []
    for index, name in enumerate(reference.names):
        test = CATEGORICAL_DRIFT_TESTS[test_list[index]]
        message = insufficient_message(int(reference_sizes[index]), int(window_sizes[index]), minimum)
        statistic = None if message else finite_or_none(statistics[index])
        score = None if message else finite_or_none(scores[index])
        results.append(
            FeatureDrift(
                feature_name=name,
                test=test.name,
                status=INSUFFICIENT if message else OK,
                score=None if score is None else test.score(score),
                statistic=statistic,
                p_value=None if message else finite_or_none(p_values[index]),
                missing_share=float(window_missing[index]) / row_count if row_count else 0.0,
                reference_size=int(reference_sizes[index]),
                window_size=int(window_sizes[index]),
                reference_summary=reference.summary(index),
                current_summary=categorical_summary_dict(window_counts[index], reference.categories[index], row_count),
                message=message,
                unseen_category_share=int(unseen[index]) / row_count if row_count else 0.0,
                chart=categorical_chart(
                    categories=reference.categories[index],
                    reference_counts=reference.counts[index],
                    window_counts=window_counts[index],
                ),
            )
        )
    return results
