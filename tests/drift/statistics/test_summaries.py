"""Feature summaries: finite for any finite float64 input, equal to numpy where numpy's own result is finite."""

from __future__ import annotations

import math

import numpy as np
import pytest

from drift.statistics.summaries import NUMERIC_SUMMARY_KEYS, numeric_summary_dict, numeric_summary_row

FLOAT_MAX = float(np.finfo(np.float64).max)


def summary(values: list[float], row_count: int | None = None) -> dict[str, float | int | None]:
    """The summary dict of some finite values."""
    ordered = np.sort(np.asarray(values, dtype=np.float64))
    return numeric_summary_dict(numeric_summary_row(ordered, len(values) if row_count is None else row_count))


@pytest.mark.parametrize(
    ("values", "mean", "std"),
    [
        ([1e308, 1e308], 1e308, 0.0),
        ([-1e308, 1e308], 0.0, 1e308),
        ([FLOAT_MAX, FLOAT_MAX, FLOAT_MAX], FLOAT_MAX, 0.0),
        ([-FLOAT_MAX, FLOAT_MAX], 0.0, FLOAT_MAX),
        ([1e200, 0.0, 0.0, 0.0], 2.5e199, 1e200 * math.sqrt(3) / 4),
        ([-1.5e306, 1.0], -7.5e305, 7.5e305),
    ],
)
def test_moments_of_huge_values_are_finite_and_exact(values: list[float], mean: float, std: float) -> None:
    """Sums and squares that overflow in float64 are taken on scaled values: mean and std come out right."""
    # when
    result = summary(values)
    # then
    assert result["mean"] == pytest.approx(mean, rel=1e-15)
    assert result["std"] == pytest.approx(std, rel=1e-15)
    assert result["min"] == min(values) and result["max"] == max(values)


def test_quantiles_between_values_of_opposite_extremes_stay_finite() -> None:
    """A quantile between -1e308 and 1e308, where numpy's interpolation overflows, is their weighted mean."""
    # when
    result = summary([-1e308, 1e308])
    # then
    assert result["p50"] == 0.0
    assert result["p25"] == pytest.approx(-5e307, rel=1e-15)
    assert result["p95"] == pytest.approx(0.9e308, rel=1e-15)


def test_ordinary_values_summarize_as_numpy_does() -> None:
    """Away from the float limits, the summary equals numpy's mean, std and linear quantiles."""
    rng = np.random.default_rng(2)
    for _ in range(20):
        # given
        values = rng.normal(rng.uniform(-1e6, 1e6), rng.uniform(1e-3, 1e3), int(rng.integers(1, 500)))
        # when
        result = summary(values.tolist(), row_count=values.size + 7)
        # then
        assert result["count"] == values.size
        assert result["missing_share"] == 7 / (values.size + 7)
        assert result["mean"] == pytest.approx(np.mean(values), rel=1e-12)
        assert result["std"] == pytest.approx(np.std(values), rel=1e-6, abs=1e-9)
        quantiles = np.quantile(values, [0.05, 0.25, 0.5, 0.75, 0.95])
        assert [result[key] for key in ("p5", "p25", "p50", "p75", "p95")] == quantiles.tolist()


def test_no_values_summarize_as_none() -> None:
    """Without values every statistic is None (JSON null), the count 0 and the missing share 1."""
    result = summary([], row_count=4)
    assert result == dict.fromkeys(NUMERIC_SUMMARY_KEYS) | {"count": 0, "missing_share": 1.0}
