"""The dashboard's PromQL aggregates correctly when several web instances are scraped (tests/promql_aggregation.py,
the lint the alert rules and the Grafana dashboards pass too)."""

from __future__ import annotations

from dashboard.chart_specs import DRIFT_SHARE_SPARK, MODEL_CHARTS, OVERVIEW_METRICS
from tests.promql_aggregation import aggregation_problems


def dashboard_expressions() -> list[str]:
    """Every PromQL template of the dashboard app."""
    exprs = [DRIFT_SHARE_SPARK]
    for metric in OVERVIEW_METRICS:
        exprs += [metric.spark_expr] + ([metric.value_expr] if metric.value_expr else [])
    for chart in MODEL_CHARTS:
        exprs += [query.expr for query in chart.queries]
    return exprs


def test_every_dashboard_query_aggregates_across_web_instances() -> None:
    """No overview figure or model chart doubles or splits a value across instances: database-read gauges go
    through max/min/avg by (or only select, on the right of `and on`), request counters through sum of rate(), and
    histogram quantiles sum their buckets by le."""
    # when
    problems = [problem for expr in dashboard_expressions() for problem in aggregation_problems(expr)]
    # then
    assert problems == [], "\n".join(problems)
