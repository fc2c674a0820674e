"""Reads behind the dashboard pages: the database (models, drift runs, thresholds, labels, alert history) and, in
parallel, Prometheus and Alertmanager. Every page reads a fixed number of SQL queries whatever the number of models,
features or runs; what Prometheus or Alertmanager cannot answer is reported on the page, and the database part is
shown all the same."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from django.conf import settings
from django.core.paginator import Page, Paginator
from django.db.models import OuterRef, Prefetch, QuerySet, Subquery

from alerts_config.models import AlertEvent
from alerts_config.selectors import ModelThresholds, model_thresholds_resolve
from drift.models import DriftRun, FeatureDriftResult
from drift.statistics import NUMERIC_SUMMARY_KEYS
from mlmonitor.errors import ApplicationError
from predictions.models import MLModel, ModelVersion
from predictions.performance import ModelPerformance
from predictions.selectors import model_version_performance_list

from . import charts
from .alertmanager import FiringAlert, FiringAlerts, alertmanager_alerts_submit
from .chart_specs import BLUE, DRIFT_SHARE_SPARK, MODEL_CHARTS, OVERVIEW_METRICS, VERMILLION, OverviewMetric
from .prometheus import (
    DEFAULT_RANGE,
    RANGES,
    SPARKLINE_POINTS,
    PromQuery,
    QueryResults,
    QueryWindow,
    Series,
    prometheus_queries_submit,
    promql_render,
    query_window,
)

OVERVIEW_PAGE_SIZE = 25
FEATURES_PAGE_SIZE = 20
ALERT_HISTORY_PAGE_SIZE = 50
DRIFT_POINTS = 200  # runs plotted per feature at most; evenly spread over the range when there are more
RECENT_RUNS = 15
SORT_DIRECTIONS = ("asc", "desc")

_Item = TypeVar("_Item")


# --- shared pieces ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PageRange:
    """The time range a page shows: its key (`1h`), the charts' window and the sparklines' coarser one."""

    key: str
    window: QueryWindow
    spark: QueryWindow

    @property
    def choices(self) -> list[str]:
        """The ranges a page offers."""
        return list(RANGES)


def page_range_parse(*, key: str | None, now: float | None = None) -> PageRange:
    """The range named by `?range=` (default 1h); 400 for a name that is not offered."""
    key = key or DEFAULT_RANGE
    if key not in RANGES:
        raise ApplicationError(
            f"Unknown range {key!r}: choose one of {', '.join(RANGES)}.", code="invalid_range", status=400
        )
    now = time.time() if now is None else now
    scrape = settings.DASHBOARD_SCRAPE_INTERVAL_SECONDS
    return PageRange(
        key=key,
        window=query_window(range_seconds=RANGES[key], now=now, scrape_interval=scrape),
        spark=query_window(range_seconds=RANGES[key], now=now, scrape_interval=scrape, max_points=SPARKLINE_POINTS),
    )


def page_number_parse(value: str | None) -> int:
    """A page number from the query string; 400 when it is not a positive integer."""
    if not value:
        return 1
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise ApplicationError(f"Page must be a positive integer, not {value!r}.", code="invalid_page", status=400)
    return number


def _page(items: Sequence[_Item], *, number: int, size: int) -> Page[_Item]:
    """One page of a list; a number past the end gives the last page."""
    paginator = Paginator(items, size, allow_empty_first_page=True)
    return paginator.get_page(number)


def _active_version(model: MLModel) -> ModelVersion | None:
    active = getattr(model, "active_versions", None)
    return active[0] if active else None


def _models_with_active_version() -> QuerySet[MLModel]:
    """Enabled models with their active version (to_attr active_versions) and the id of their latest drift run."""
    latest_run = DriftRun.objects.filter(model=OuterRef("pk")).order_by("-computed_at", "-id").values("pk")[:1]
    return (
        MLModel.objects.filter(is_enabled=True)
        .annotate(latest_run_id=Subquery(latest_run))
        .prefetch_related(
            Prefetch("versions", queryset=ModelVersion.objects.filter(is_active=True), to_attr="active_versions")
        )
        .order_by("name")
    )


def _runs_by_id(run_ids: Sequence[int | None]) -> dict[int, DriftRun]:
    """Drift runs without their per-feature rows, by id."""
    ids = [run_id for run_id in run_ids if run_id is not None]
    if not ids:
        return {}
    return {run.pk: run for run in DriftRun.objects.filter(pk__in=ids)}


def value_display(value: float | None, unit: str) -> str:
    """A base-unit value as people read it: ratios as %, seconds as ms."""
    if value is None:
        return "\u2013"
    if unit == "%":
        return f"{value * 100:.1f}%"
    if unit == "ms":
        return f"{value * 1000:.3g} ms"
    if unit == "/s":
        return f"{value:.3g}/s"
    return f"{value:.3f}"


def _breached(value: float | None, threshold: float | None, breach: str) -> bool:
    if value is None or threshold is None:
        return False
    return value < threshold if breach == "below" else value > threshold


def _by_model(series: Sequence[Series]) -> dict[str, Series]:
    return {s.labels.get("model_name", ""): s for s in series}


# --- overview ---------------------------------------------------------------------------------------------------


@dataclass
class MetricCell:
    """One figure of one model on the overview."""

    metric: OverviewMetric
    value: float | None
    display: str
    breach: bool
    threshold: float | None
    spark_id: str | None


@dataclass
class OverviewRow:
    """One model on the overview."""

    model: MLModel
    version: ModelVersion | None
    cells: list[MetricCell]
    performance: ModelPerformance | None
    drift_run: DriftRun | None
    drift_spark_id: str | None
    alerts: list[FiringAlert]
    history_alerts: list[AlertEvent]

    def sort_value(self, key: str) -> Any:
        """The value the overview sorts by (None sorts last)."""
        if key == "name":
            return self.model.name.lower()
        if key == "drift":
            return self.drift_run.drifted_share if self.drift_run is not None else None
        if key == "alerts":
            return len(self.alerts) + len(self.history_alerts)
        for cell in self.cells:
            if cell.metric.key == key:
                return cell.value
        return None


@dataclass
class OverviewPage:
    """The models overview."""

    range: PageRange
    page: Page[OverviewRow]
    figures: dict[str, Any]
    query: str
    sort: str
    direction: str
    model_count: int
    metrics: list[OverviewMetric]
    prometheus_unavailable: str | None
    failed_queries: dict[str, str]
    alerts_unavailable: str | None
    global_alerts: list[FiringAlert] = field(default_factory=list)

    @property
    def columns(self) -> list[SortColumn]:
        """The sortable headers: name, each metric, drift, alerts."""
        titles = [
            ("name", "Model"),
            *((m.key, m.title) for m in self.metrics),
            ("drift", "Drift"),
            ("alerts", "Alerts"),
        ]
        columns = []
        for key, title in titles:
            current = key == self.sort
            columns.append(
                SortColumn(
                    key=key,
                    title=title,
                    next_direction="desc" if current and self.direction == "asc" else "asc",
                    aria_sort=("ascending" if self.direction == "asc" else "descending") if current else "none",
                )
            )
        return columns


@dataclass(frozen=True)
class SortColumn:
    """A sortable header of the overview table."""

    key: str
    title: str
    next_direction: str
    aria_sort: str


def overview_sort_keys() -> list[str]:
    """The columns the overview can be sorted by."""
    return ["name", *(metric.key for metric in OVERVIEW_METRICS), "drift", "alerts"]


def _overview_queries(page_range: PageRange) -> dict[str, PromQuery]:
    queries: dict[str, PromQuery] = {}
    for metric in OVERVIEW_METRICS:
        queries[f"spark:{metric.key}"] = PromQuery(promql_render(metric.spark_expr, window=page_range.spark))
        if metric.value_expr is not None:
            queries[f"value:{metric.key}"] = PromQuery(
                promql_render(metric.value_expr, window=page_range.window), instant=True
            )
    queries["spark:drift"] = PromQuery(promql_render(DRIFT_SHARE_SPARK, window=page_range.spark))
    return queries


def overview_get(
    *, range_key: str | None, query: str = "", sort: str = "name", direction: str = "asc", page: int = 1
) -> OverviewPage:
    """Every enabled model with its active version and, over the range, traffic, errors, latency, confidence (from
    Prometheus), accuracy, F1 and label coverage (from labelled predictions in the database), drift status (the latest
    persisted run) and the alerts firing now; searchable by name, sortable by any column, paged."""
    if sort not in overview_sort_keys():
        raise ApplicationError(f"Cannot sort by {sort!r}.", code="invalid_sort", status=400)
    if direction not in SORT_DIRECTIONS:
        raise ApplicationError(f"Direction must be asc or desc, not {direction!r}.", code="invalid_sort", status=400)
    page_range = page_range_parse(key=range_key)
    pending = prometheus_queries_submit(queries=_overview_queries(page_range), window=page_range.spark)
    pending_alerts = alertmanager_alerts_submit()

    models = list(_models_with_active_version())
    model_count = len(models)
    if query:
        models = [m for m in models if query.lower() in m.name.lower()]
    versions = [v for v in (_active_version(m) for m in models) if v is not None]
    for version in versions:
        version.model = next(m for m in models if m.pk == version.model_id)
    performance = {
        p.model_name: p for p in model_version_performance_list(versions=versions, window=settings.FEEDBACK_WINDOW)
    }
    runs = _runs_by_id([getattr(m, "latest_run_id", None) for m in models])
    thresholds = model_thresholds_resolve(model_ids=[m.pk for m in models])

    results = pending.results()
    # Range-wide values are instant queries at the end of the chart window (the sparkline window ends earlier or at
    # the same time: both are aligned down to their own step).
    firing = pending_alerts.result()
    history_firing = _history_firing() if firing.unavailable else []

    figures: dict[str, Any] = {}
    rows = []
    for model in models:
        rows.append(
            _overview_row(
                model=model,
                results=results,
                page_range=page_range,
                performance=performance.get(model.name),
                run=runs.get(getattr(model, "latest_run_id", None) or 0),
                thresholds=thresholds[model.pk],
                firing=firing,
                history_firing=history_firing,
                figures=figures,
            )
        )
    present = [r for r in rows if r.sort_value(sort) is not None]
    missing = [r for r in rows if r.sort_value(sort) is None]
    present.sort(key=lambda r: (r.sort_value(sort), r.model.name), reverse=direction == "desc")
    ordered = present + sorted(missing, key=lambda r: r.model.name)
    paged = _page(ordered, number=page, size=OVERVIEW_PAGE_SIZE)
    shown = {id(row) for row in paged.object_list}
    # Only the figures of the rows on this page travel to the browser.
    for row in ordered:
        if id(row) not in shown:
            for key in [c.spark_id for c in row.cells] + [row.drift_spark_id]:
                if key:
                    figures.pop(key, None)
    return OverviewPage(
        range=page_range,
        page=paged,
        figures=figures,
        query=query,
        sort=sort,
        direction=direction,
        model_count=model_count,
        metrics=list(OVERVIEW_METRICS),
        prometheus_unavailable=results.unavailable,
        failed_queries=results.failed,
        alerts_unavailable=firing.unavailable,
        global_alerts=[a for a in firing.alerts if not a.model_name],
    )


def _history_firing() -> list[AlertEvent]:
    """Alert episodes the history still holds as firing (the last state Alertmanager posted), newest first."""
    return list(AlertEvent.objects.filter(status=AlertEvent.STATUS_FIRING).order_by("-starts_at")[:500])


def _overview_row(
    *,
    model: MLModel,
    results: QueryResults,
    page_range: PageRange,
    performance: ModelPerformance | None,
    run: DriftRun | None,
    thresholds: ModelThresholds,
    firing: FiringAlerts,
    history_firing: list[AlertEvent],
    figures: dict[str, Any],
) -> OverviewRow:
    cells = []
    for metric in OVERVIEW_METRICS:
        if metric.db_field is not None:
            value = getattr(performance, metric.db_field) if performance is not None and performance.labelled else None
            if metric.db_field == "coverage" and performance is not None:
                value = performance.coverage
        else:
            found = _by_model(results.get(f"value:{metric.key}")).get(model.name)
            value = found.last if found is not None else None
        threshold = thresholds.by_kind.get(str(metric.threshold_kind)) if metric.threshold_kind else None
        breach = _breached(value, threshold, metric.breach)
        spark_id = None
        spark = _by_model(results.get(f"spark:{metric.key}")).get(model.name)
        if spark is not None:
            figure = charts.sparkline_figure(
                series=spark, window=page_range.spark, color=VERMILLION if breach else BLUE
            )
            if figure is not None:
                spark_id = f"spark-{model.pk}-{metric.key}"
                figures[spark_id] = figure
        cells.append(
            MetricCell(
                metric=metric,
                value=value,
                display=value_display(value, metric.unit),
                breach=breach,
                threshold=threshold,
                spark_id=spark_id,
            )
        )
    drift_spark_id = None
    spark = _by_model(results.get("spark:drift")).get(model.name)
    if spark is not None:
        color = VERMILLION if run is not None and run.dataset_drift else BLUE
        figure = charts.sparkline_figure(series=spark, window=page_range.spark, color=color)
        if figure is not None:
            drift_spark_id = f"spark-{model.pk}-drift"
            figures[drift_spark_id] = figure
    return OverviewRow(
        model=model,
        version=_active_version(model),
        cells=cells,
        performance=performance,
        drift_run=run,
        drift_spark_id=drift_spark_id,
        alerts=firing.for_model(model.name),
        history_alerts=[event for event in history_firing if event.model_name == model.name],
    )


# --- model page -------------------------------------------------------------------------------------------------


@dataclass
class ChartView:
    """A chart of the model page: its figure id, or why it has none."""

    key: str
    title: str
    description: str
    figure_id: str | None
    failed: str | None = None


@dataclass
class FeatureDriftView:
    """One feature's drift over time on the model page."""

    name: str
    feature_type: str
    latest_score: float | None
    latest_drifted: bool
    latest_status: str
    threshold: float
    figure_id: str | None


# A feature in the model page's list: (name, type, latest score, drifted, status).
FeatureRow = tuple[str, str, float | None, bool, str]


@dataclass
class ModelPage:
    """One model's charts."""

    model: MLModel
    version: ModelVersion | None
    range: PageRange
    charts: list[ChartView]
    figures: dict[str, Any]
    performance: ModelPerformance | None
    thresholds: ModelThresholds
    latest_run: DriftRun | None
    recent_runs: list[DriftRun]
    features: list[FeatureDriftView]  # the features on this page
    feature_page: Page[FeatureRow]  # which page of the model's features that is
    feature_query: str
    feature_count: int
    runs_in_range: int
    runs_plotted: int
    alerts: list[FiringAlert]
    prometheus_unavailable: str | None
    alerts_unavailable: str | None


def _model_get(name: str) -> MLModel:
    model = _models_with_active_version().filter(name=name).first()
    if model is None:
        raise ApplicationError(f"Unknown model {name!r}.", code="not_found", status=404)
    return model


def runs_spread(runs: Sequence[tuple[int, datetime]], *, limit: int) -> list[tuple[int, datetime]]:
    """At most `limit` runs of a time-ordered list, evenly spread, the first and the last always kept."""
    if len(runs) <= limit:
        return list(runs)
    if limit < 2:
        return list(runs[-limit:]) if limit else []
    last = len(runs) - 1
    indices = sorted({round(i * last / (limit - 1)) for i in range(limit)})
    return [runs[i] for i in indices]


def model_page_get(*, name: str, range_key: str | None, feature_query: str = "", page: int = 1) -> ModelPage:
    """A model's time series over the range (Prometheus), with the stored thresholds its alert rules use drawn as
    lines; each feature's drift score per persisted run (database), searchable and paged; recent drift runs."""
    page_range = page_range_parse(key=range_key)
    model = _model_get(name)
    version = _active_version(model)
    queries = {
        f"{chart.key}:{index}": PromQuery(promql_render(query.expr, window=page_range.window, model_name=model.name))
        for chart in MODEL_CHARTS
        for index, query in enumerate(chart.queries)
    }
    pending = prometheus_queries_submit(queries=queries, window=page_range.window)
    pending_alerts = alertmanager_alerts_submit()

    thresholds = model_thresholds_resolve(model_ids=[model.pk])[model.pk]
    performance = None
    if version is not None:
        version.model = model
        performance = next(
            iter(model_version_performance_list(versions=[version], window=settings.FEEDBACK_WINDOW)), None
        )
    recent_runs = list(DriftRun.objects.filter(model=model).order_by("-computed_at", "-id")[:RECENT_RUNS])
    latest_run = recent_runs[0] if recent_runs else None

    # Features in the order of the latest run: drifted first, then by score.
    if latest_run is not None:
        latest: list[FeatureRow] = list(
            FeatureDriftResult.objects.filter(run=latest_run).values_list(
                "feature_name", "feature_type", "score", "drifted", "status"
            )
        )
    else:
        latest = [(f["name"], f.get("type", ""), None, False, "") for f in (version.feature_schema if version else [])]
    latest.sort(key=lambda f: (not f[3], -(f[2] if f[2] is not None else -1.0), f[0]))
    feature_count = len(latest)
    if feature_query:
        latest = [f for f in latest if feature_query.lower() in f[0].lower()]
    features_page = _page(latest, number=page, size=FEATURES_PAGE_SIZE)
    page_names = [f[0] for f in features_page.object_list]

    start = datetime.fromtimestamp(page_range.window.start, tz=UTC)
    in_range = list(
        DriftRun.objects.filter(model=model, computed_at__gte=start)
        .order_by("computed_at", "id")
        .values_list("id", "computed_at")
    )
    plotted = runs_spread(in_range, limit=DRIFT_POINTS)
    run_times = {run_id: computed_at.timestamp() for run_id, computed_at in plotted}
    points: dict[str, list[tuple[float, float | None, bool]]] = {name: [] for name in page_names}
    if page_names and run_times:
        rows = FeatureDriftResult.objects.filter(run_id__in=list(run_times), feature_name__in=page_names).values_list(
            "feature_name", "run_id", "score", "drifted"
        )
        for feature_name, run_id, score, drifted in rows:
            points[feature_name].append((run_times[run_id], score, drifted))

    figures: dict[str, Any] = {}
    feature_views = []
    for index, (feature_name, feature_type, score, drifted, status) in enumerate(features_page.object_list):
        threshold = thresholds.feature_drift(feature_name)
        figure = charts.drift_scores_figure(
            points=sorted(points[feature_name]), threshold=threshold, window=page_range.window
        )
        figure_id = None
        if figure is not None:
            figure_id = f"drift-{features_page.number}-{index}"
            figures[figure_id] = figure
        feature_views.append(
            FeatureDriftView(
                name=feature_name,
                feature_type=feature_type,
                latest_score=score,
                latest_drifted=drifted,
                latest_status=status,
                threshold=threshold,
                figure_id=figure_id,
            )
        )

    results = pending.results()
    chart_views = []
    for chart in MODEL_CHARTS:
        answers = [results.get(f"{chart.key}:{index}") for index in range(len(chart.queries))]
        failed = next((results.failed[k] for k in results.failed if k.startswith(f"{chart.key}:")), None)
        figure = None
        if results.unavailable is None:
            figure = charts.timeseries_figure(
                chart=chart, answers=answers, thresholds=thresholds.by_kind, window=page_range.window
            )
        figure_id = None
        if figure is not None:
            figure_id = f"chart-{chart.key}"
            figures[figure_id] = figure
        chart_views.append(
            ChartView(
                key=chart.key, title=chart.title, description=chart.description, figure_id=figure_id, failed=failed
            )
        )
    firing = pending_alerts.result()
    return ModelPage(
        model=model,
        version=version,
        range=page_range,
        charts=chart_views,
        figures=figures,
        performance=performance,
        thresholds=thresholds,
        latest_run=latest_run,
        recent_runs=recent_runs,
        features=feature_views,
        feature_page=features_page,
        feature_query=feature_query,
        feature_count=feature_count,
        runs_in_range=len(in_range),
        runs_plotted=len(plotted),
        alerts=firing.for_model(model.name),
        prometheus_unavailable=results.unavailable,
        alerts_unavailable=firing.unavailable,
    )


# --- drift report -----------------------------------------------------------------------------------------------


@dataclass
class SummaryRow:
    """One line of a feature's summary table: a statistic of the reference and of the current window."""

    name: str
    reference: str
    current: str


@dataclass
class FeatureReport:
    """One feature of a drift report."""

    result: FeatureDriftResult
    rank: int
    figures: list[tuple[str, str]]
    has_chart: bool
    summary: list[SummaryRow]


@dataclass
class DriftReport:
    """A persisted drift run drawn: features sorted by score (drifted first), distributions, summaries."""

    run: DriftRun
    model: MLModel
    is_latest: bool
    features: list[FeatureReport]
    cards: Page[FeatureReport]
    query: str
    figures: dict[str, Any]
    prediction_figure_id: str | None
    previous_run_id: int | None
    next_run_id: int | None


def _summary_value(key: str, value: Any) -> str:
    if value is None:
        return "\u2013"
    if key == "count":
        return f"{int(value):,}"
    if key.endswith("share") or key.startswith("share:"):
        return f"{float(value) * 100:.1f}%"
    return f"{float(value):.4g}"


def summary_rows(result: FeatureDriftResult) -> list[SummaryRow]:
    """The reference and current summaries side by side: numeric statistics in their usual order, or count,
    missing share and the share of each category."""
    reference, current = result.reference_summary or {}, result.current_summary or {}
    if "shares" in reference or "shares" in current:
        rows = [
            SummaryRow(
                key.replace("_", " "), _summary_value(key, reference.get(key)), _summary_value(key, current.get(key))
            )
            for key in ("count", "missing_share")
        ]
        ref_shares, cur_shares = reference.get("shares", {}), current.get("shares", {})
        for category in dict.fromkeys([*ref_shares, *cur_shares]):
            rows.append(
                SummaryRow(
                    f"share of {category}",
                    _summary_value("share:", ref_shares.get(category)),
                    _summary_value("share:", cur_shares.get(category)),
                )
            )
        return rows
    keys = [k for k in NUMERIC_SUMMARY_KEYS if k in reference or k in current]
    keys += [k for k in dict.fromkeys([*reference, *current]) if k not in keys]
    return [
        SummaryRow(
            key.replace("_", " "), _summary_value(key, reference.get(key)), _summary_value(key, current.get(key))
        )
        for key in keys
    ]


def drift_feature_order(results: Sequence[FeatureDriftResult]) -> list[FeatureDriftResult]:
    """Drifted features first, then by score (highest first; no score last), then by name."""
    return sorted(results, key=lambda r: (not r.drifted, r.score is None, -(r.score or 0.0), r.feature_name))


def drift_report_get(
    *, run_id: int | None = None, model_name: str | None = None, query: str = "", page: int = 1
) -> DriftReport:
    """A drift run (by id, or a model's latest) with every feature ranked, and one page of feature cards with their
    stored distributions drawn; 404 for an unknown run or model, or a model without runs."""
    # The reference's prepared statistics are tens of MB for a wide reference: the page shows its name and size only.
    runs = DriftRun.objects.select_related("model", "model_version", "reference").defer(
        "reference__numeric_reference", "reference__categorical_reference"
    )
    if run_id is not None:
        run = runs.filter(pk=run_id).first()
        if run is None:
            raise ApplicationError(f"No drift run {run_id}.", code="not_found", status=404)
    else:
        run = runs.filter(model__name=model_name).order_by("-computed_at", "-id").first()
        if run is None:
            if not MLModel.objects.filter(name=model_name).exists():
                raise ApplicationError(f"Unknown model {model_name!r}.", code="not_found", status=404)
            raise ApplicationError(
                f"Model {model_name!r} has no drift run yet: runs follow the drift schedule, or queue one with "
                f"POST /api/v1/models/{model_name}/drift/run.",
                code="no_drift_run",
                status=404,
            )
    ordered = drift_feature_order(list(FeatureDriftResult.objects.filter(run=run)))
    same_model = DriftRun.objects.filter(model_id=run.model_id)
    previous_run_id = (
        same_model.filter(computed_at__lt=run.computed_at)
        .order_by("-computed_at", "-id")
        .values_list("pk", flat=True)
        .first()
    )
    next_run_id = (
        same_model.filter(computed_at__gt=run.computed_at)
        .order_by("computed_at", "id")
        .values_list("pk", flat=True)
        .first()
    )

    figures: dict[str, Any] = {}
    reports = []
    for rank, result in enumerate(ordered, start=1):
        reports.append(
            FeatureReport(
                result=result,
                rank=rank,
                figures=[],
                has_chart=bool(result.chart),
                summary=[],
            )
        )
    matching = [r for r in reports if query.lower() in r.result.feature_name.lower()] if query else reports
    cards = _page(matching, number=page, size=FEATURES_PAGE_SIZE)
    for report in cards.object_list:
        report.summary = summary_rows(report.result)
        for index, (title, figure) in enumerate(charts.drift_feature_figures(report.result.chart or {})):
            figure_id = f"feature-{report.rank}-{index}"
            figures[figure_id] = figure
            report.figures.append((title, figure_id))
    prediction_figure_id = None
    prediction = charts.prediction_distribution_figure(
        reference=run.prediction_reference_distribution or {},
        current=run.prediction_current_distribution or {},
        class_order=[str(c) for c in run.model_version.class_labels] if run.model_version else (),
    )
    if prediction is not None:
        prediction_figure_id = "prediction-distribution"
        figures[prediction_figure_id] = prediction
    return DriftReport(
        run=run,
        model=run.model,
        is_latest=next_run_id is None,
        features=matching,
        cards=cards,
        query=query,
        figures=figures,
        prediction_figure_id=prediction_figure_id,
        previous_run_id=previous_run_id,
        next_run_id=next_run_id,
    )


# --- alerts -----------------------------------------------------------------------------------------------------


@dataclass
class AlertsPage:
    """Alerts firing now (Alertmanager) and the recorded history (the webhook's AlertEvent rows)."""

    firing: FiringAlerts
    history: Page[AlertEvent]
    status: str
    model_name: str
    history_firing: list[AlertEvent]


def alerts_page_get(*, status: str = "", model_name: str = "", page: int = 1) -> AlertsPage:
    """The firing alerts and one page of the history, newest first, optionally of one status or model."""
    if status not in ("", AlertEvent.STATUS_FIRING, AlertEvent.STATUS_RESOLVED):
        raise ApplicationError(f"Status must be firing or resolved, not {status!r}.", code="invalid_status", status=400)
    pending = alertmanager_alerts_submit()
    events = AlertEvent.objects.order_by("-starts_at", "-id")
    if status:
        events = events.filter(status=status)
    if model_name:
        events = events.filter(model_name=model_name)
    history = Paginator(events, ALERT_HISTORY_PAGE_SIZE).get_page(page)
    firing = pending.result()
    return AlertsPage(
        firing=firing,
        history=history,
        status=status,
        model_name=model_name,
        history_firing=_history_firing() if firing.unavailable else [],
    )
