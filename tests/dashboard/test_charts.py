"""Figures built from query answers and stored drift results: valid Plotly figures (checked by plotly's own
validators), gaps kept, thresholds drawn only where a stored row exists, shifted distributions drawn apart."""

from __future__ import annotations

from typing import Any

import numpy as np
import plotly.graph_objects as go
import pytest

from alerts_config.models import Threshold
from dashboard import charts
from dashboard.chart_specs import BLUE, GREY, MODEL_CHARTS, SeriesQuery, TimeSeriesChart
from dashboard.prometheus import Series, query_window
from tests.dashboard.factories import categorical_chart, numeric_chart

WINDOW = query_window(range_seconds=900, now=1_700_000_000, scrape_interval=15)


def plotly_valid(figure: dict[str, Any]) -> go.Figure:
    """plotly.py validates every trace and layout property (and raises on unknown ones)."""
    return go.Figure(data=figure["data"], layout=figure["layout"])


def series(values: list[float | None], **labels: str) -> Series:
    """A series on WINDOW's steps; None leaves a step out, as Prometheus does."""
    times = [float(WINDOW.start + i * WINDOW.step) for i, v in enumerate(values) if v is not None]
    kept = [v for v in values if v is not None]
    return Series(labels=labels, times=tuple(times), values=tuple(kept))


def test_time_series_keep_gaps_and_draw_the_stored_threshold() -> None:
    """A missing step is a gap (null), seconds are drawn in ms, and the latency threshold is a dashed line at the
    stored value; no threshold row, no line."""
    # given
    latency = next(c for c in MODEL_CHARTS if c.key == "latency")
    p50 = series([0.01, None, 0.03] + [0.02] * (WINDOW.points - 3))
    # when
    figure = charts.timeseries_figure(
        chart=latency, answers=[[p50], [], []], thresholds={Threshold.Kind.LATENCY_P95: 0.5}, window=WINDOW
    )
    bare = charts.timeseries_figure(chart=latency, answers=[[p50], [], []], thresholds={}, window=WINDOW)
    # then
    assert figure is not None and bare is not None
    plotly_valid(figure)
    line, threshold = figure["data"]
    assert line["y"][:3] == [10.0, None, 30.0] and len(line["x"]) == WINDOW.points
    assert threshold["y"] == [500.0, 500.0] and threshold["line"]["dash"] == "dash"
    assert len(bare["data"]) == 1


def test_a_chart_without_any_number_is_none() -> None:
    """No series, or only NaN: no figure (the page says there is no data instead of drawing an empty frame)."""
    chart = MODEL_CHARTS[0]
    assert charts.timeseries_figure(chart=chart, answers=[[], []], thresholds={}, window=WINDOW) is None
    nan_only = Series(labels={}, times=(float(WINDOW.start),), values=(None,))
    assert charts.timeseries_figure(chart=chart, answers=[[nan_only], []], thresholds={}, window=WINDOW) is None


def test_label_templates_name_the_traces_and_bands_are_filled() -> None:
    """`{label}` names come from the series' labels; a band_lower/band_upper pair is a filled interval (the shape an
    estimated accuracy with its band takes)."""
    # given
    chart = TimeSeriesChart(
        key="estimate",
        title="Estimated accuracy",
        y_title="accuracy",
        queries=(
            SeriesQuery("a", name="estimate v{model_version}"),
            SeriesQuery("l", name="lower", role="band_lower", color=BLUE),
            SeriesQuery("u", name="upper", role="band_upper", color=BLUE),
        ),
    )
    values = [0.8] * WINDOW.points
    # when
    figure = charts.timeseries_figure(
        chart=chart,
        answers=[
            [series(values, model_version="2")],
            [series([0.7] * WINDOW.points, model_version="2")],
            [series([0.9] * WINDOW.points, model_version="2")],
        ],
        thresholds={},
        window=WINDOW,
    )
    # then
    assert figure is not None
    plotly_valid(figure)
    assert [t["name"] for t in figure["data"]] == ["estimate v2", "lower", "upper"]
    assert figure["data"][2]["fill"] == "tonexty"


def test_every_model_chart_spec_builds_a_valid_figure() -> None:
    """Each registered chart, fed one series per query, gives a figure plotly accepts."""
    for chart in MODEL_CHARTS:
        answers = [[series([0.5] * WINDOW.points, predicted_class="a", model_version="1")] for _ in chart.queries]
        figure = charts.timeseries_figure(
            chart=chart, answers=answers, thresholds={t.kind: 0.4 for t in chart.thresholds}, window=WINDOW
        )
        assert figure is not None, chart.key
        plotly_valid(figure)


def test_a_shifted_numeric_feature_is_drawn_apart_from_its_reference() -> None:
    """Histogram on the run's shared bins: the reference fills the lower bins, the shifted current the upper ones;
    the ECDF figure marks the KS point with a segment of length D."""
    # given: the chart a drift run stores (drift engine)
    rng = np.random.default_rng(0)
    chart = numeric_chart(rng.normal(size=1000), rng.normal(loc=6.0, size=500))
    # when
    (_, histogram), (_, ecdf) = charts.drift_feature_figures(chart)
    # then
    plotly_valid(histogram)
    plotly_valid(ecdf)
    reference, current = histogram["data"]
    assert reference["marker"]["color"] == GREY and current["marker"]["color"] == BLUE
    upper = [i for i, low in enumerate(chart["edges"][:-1]) if low >= 3.0]
    assert sum(current["y"][i] for i in upper) > 0.9 and sum(reference["y"][i] for i in upper) < 0.01
    assert abs(sum(reference["y"]) - 1) < 1e-3 and abs(sum(current["y"]) - 1) < 1e-3
    segment = ecdf["data"][2]
    assert abs(abs(segment["y"][0] - segment["y"][1]) - chart["ks"]["d"]) < 1e-9 and chart["ks"]["d"] > 0.9
    assert histogram["table"]["columns"][0] == "bin" and len(histogram["table"]["rows"]) == len(reference["x"])


def test_values_outside_the_display_range_get_their_own_bars() -> None:
    """A far outlier (1e200) is counted above the display range: an "above" bar holds it."""
    # given
    rng = np.random.default_rng(1)
    chart = numeric_chart(rng.normal(size=500), np.append(rng.normal(size=299), 1e200))
    # when
    (_, histogram), _ = charts.drift_feature_figures(chart)
    # then
    reference, current = histogram["data"]
    assert chart["current_above"] == 1
    assert reference["x"][-1].startswith(">") and current["customdata"][-1] == 1 and reference["customdata"][-1] == 0


def test_a_window_without_values_draws_the_reference_alone() -> None:
    """A run whose window has no values for a feature stores no KS point: the report still draws the reference's
    histogram and ECDF, with no current line and no KS segment."""
    # given
    chart = numeric_chart(np.random.default_rng(2).normal(size=50), np.empty(0))
    assert chart["ks"] is None
    # when
    (_, histogram), (title, ecdf) = charts.drift_feature_figures(chart)
    # then
    plotly_valid(histogram)
    plotly_valid(ecdf)
    assert title == "ECDF" and [trace["name"] for trace in ecdf["data"]] == ["reference"]
    assert all(row[2] is None for row in ecdf["table"]["rows"])


def test_categorical_shares_side_by_side() -> None:
    """Category shares of both sides as grouped bars, with the counts in the data table; categories the reference
    never took are one "<unseen>" bar."""
    # when
    ((_, figure),) = charts.drift_feature_figures(categorical_chart(["red", "blue"], [50, 50], [10, 80, 10]))
    # then
    plotly_valid(figure)
    assert figure["layout"]["barmode"] == "group"
    assert figure["data"][1]["y"] == [0.1, 0.8, 0.1]
    assert figure["table"]["rows"][2] == ["<unseen>", 0, 0.0, 10, 0.1]


@pytest.mark.parametrize(
    "stored", [{}, {"kind": "numeric"}, {"kind": "histogram2d"}, {"kind": "categorical", "categories": []}]
)
def test_missing_or_unknown_chart_data_gives_no_figure(stored: dict[str, Any]) -> None:
    """Old runs ({}), malformed or unknown data: no figures, so the report shows the summaries and says so."""
    assert charts.drift_feature_figures(stored) == []


def test_prediction_distribution_follows_the_model_class_order() -> None:
    """Classes in the model's order (not the JSON's), unknown labels after them."""
    # when
    figure = charts.prediction_distribution_figure(
        reference={"virginica": 0.3, "setosa": 0.4, "versicolor": 0.3},
        current={"setosa": 0.1, "<unknown>": 0.1, "virginica": 0.8},
        class_order=["setosa", "versicolor", "virginica"],
    )
    # then
    assert figure is not None
    plotly_valid(figure)
    assert figure["data"][0]["x"] == ["setosa", "versicolor", "virginica", "<unknown>"]
    assert figure["data"][1]["y"] == [0.1, 0.0, 0.8, 0.1]


def test_drift_scores_over_time_mark_drifted_runs() -> None:
    """Scores per run with crosses where the run flagged the feature, runs without a score left out, and the
    threshold line across the range."""
    # when
    figure = charts.drift_scores_figure(
        points=[(WINDOW.start + 60, 0.1, False), (WINDOW.start + 120, None, False), (WINDOW.start + 180, 0.3, True)],
        threshold=0.15,
        window=WINDOW,
    )
    # then
    assert figure is not None
    plotly_valid(figure)
    scores, threshold = figure["data"]
    assert scores["y"] == [0.1, 0.3] and scores["marker"]["symbol"] == ["circle", "x"]
    assert threshold["y"] == [0.15, 0.15]
    assert charts.drift_scores_figure(points=[(WINDOW.start, None, False)], threshold=0.15, window=WINDOW) is None


def test_the_data_quality_chart_names_each_feature_and_draws_the_model_wide_thresholds() -> None:
    """One trace per feature and check (missing, out of range, unseen), named by feature; a dashed line per stored
    data-quality threshold of the model, none for a kind without a row."""
    # given
    chart = next(c for c in MODEL_CHARTS if c.key == "data_quality")
    share = [0.2] * WINDOW.points
    answers = [
        [series(share, feature_name="sepal_length"), series([0.0] * WINDOW.points, feature_name="petal_width")],
        [series([0.1] * WINDOW.points, feature_name="petal_length")],
        [],
    ]
    thresholds = {Threshold.Kind.FEATURE_MISSING_RATE: 0.1, Threshold.Kind.FEATURE_OUT_OF_RANGE_RATE: 0.05}
    # when
    figure = charts.timeseries_figure(chart=chart, answers=answers, thresholds=thresholds, window=WINDOW)
    # then
    assert figure is not None
    plotly_valid(figure)
    names = [trace["name"] for trace in figure["data"]]
    assert names[:3] == ["sepal_length missing", "petal_width missing", "petal_length out of range"]
    lines = figure["data"][3:]
    assert [line["y"] for line in lines] == [[0.1, 0.1], [0.05, 0.05]]
    assert all("Rate" in line["name"] for line in lines)


def test_the_model_page_draws_the_estimated_accuracy_band_beside_the_realized_values() -> None:
    """The estimated-performance chart: the CBPE band as a filled interval, estimated and realized accuracy and F1 as
    lines (realized dotted), and the EstimatedAccuracyLow threshold of the model."""
    # given
    chart = next(c for c in MODEL_CHARTS if c.key == "estimated_performance")
    answers = [
        [series([v] * WINDOW.points, model_version="2")] for v in (0.78, 0.9, 0.84, 0.86, 0.8, 0.82)
    ]  # lower, upper, est/real acc, est/real F1
    # when
    figure = charts.timeseries_figure(
        chart=chart, answers=answers, thresholds={"estimated_accuracy_below": 0.8}, window=WINDOW
    )
    # then
    assert figure is not None
    traces = {trace["name"]: trace for trace in figure["data"]}
    assert traces["estimated accuracy v2"]["y"][0] == 0.84 and "dash" not in traces["estimated accuracy v2"]["line"]
    assert traces["realized accuracy v2"]["line"]["dash"] == "dot"
    assert traces["estimated macro F1 v2"]["y"][0] == 0.8
    band = [trace for trace in figure["data"] if trace["name"] == "estimated accuracy band v2"]
    assert [trace["y"][0] for trace in band] == [0.78, 0.9] and band[1]["fill"] == "tonexty"
    assert traces["estimated accuracy threshold (EstimatedAccuracyLow): 0.8"]["y"] == [0.8, 0.8]
