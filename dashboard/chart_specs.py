"""What the dashboard draws from Prometheus: the overview's figures and the model page's time-series charts.

These two lists are the extension points. A new figure is one more entry: its PromQL templates (`$model` is the
model_name matcher, `$window` the rate() window of the page's step, `$range` the page's whole range) and the stored
threshold kinds drawn with it. Queries must stay right when several web processes or hosts are scraped
(README "Several hosts"): counters as `sum by (...) (rate(...))`, histogram quantiles as
`histogram_quantile(q, sum by (le, ...) (rate(x_bucket[w])))`, gauges read from the database (accuracy, drift,
model info) with `max by` / `avg by`, never `sum`.

Example: the data-quality chart below (`key="data_quality"`) is one entry: three queries (share of rows per
feature) and three threshold lines. An interval is a `band_lower` and a `band_upper` query whose series have the
same labels, drawn as a shaded band (the estimated accuracy's CBPE band below).
"""

from __future__ import annotations

from dataclasses import dataclass

from alerts_config.models import Threshold

# Okabe-Ito colours (colour-blind safe): blue = current / fine, grey = reference, vermillion = threshold / breach.
BLUE = "#0072B2"
GREY = "#999999"
VERMILLION = "#D55E00"
ORANGE = "#E69F00"
SKY = "#56B4E9"
GREEN = "#009E73"
PURPLE = "#CC79A7"
BLACK = "#000000"
PALETTE = (BLUE, ORANGE, GREEN, PURPLE, SKY, BLACK, "#F0E442")

REQUESTS = "ml_prediction_requests_total"


@dataclass(frozen=True)
class SeriesQuery:
    """One PromQL template of a chart; every series it returns becomes a trace.

    `name` may name labels in braces (`"{predicted_class}"`). `role` is `line`, or `band_lower` / `band_upper`: two
    queries whose series (matched by labels) are drawn as a shaded band. `scale` converts base units for display
    (seconds -> ms)."""

    expr: str
    name: str
    role: str = "line"
    color: str | None = None
    dash: str | None = None
    scale: float = 1.0


@dataclass(frozen=True)
class ThresholdLine:
    """A stored threshold drawn as a dashed horizontal line: the value the alert rule of `kind` uses for the model."""

    kind: str
    name: str
    scale: float = 1.0


@dataclass(frozen=True)
class TimeSeriesChart:
    """A chart of the model page: Prometheus range queries over the page's range, and threshold lines."""

    key: str
    title: str
    y_title: str
    queries: tuple[SeriesQuery, ...]
    thresholds: tuple[ThresholdLine, ...] = ()
    y_format: str = ""  # a d3 format for the y axis, e.g. ".0%"
    y_range: tuple[float, float] | None = None
    description: str = ""


def _quantile(q: float, metric: str, by: str = "le") -> str:
    return f"histogram_quantile({q}, sum by ({by}) (rate({metric}_bucket{{$model}}[$window])))"


_ERRORS = f'sum(rate({REQUESTS}{{$model, status="error"}}[$window]))'
_ALL = f"sum(rate({REQUESTS}{{$model}}[$window]))"


def _row_share(counter: str) -> str:
    """Share of the model's scored rows a data-quality counter counted, per feature (predictions/data_quality.py)."""
    return (
        f"sum by (feature_name) (rate({counter}{{$model}}[$window]))"
        " / ignoring(feature_name) group_left sum(rate(ml_data_quality_rows_total{$model}[$window]))"
    )


MODEL_CHARTS: list[TimeSeriesChart] = [
    TimeSeriesChart(
        key="requests",
        title="Requests and errors per second",
        y_title="requests/s",
        queries=(
            SeriesQuery(_ALL, name="requests/s", color=BLUE),
            SeriesQuery(_ERRORS, name="errors/s", color=VERMILLION),
        ),
        description="Prediction requests per second, all of them and the failed ones, summed over every instance.",
    ),
    TimeSeriesChart(
        key="error_rate",
        title="Error rate",
        y_title="share of requests",
        queries=(SeriesQuery(f"({_ERRORS} or {_ALL} * 0) / {_ALL}", name="error rate", color=BLUE),),
        thresholds=(ThresholdLine(Threshold.Kind.ERROR_RATE, "HighErrorRate threshold"),),
        y_format=".1%",
    ),
    TimeSeriesChart(
        key="latency",
        title="Latency quantiles",
        y_title="ms",
        queries=(
            SeriesQuery(_quantile(0.5, "ml_prediction_latency_seconds"), name="p50", color=GREEN, scale=1000.0),
            SeriesQuery(_quantile(0.95, "ml_prediction_latency_seconds"), name="p95", color=BLUE, scale=1000.0),
            SeriesQuery(_quantile(0.99, "ml_prediction_latency_seconds"), name="p99", color=PURPLE, scale=1000.0),
        ),
        thresholds=(ThresholdLine(Threshold.Kind.LATENCY_P95, "p95 threshold (HighPredictionLatency)", 1000.0),),
        description="From the latency histogram's buckets summed over instances; p95 is what the alert watches.",
    ),
    TimeSeriesChart(
        key="confidence",
        title="Confidence quantiles",
        y_title="top-class probability",
        queries=(
            SeriesQuery(_quantile(0.1, "ml_model_confidence"), name="p10", color=ORANGE),
            SeriesQuery(_quantile(0.25, "ml_model_confidence"), name="p25", color=GREEN),
            SeriesQuery(_quantile(0.5, "ml_model_confidence"), name="median", color=BLUE),
        ),
        thresholds=(ThresholdLine(Threshold.Kind.LOW_CONFIDENCE, "median threshold (LowConfidencePredictions)"),),
        y_range=(0.0, 1.0),
    ),
    TimeSeriesChart(
        key="classes",
        title="Predicted-class shares",
        y_title="share of predictions",
        queries=(
            SeriesQuery(
                "sum by (predicted_class) (rate(ml_prediction_distribution_total{$model}[$window]))"
                " / ignoring(predicted_class) group_left sum(rate(ml_prediction_distribution_total{$model}[$window]))",
                name="{predicted_class}",
            ),
        ),
        y_format=".0%",
        y_range=(0.0, 1.0),
    ),
    TimeSeriesChart(
        key="performance",
        title="Accuracy and F1 (realized, from labels)",
        y_title="score",
        queries=(
            SeriesQuery("max by (model_version) (ml_model_accuracy{$model})", name="accuracy v{model_version}"),
            SeriesQuery("max by (model_version) (ml_model_f1_score{$model})", name="macro F1 v{model_version}"),
            SeriesQuery(
                "max by (model_version) (ml_model_label_coverage{$model})",
                name="label coverage v{model_version}",
                dash="dot",
            ),
        ),
        thresholds=(
            ThresholdLine(Threshold.Kind.ACCURACY_BELOW, "accuracy threshold (AccuracyBelow)"),
            ThresholdLine(Threshold.Kind.F1_BELOW, "F1 threshold (F1Below)"),
        ),
        y_range=(0.0, 1.0),
        description="Over the latest labelled predictions of each version (FEEDBACK_WINDOW), as exported by /metrics.",
    ),
    TimeSeriesChart(
        key="data_quality",
        title="Data quality per feature",
        y_title="share of rows",
        queries=(
            SeriesQuery(_row_share("ml_feature_missing_total"), name="{feature_name} missing"),
            SeriesQuery(_row_share("ml_feature_out_of_range_total"), name="{feature_name} out of range", dash="dash"),
            SeriesQuery(_row_share("ml_feature_unseen_category_total"), name="{feature_name} unseen", dash="dot"),
        ),
        thresholds=(
            ThresholdLine(Threshold.Kind.FEATURE_MISSING_RATE, "missing threshold (FeatureMissingRateHigh)"),
            ThresholdLine(
                Threshold.Kind.FEATURE_OUT_OF_RANGE_RATE, "out-of-range threshold (FeatureOutOfRangeRateHigh)"
            ),
            ThresholdLine(Threshold.Kind.UNSEEN_CATEGORY_RATE, "unseen threshold (UnseenCategoryRateHigh)"),
        ),
        y_format=".1%",
        description="Scored rows with a missing value, a value outside the active reference's range (both sides), or "
        "a category the reference never saw; features past DATA_QUALITY_MAX_FEATURES are summed under __other__. "
        "Threshold lines: the model-wide values (a per-feature threshold judges only its feature).",
    ),
    TimeSeriesChart(
        key="estimated_performance",
        title="Accuracy and F1 estimated without labels, beside realized",
        y_title="score",
        queries=(
            SeriesQuery(
                "max by (model_version) (ml_model_estimated_accuracy_lower{$model})",
                name="estimated accuracy band v{model_version}",
                role="band_lower",
                color=BLUE,
            ),
            SeriesQuery(
                "max by (model_version) (ml_model_estimated_accuracy_upper{$model})",
                name="estimated accuracy band v{model_version}",
                role="band_upper",
                color=BLUE,
            ),
            SeriesQuery(
                "max by (model_version) (ml_model_estimated_accuracy{$model})",
                name="estimated accuracy v{model_version}",
                color=BLUE,
            ),
            SeriesQuery(
                "max by (model_version) (ml_model_accuracy{$model})",
                name="realized accuracy v{model_version}",
                color=BLUE,
                dash="dot",
            ),
            SeriesQuery(
                "max by (model_version) (ml_model_estimated_f1_score{$model})",
                name="estimated macro F1 v{model_version}",
                color=GREEN,
            ),
            SeriesQuery(
                "max by (model_version) (ml_model_f1_score{$model})",
                name="realized macro F1 v{model_version}",
                color=GREEN,
                dash="dot",
            ),
        ),
        thresholds=(
            ThresholdLine(
                Threshold.Kind.ESTIMATED_ACCURACY_BELOW, "estimated accuracy threshold (EstimatedAccuracyLow)"
            ),
            ThresholdLine(Threshold.Kind.ESTIMATED_F1_BELOW, "estimated F1 threshold (EstimatedF1Low)"),
        ),
        y_range=(0.0, 1.0),
        description="CBPE estimate of each drift window (shaded: its +/-3 sigma sampling band), available before the "
        "labels arrive, beside the realized values (dotted) once labels are posted.",
    ),
]


@dataclass(frozen=True)
class OverviewMetric:
    """A column of the models overview: a figure over the whole range and its sparkline.

    `value_expr` is an instant query at the range's end, aggregated `by (model_name)`; None when the value comes
    from the database (`db_field` of the row: accuracy, F1, coverage). `spark_expr` is a range query by
    (model_name). `breach` says which side of the threshold of `threshold_kind` is bad."""

    key: str
    title: str
    spark_expr: str
    value_expr: str | None = None
    db_field: str | None = None
    unit: str = ""  # "%": shown as a percentage; "ms": seconds shown as milliseconds; "/s"; "" plain
    threshold_kind: str | None = None
    breach: str = "above"


def _range_quantile(q: float, metric: str, window: str) -> str:
    return f"histogram_quantile({q}, sum by (model_name, le) (rate({metric}_bucket{{$model}}[{window}])))"


def _error_ratio(window: str) -> str:
    errors = f'sum by (model_name) (rate({REQUESTS}{{$model, status="error"}}[{window}]))'
    every = f"sum by (model_name) (rate({REQUESTS}{{$model}}[{window}]))"
    return f"({errors} or {every} * 0) / {every}"


def _active_gauge(metric: str) -> str:
    # The active version's value; max, not sum, because every web instance exports the same database value.
    return f"max by (model_name) ({metric}{{$model}} and on (model_name, model_version) ml_model_info{{$model}})"


OVERVIEW_METRICS: list[OverviewMetric] = [
    OverviewMetric(
        key="requests",
        title="Requests/s",
        value_expr=f"sum by (model_name) (rate({REQUESTS}{{$model}}[$range]))",
        spark_expr=f"sum by (model_name) (rate({REQUESTS}{{$model}}[$window]))",
        unit="/s",
    ),
    OverviewMetric(
        key="error_rate",
        title="Error rate",
        value_expr=_error_ratio("$range"),
        spark_expr=_error_ratio("$window"),
        unit="%",
        threshold_kind=Threshold.Kind.ERROR_RATE,
    ),
    *(
        OverviewMetric(
            key=f"p{int(q * 100)}",
            title=f"p{int(q * 100)} latency",
            value_expr=_range_quantile(q, "ml_prediction_latency_seconds", "$range"),
            spark_expr=_range_quantile(q, "ml_prediction_latency_seconds", "$window"),
            unit="ms",
            threshold_kind=Threshold.Kind.LATENCY_P95 if q == 0.95 else None,
        )
        for q in (0.5, 0.95, 0.99)
    ),
    OverviewMetric(
        key="confidence",
        title="Median confidence",
        value_expr=_range_quantile(0.5, "ml_model_confidence", "$range"),
        spark_expr=_range_quantile(0.5, "ml_model_confidence", "$window"),
        threshold_kind=Threshold.Kind.LOW_CONFIDENCE,
        breach="below",
    ),
    OverviewMetric(
        key="accuracy",
        title="Accuracy",
        db_field="accuracy",
        spark_expr=_active_gauge("ml_model_accuracy"),
        unit="%",
        threshold_kind=Threshold.Kind.ACCURACY_BELOW,
        breach="below",
    ),
    OverviewMetric(
        key="f1",
        title="Macro F1",
        db_field="f1_macro",
        spark_expr=_active_gauge("ml_model_f1_score"),
        threshold_kind=Threshold.Kind.F1_BELOW,
        breach="below",
    ),
    OverviewMetric(
        key="coverage",
        title="Label coverage",
        db_field="coverage",
        spark_expr=_active_gauge("ml_model_label_coverage"),
        unit="%",
    ),
]

# The drift column's sparkline: the share of drifted features per run, from the persisted runs' gauge.
DRIFT_SHARE_SPARK = "max by (model_name) (ml_dataset_drift_share{$model})"
