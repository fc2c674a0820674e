"""The dashboard's PromQL and Grafana's aggregate correctly when several web instances are scraped: a gauge read from
the database (every instance exports the same value) is never summed across instances; counters are rates summed."""

from __future__ import annotations

import json
import re
from pathlib import Path

from dashboard.chart_specs import DRIFT_SHARE_SPARK, MODEL_CHARTS, OVERVIEW_METRICS

ROOT = Path(__file__).resolve().parents[2]
DATABASE_GAUGES = (
    "ml_model_accuracy",
    "ml_model_f1_score",
    "ml_model_label_coverage",
    "ml_model_labelled_predictions",
    "ml_model_info",
    "ml_feature_drift_score",
    "ml_feature_drift_threshold",
    "ml_feature_drift_p_value",
    "ml_feature_drifted",
    "ml_feature_missing_share",
    "ml_prediction_drift_score",
    "ml_dataset_drift_share",
    "ml_dataset_drifted",
    "ml_drift_window_size",
    "ml_drift_last_run_timestamp_seconds",
)
SUMMED_GAUGE = re.compile(r"\b(sum|count)\s*(by\s*\([^)]*\)\s*)?\(\s*(" + "|".join(DATABASE_GAUGES) + r")\b")
RATE_OF = re.compile(r"rate\((\w+)")


def dashboard_expressions() -> list[str]:
    """Every PromQL template of the dashboard app."""
    exprs = [DRIFT_SHARE_SPARK]
    for metric in OVERVIEW_METRICS:
        exprs += [metric.spark_expr] + ([metric.value_expr] if metric.value_expr else [])
    for chart in MODEL_CHARTS:
        exprs += [query.expr for query in chart.queries]
    return exprs


def grafana_expressions() -> list[str]:
    """Every target of the committed Grafana dashboards."""
    exprs = []

    def walk(panels: list[dict]) -> None:
        for panel in panels:
            exprs.extend(target["expr"] for target in panel.get("targets", []))
            walk(panel.get("panels", []))

    for path in sorted((ROOT / "monitoring" / "grafana" / "dashboards").glob("*.json")):
        walk(json.loads(path.read_text())["panels"])
    return exprs


def test_no_database_gauge_is_summed_across_instances() -> None:
    """sum()/count() never applies directly to a gauge every instance exports (max by / avg by first)."""
    offenders = [expr for expr in dashboard_expressions() + grafana_expressions() if SUMMED_GAUGE.search(expr)]
    assert not offenders, offenders


def test_every_rate_in_the_dashboard_is_summed() -> None:
    """Each rate() of a counter or histogram in the dashboard's queries sits inside a sum (per-instance counters add
    up), and histogram quantiles sum their buckets by le."""
    for expr in dashboard_expressions():
        for match in RATE_OF.finditer(expr):
            before = expr[: match.start()]
            assert re.search(r"sum\s*(by\s*\([^)]*\)\s*)?\($", before.rstrip()), expr
        if "histogram_quantile" in expr:
            assert re.search(r"sum by \((?:[\w, ]*\b)?le\b", expr), expr
