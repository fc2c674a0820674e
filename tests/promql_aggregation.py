"""Checking that a PromQL expression stays right when Prometheus scrapes several web instances.

Every instance exports the gauges and counters it reads from the database (drift, accuracy, model info, drift job
totals) with the same value, and its own share of the counters it records per request. So a database-read metric
must be taken through `max by`/`min by`/`avg by` (never summed, never used bare: one series per instance), and a
request counter or histogram through `sum` of `rate()`/`increase()` (never max, never a bare counter); an aggregation
of histogram buckets keeps `le`. One lint for every PromQL the project writes: the generated alert rules
(tests/alerts_config/test_rendering.py), the Grafana dashboards (tests/monitoring/test_dashboards.py) and the
dashboard app's queries (tests/dashboard/test_chart_specs.py).
"""

from __future__ import annotations

import re

DATABASE_READ = (
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
    "ml_drift_window_size",
    "ml_dataset_drift_share",
    "ml_dataset_drifted",
    "ml_drift_last_run_timestamp_seconds",
    "ml_drift_job_runs_total",
    "ml_drift_job_failures_total",
    "ml_drift_feature_failures_total",
    "ml_drift_job_duration_seconds_bucket",
    "ml_model_estimated_accuracy",
    "ml_model_estimated_accuracy_lower",
    "ml_model_estimated_accuracy_upper",
    "ml_model_estimated_f1_score",
    "ml_model_estimated_f1_score_lower",
    "ml_model_estimated_f1_score_upper",
    "ml_drift_window_label_coverage",
    "ml_feedback_last_label_timestamp_seconds",
)
PER_REQUEST = (
    "ml_prediction_requests_total",
    "ml_prediction_latency_seconds_bucket",
    "ml_prediction_latency_seconds_sum",
    "ml_prediction_latency_seconds_count",
    "ml_batch_size_bucket",
    "ml_batch_size_sum",
    "ml_batch_size_count",
    "ml_model_confidence_bucket",
    "ml_prediction_distribution_total",
    "ml_prediction_rows_total",
    "ml_feedback_labels_total",
    "ml_feature_missing_total",
    "ml_feature_out_of_range_total",
    "ml_feature_unseen_category_total",
    "ml_data_quality_rows_total",
    "ml_feedback_label_delay_seconds_bucket",
    "ml_feedback_label_delay_seconds_sum",
    "ml_feedback_label_delay_seconds_count",
)
_GROUPING = r"(?: by \([^)]*\) ?)?"
# The right-hand side of `and on(...)` / `unless on(...)` only selects which left-hand series are kept: its copies
# from several instances neither double nor split anything.
_DATABASE_OK = re.compile(rf"(?:(?:max|min|avg){_GROUPING}\((?:rate|increase)?\(?|(?:and|unless) on ?\([^)]*\) )$")
# An aggregation over a histogram's buckets must keep `le`, or it adds up the buckets of different bounds.
_BUCKETS_AGGREGATED = re.compile(
    r"(?:sum|max|min|avg)(?: by \(([^)]*)\))? ?\((?:(?:rate|increase)\()?([a-zA-Z_:][a-zA-Z0-9_:]*_bucket)\b"
)
_REQUEST_OK = re.compile(rf"sum{_GROUPING}\((?:rate|increase)\($")
_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def aggregation_problems(expr: str) -> list[str]:
    """What in `expr` would double or split across instances; empty when nothing would."""
    problems = []
    for match in _NAME.finditer(expr):
        name, before = match.group(0), expr[: match.start()]
        if before.endswith(("$", "{", '"', ".")) or (expr[match.end() :].startswith("=")):
            continue  # a variable, a label name or value, not a metric
        if name in DATABASE_READ and not _DATABASE_OK.search(before):
            problems.append(f"{name} (read from the database by every instance) needs max/min/avg by: {expr}")
        if name in PER_REQUEST and not _REQUEST_OK.search(before):
            problems.append(f"{name} (counted per instance) needs sum of rate()/increase(): {expr}")
    for match in _BUCKETS_AGGREGATED.finditer(expr):
        if "le" not in [label.strip() for label in (match.group(1) or "").split(",")]:
            problems.append(f"{match.group(2)} aggregated without `le` merges the histogram's buckets: {expr}")
    return problems
