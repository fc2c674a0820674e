"""The PromQL aggregation lint (tests/promql_aggregation.py) flags what doubles or splits across web instances and
passes what does not, so the rule, Grafana and dashboard checks that use it can fail."""

from __future__ import annotations

import pytest

from tests.promql_aggregation import aggregation_problems


@pytest.mark.parametrize(
    "expr",
    [
        "max by (model_name) (ml_model_accuracy)",
        'avg by (model_name, feature_name) (ml_feature_drift_score{model_name=~"$model"})',
        "sum by (model_name) (rate(ml_prediction_requests_total[5m]))",
        "histogram_quantile(0.95, sum by (model_name, le) (rate(ml_prediction_latency_seconds_bucket[5m])))",
        "max by (model_name) (ml_model_f1_score{$model} and on (model_name, model_version) ml_model_info{$model})",
        "max by (model_name, feature_name) (ml_feature_drift_score) unless on(model_name) ml_dataset_drifted",
        "max by (model_name, le) (ml_drift_job_duration_seconds_bucket)",
    ],
)
def test_expressions_that_stay_right_with_several_instances_pass(expr: str) -> None:
    """Database-read gauges under max/avg by (or only selecting, right of and/unless on), request counters summed
    over rate(), buckets aggregated with le: no problem."""
    assert aggregation_problems(expr) == []


@pytest.mark.parametrize(
    ("expr", "named"),
    [
        ("sum by (model_name) (ml_model_accuracy)", "ml_model_accuracy"),
        ("ml_feature_drift_score > 0.15", "ml_feature_drift_score"),
        ("max by (model_name) (rate(ml_prediction_requests_total[5m]))", "ml_prediction_requests_total"),
        ("rate(ml_prediction_rows_total[5m])", "ml_prediction_rows_total"),
        ("x or on (model_name) ml_model_info", "ml_model_info"),
        (
            "histogram_quantile(0.5, sum by (model_name) (rate(ml_model_confidence_bucket[5m])))",
            "ml_model_confidence_bucket",
        ),
    ],
)
def test_expressions_that_double_split_or_merge_are_flagged(expr: str, named: str) -> None:
    """A summed or bare database-read gauge, a request counter taken by max or used without sum, an `or` that adds a
    gauge's copies, and buckets summed without le: each is reported, naming the metric."""
    problems = aggregation_problems(expr)
    assert problems and all(named in problem for problem in problems)
