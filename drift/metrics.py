"""Drift gauges, read at scrape time from the latest persisted run of each model: values computed in Celery are
stored in the database and exported by a collector in the web process, so they are right under any number of web
workers, unchanged after a restart, and carry no timestamps (docs/architecture.md, "Metrics under several web
workers")."""

from __future__ import annotations

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.metrics_core import Metric

from mlmonitor.metrics import CachedCollector

from .models import DriftJobStats

# Performance estimated without labels (CBPE, drift/estimation.py) by the latest run: gauge name and help, and the
# DriftRun field it reads, in the same order.
ESTIMATE_GAUGES = (
    ("ml_model_estimated_accuracy", "Accuracy estimated without labels (CBPE) over the latest drift window."),
    ("ml_model_estimated_accuracy_lower", "Lower end of the estimated accuracy's sampling band (-3 sigma)."),
    ("ml_model_estimated_accuracy_upper", "Upper end of the estimated accuracy's sampling band (+3 sigma)."),
    ("ml_model_estimated_f1_score", "Macro F1 estimated without labels (CBPE) over the latest drift window."),
    ("ml_model_estimated_f1_score_lower", "Lower end of the estimated macro F1's sampling band (-3 sigma)."),
    ("ml_model_estimated_f1_score_upper", "Upper end of the estimated macro F1's sampling band (+3 sigma)."),
)
ESTIMATE_FIELDS = (
    "estimated_accuracy",
    "estimated_accuracy_lower",
    "estimated_accuracy_upper",
    "estimated_f1",
    "estimated_f1_lower",
    "estimated_f1_upper",
)


class DriftCollector(CachedCollector):
    """ml_feature_drift_score and friends, the estimated performance and the window's label coverage from the latest
    run per model; drift job totals from DriftJobStats."""

    def build(self) -> list[Metric]:
        """Two queries for the runs and their features, one for the job totals."""
        from .selectors import drift_job_stats_list, drift_run_latest_per_model

        feature_labels = ["model_name", "feature_name"]
        score = GaugeMetricFamily(
            "ml_feature_drift_score", "Drift score of a feature in the latest run.", labels=feature_labels
        )
        threshold = GaugeMetricFamily(
            "ml_feature_drift_threshold", "Threshold above which a feature drifts.", labels=feature_labels
        )
        p_value = GaugeMetricFamily(
            "ml_feature_drift_p_value", "p-value of the feature's drift test.", labels=feature_labels
        )
        drifted = GaugeMetricFamily(
            "ml_feature_drifted", "1 if the feature drifted in the latest run.", labels=feature_labels
        )
        missing = GaugeMetricFamily(
            "ml_feature_missing_share", "Share of missing values in the drift window.", labels=feature_labels
        )
        prediction = GaugeMetricFamily(
            "ml_prediction_drift_score",
            "Jensen-Shannon distance (base 2) of predicted class shares vs the reference.",
            labels=["model_name"],
        )
        window = GaugeMetricFamily(
            "ml_drift_window_size", "Predictions in the latest drift window.", labels=["model_name"]
        )
        share = GaugeMetricFamily(
            "ml_dataset_drift_share", "Share of features that drifted in the latest run.", labels=["model_name"]
        )
        dataset = GaugeMetricFamily(
            "ml_dataset_drifted", "1 if the dataset drifted in the latest run.", labels=["model_name"]
        )
        last_run = GaugeMetricFamily(
            "ml_drift_last_run_timestamp_seconds", "Unix time of the latest drift run.", labels=["model_name"]
        )
        version_labels = ["model_name", "model_version"]
        estimates = [
            GaugeMetricFamily(metric, help_text, labels=version_labels) for metric, help_text in ESTIMATE_GAUGES
        ]
        coverage = GaugeMetricFamily(
            "ml_drift_window_label_coverage",
            "Share of the latest drift window's predictions that have a true label.",
            labels=version_labels,
        )
        for run in drift_run_latest_per_model():
            name = run.model.name
            version = run.model_version.version if run.model_version is not None else ""
            if run.label_coverage is not None:
                coverage.add_metric([name, version], float(run.label_coverage))
            for family, field in zip(estimates, ESTIMATE_FIELDS, strict=True):
                value = getattr(run, field)
                if value is not None:  # no estimate (reference without labels, small window): no sample
                    family.add_metric([name, version], float(value))
            last_run.add_metric([name], run.computed_at.timestamp())
            window.add_metric([name], float(run.window_size))
            share.add_metric([name], float(run.drifted_share))
            dataset.add_metric([name], 1.0 if run.dataset_drift else 0.0)
            if run.prediction_score is not None:
                prediction.add_metric([name], float(run.prediction_score))
            for result in run.features.all():
                labels = [name, result.feature_name]
                threshold.add_metric(labels, float(result.threshold))
                missing.add_metric(labels, float(result.missing_share))
                if result.score is None:  # insufficient data or failed: no sample rather than a fake 0 or NaN
                    continue
                score.add_metric(labels, float(result.score))
                drifted.add_metric(labels, 1.0 if result.drifted else 0.0)
                if result.p_value is not None:
                    p_value.add_metric(labels, float(result.p_value))

        duration = HistogramMetricFamily(
            "ml_drift_job_duration_seconds", "Duration of drift jobs.", labels=["model_name"]
        )
        failures = CounterMetricFamily("ml_drift_job_failures", "Drift jobs that failed.", labels=["model_name"])
        feature_failures = CounterMetricFamily(
            "ml_drift_feature_failures", "Features whose drift test failed.", labels=["model_name"]
        )
        runs = CounterMetricFamily("ml_drift_job_runs", "Drift jobs run.", labels=["model_name"])
        for stats in drift_job_stats_list():
            name = stats.model.name
            counts = list(stats.duration_buckets) or [0] * (len(DriftJobStats.DURATION_BUCKETS) + 1)
            cumulative, buckets = 0, []
            for bound, count in zip([*map(str, DriftJobStats.DURATION_BUCKETS), "+Inf"], counts, strict=True):
                cumulative += count
                buckets.append((bound, float(cumulative)))
            duration.add_metric([name], buckets, float(stats.duration_sum))
            failures.add_metric([name], float(stats.failures))
            feature_failures.add_metric([name], float(stats.feature_failures))
            runs.add_metric([name], float(stats.runs))
        return [
            score,
            threshold,
            p_value,
            drifted,
            missing,
            prediction,
            window,
            share,
            dataset,
            last_run,
            *estimates,
            coverage,
            duration,
            failures,
            feature_failures,
            runs,
        ]
