"""Numeric drift: every numeric feature of a window against its prepared reference, in one pass over sorted columns.

Each window column is sorted once (in worker threads); on the sorted column the pass computes the summary, the KS
point (the statistic of the ks test, and the chart's), the chart data, the out-of-range count and the feature's
registered test statistic; p-values are then computed for all features of a test at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .charts import ChartReference, numeric_chart, numeric_chart_reference
from .columns import as_matrix, finite_or_none, finite_slice, insufficient_message, sorted_column_blocks
from .kolmogorov import KsGrid, ks_grid, ks_statistic_located
from .references import NumericReference
from .registry import NUMERIC_DRIFT_TESTS, NumericDriftTest, NumericSample, tests_resolve
from .results import INSUFFICIENT, OK, FeatureDrift
from .summaries import numeric_summary_dict, numeric_summary_row


@dataclass(frozen=True)
class _FeaturePass:
    """What the pass over one sorted window column keeps (the sorted column itself is released)."""

    window_size: int
    summary_row: np.ndarray
    statistic: float | None  # None: not computed (too few values on a side)
    out_of_range: int
    chart: dict[str, Any]


def numeric_drift_compute(
    *, reference: NumericReference, window: np.ndarray, tests: Sequence[str], min_samples: int
) -> list[FeatureDrift]:
    """Compare window columns (float64 [rows, features] in reference.names order; NaN/inf = missing) with the
    reference; tests[i] names feature i's test in NUMERIC_DRIFT_TESTS. ValueError on a wrong shape or test name."""
    feature_count = len(reference.names)
    matrix = as_matrix(window, feature_count, "window")
    test_list = tests_resolve(tests, feature_count, NUMERIC_DRIFT_TESTS)
    minimum = max(int(min_samples), 1)
    row_count = matrix.shape[0]
    reference_sizes = np.array([reference.finite_count(i) for i in range(feature_count)], dtype=np.int64)

    passes: list[_FeaturePass] = []
    for start, block in sorted_column_blocks(matrix):
        for offset in range(block.shape[1]):
            index = start + offset
            test = NUMERIC_DRIFT_TESTS[test_list[index]]
            passes.append(_feature_pass(reference, index, block[:, offset], test, minimum, row_count))

    p_values = np.full(feature_count, np.nan)
    for name, test in NUMERIC_DRIFT_TESTS.items():
        chosen = [i for i in range(feature_count) if test_list[i] == name and passes[i].statistic is not None]
        if test.p_values is not None and chosen:
            p_values[chosen] = test.p_values(
                np.array([passes[i].statistic for i in chosen], dtype=np.float64),
                reference_sizes[chosen].astype(np.float64),
                np.array([passes[i].window_size for i in chosen], dtype=np.float64),
            )

    results = []
    for index, name in enumerate(reference.names):
        feature = passes[index]
        test = NUMERIC_DRIFT_TESTS[test_list[index]]
        message = insufficient_message(int(reference_sizes[index]), feature.window_size, minimum)
        statistic = None if message or feature.statistic is None else finite_or_none(feature.statistic)
        if not message and statistic is None:
            message = "the test produced no finite statistic"
        score = None if statistic is None else test.score(statistic)
        results.append(
            FeatureDrift(
                feature_name=name,
                test=test.name,
                status=INSUFFICIENT if message else OK,
                score=score,
                statistic=statistic,
                p_value=finite_or_none(p_values[index]) if score is not None else None,
                missing_share=(row_count - feature.window_size) / row_count if row_count else 0.0,
                reference_size=int(reference_sizes[index]),
                window_size=feature.window_size,
                reference_summary=reference.summary(index),
                current_summary=numeric_summary_dict(feature.summary_row),
                message=message,
                out_of_range_share=feature.out_of_range / row_count if row_count else 0.0,
                chart=feature.chart,
            )
        )
    return results


def _feature_pass(
    reference: NumericReference,
    index: int,
    column_sorted: np.ndarray,
    test: NumericDriftTest,
    minimum: int,
    row_count: int,
) -> _FeaturePass:
    """Summary, KS point, chart, out-of-range count and test statistic of one sorted window column."""
    finite = finite_slice(column_sorted)
    summary_row = numeric_summary_row(finite, row_count)
    ref_values, ref_cumulative = reference.feature_values(index)
    both = bool(finite.size and ref_values.size)
    grid, chart_reference = _reference_derived(reference, index, ref_values, ref_cumulative)
    ks = ks_statistic_located(ref_values, ref_cumulative, finite, grid) if both else None
    out_of_range = 0
    if both:
        below = int(finite.searchsorted(ref_values[0], side="left"))
        out_of_range = below + finite.size - int(finite.searchsorted(ref_values[-1], side="right"))
    statistic = None
    if ks is not None and finite.size >= minimum and int(ref_cumulative[-1]) >= minimum:
        sample = NumericSample(
            ref_values=ref_values,
            ref_cumulative=ref_cumulative,
            ref_bin_counts=reference.bin_counts[index],
            ref_bin_edges=reference.bin_edges[index],
            reference_summary=reference.summaries[index],
            window=finite,
            window_summary=summary_row,
            ks=ks,
        )
        statistic = float(test.statistic(sample))
    return _FeaturePass(
        window_size=int(finite.size),
        summary_row=summary_row,
        statistic=statistic,
        out_of_range=out_of_range,
        chart=numeric_chart(
            ref_values=ref_values,
            ref_cumulative=ref_cumulative,
            window_sorted=finite,
            ks=ks,
            reference=chart_reference,
        ),
    )


def _reference_derived(
    reference: NumericReference, index: int, ref_values: np.ndarray, ref_cumulative: np.ndarray
) -> tuple[KsGrid | None, ChartReference]:
    """Return the KS grid (None without reference values) and the chart's reference side of one feature, computed
    once per reference object."""
    derived = reference.derived.get(index)
    if derived is None:
        grid = ks_grid(ref_values, ref_cumulative) if ref_values.size else None
        derived = (grid, numeric_chart_reference(ref_values=ref_values, ref_cumulative=ref_cumulative))
        reference.derived[index] = derived
    grid_and_chart: tuple[KsGrid | None, ChartReference] = derived
    return grid_and_chart
