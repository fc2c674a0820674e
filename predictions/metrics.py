"""Prediction metrics (docs/metrics.md): request counters and histograms recorded in the request, and the collector
that reads the registry and the labelled predictions (model info, accuracy, F1, label coverage) at scrape time.

Counters and histograms work in gunicorn's multiprocess mode; values that live in the database are read by the
process that serves the scrape, so every worker reports the same thing (docs/architecture.md, "Metrics under
gunicorn"). The scrape itself is assembled in mlmonitor/metrics.py.
"""

from __future__ import annotations

import bisect
import functools
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from django.conf import settings
from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from mlmonitor.metrics import CachedCollector, MetricWrites, bucket_counts, labelled

from .ids import uuid7_time

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
BATCH_BUCKETS = (1, 5, 10, 25, 50, 100, 250, 500)
CONFIDENCE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)

PREDICTION_REQUESTS = Counter(
    "ml_prediction_requests_total",
    "Prediction requests by model, version and outcome (success or error).",
    ["model_name", "model_version", "status"],
)
PREDICTION_LATENCY = Histogram(
    "ml_prediction_latency_seconds",
    "Time to validate, score and log one successful prediction request.",
    ["model_name"],
    buckets=LATENCY_BUCKETS,
)
BATCH_SIZE = Histogram("ml_batch_size", "Rows per prediction request.", ["model_name"], buckets=BATCH_BUCKETS)
MODEL_CONFIDENCE = Histogram(
    "ml_model_confidence",
    "Top-class probability of each prediction.",
    ["model_name", "predicted_class"],
    buckets=CONFIDENCE_BUCKETS,
)
PREDICTION_DISTRIBUTION = Counter(
    "ml_prediction_distribution_total", "Predictions by predicted class.", ["model_name", "predicted_class"]
)
PREDICTION_ROWS = Counter("ml_prediction_rows_total", "Rows scored and logged.", ["model_name", "model_version"])
FEEDBACK_LABELS = Counter("ml_feedback_labels_total", "Ground-truth labels received.", ["model_name", "model_version"])
# From a prediction to its true label: minutes to weeks (seconds; the last bucket is 30 days).
LABEL_DELAY_BUCKETS = (
    60.0,
    300.0,
    900.0,
    3600.0,
    3 * 3600.0,
    6 * 3600.0,
    12 * 3600.0,
    86400.0,
    2 * 86400.0,
    7 * 86400.0,
    14 * 86400.0,
    30 * 86400.0,
)
LABEL_DELAY = Histogram(
    "ml_feedback_label_delay_seconds",
    "Time from a prediction to the arrival of its true label (observed when the label is posted).",
    ["model_name"],
    buckets=LABEL_DELAY_BUCKETS,
)
MODEL_MEMORY = Gauge(
    "ml_model_memory_bytes",
    "Memory held by one loaded copy of the model's active version (per serving process).",
    ["model_name"],
    multiprocess_mode="livemax",
)


def prediction_batch_record(
    *,
    model_name: str,
    model_version: str,
    class_labels: list[str] | tuple[str, ...],
    latencies: list[float],
    sizes: list[int],
    predicted: np.ndarray,
    confidences: np.ndarray,
    writes: MetricWrites,
) -> None:
    """Record successful requests scored and logged together: one latency (seconds) and batch size per request, one
    predicted class index and confidence per row ([rows] each; finite: the service refuses non-finite
    probabilities). Each series is incremented once per batch, not once per request, into `writes` (the caller
    writes them); a histogram once per bucket the batch touched. The first batch of a version creates every class's
    distribution and confidence series, at 0 for the classes it did not predict."""
    if not settings.METRICS_ENABLED or not sizes:
        return
    series = _version_series(model_name, model_version, tuple(class_labels))
    requests, rows = len(sizes), predicted.size
    values = [series.succeeded, series.rows, series.latency_sum, series.size_sum]
    amounts = [float(requests), float(rows), float(sum(latencies)), float(rows)]
    # one increment per touched bucket, not per request: a batch's requests mostly share their latency's bucket
    latency_buckets = series.latency_buckets
    for position, count in bucket_counts(series.latency_bounds, latencies).items():
        values.append(latency_buckets[position])
        amounts.append(float(count))
    size_buckets = series.size_buckets
    for position, count in bucket_counts(series.size_bounds, sizes).items():
        values.append(size_buckets[position])
        amounts.append(float(count))
    if rows <= 32:  # rows counted per class and confidence bucket in Python (numpy calls cost 1-5 us each)
        confidence_bounds, bisect_left = series.confidence_bounds, bisect.bisect_left
        in_bucket: dict[tuple[int, int], int] = {}  # (class index, confidence bucket) -> rows
        summed: dict[int, float] = {}  # class index -> its rows' confidences, added up
        for index, confidence in zip(predicted.tolist(), confidences.tolist(), strict=True):
            key = (index, bisect_left(confidence_bounds, confidence))
            in_bucket[key] = in_bucket.get(key, 0) + 1
            summed[index] = summed.get(index, 0.0) + confidence
        confidence_buckets, of_class = series.confidence_buckets, dict.fromkeys(summed, 0)
        for (index, position), count in in_bucket.items():
            values.append(confidence_buckets[index][position])
            amounts.append(float(count))
            of_class[index] += count
        distribution, confidence_sums = series.distribution, series.confidence_sums
        for index, total in summed.items():
            values += (distribution[index], confidence_sums[index])
            amounts += (float(of_class[index]), total)
        writes.extend(values, amounts)
        return
    writes.extend(values, amounts)
    counts = np.bincount(predicted, minlength=len(class_labels))
    for index in np.flatnonzero(counts).tolist():
        label = class_labels[index]
        writes.inc(labelled(PREDICTION_DISTRIBUTION, model_name, label), float(counts[index]))
        writes.observe_many(labelled(MODEL_CONFIDENCE, model_name, label), confidences[predicted == index])


@dataclass(frozen=True, eq=False)
class _VersionSeries:
    """The multiprocess values (MetricWrites.values_of) a batch of one model version writes, taken from their children
    once: the success and row counters; the latency and batch-size histograms' buckets (with their upper bounds) and
    sums; per class index, its distribution counter and its confidence histogram's buckets and sum."""

    succeeded: Any
    rows: Any
    latency_bounds: list[float]
    latency_buckets: tuple[Any, ...]
    latency_sum: Any
    size_bounds: list[float]
    size_buckets: tuple[Any, ...]
    size_sum: Any
    distribution: tuple[Any, ...]
    confidence_bounds: list[float]
    confidence_buckets: tuple[tuple[Any, ...], ...]
    confidence_sums: tuple[Any, ...]


@functools.lru_cache(maxsize=1024)
def _version_series(model_name: str, model_version: str, class_labels: tuple[str, ...]) -> _VersionSeries:
    """The values every batch of a model version touches, looked up once per version instead of once per batch."""
    values_of = MetricWrites.values_of
    latency = labelled(PREDICTION_LATENCY, model_name)
    size = labelled(BATCH_SIZE, model_name)
    confidences = [values_of(labelled(MODEL_CONFIDENCE, model_name, label)) for label in class_labels]
    return _VersionSeries(
        succeeded=labelled(PREDICTION_REQUESTS, model_name, model_version, "success")._value,
        rows=labelled(PREDICTION_ROWS, model_name, model_version)._value,
        latency_bounds=latency._upper_bounds,
        latency_buckets=values_of(latency)[:-1],
        latency_sum=latency._sum,
        size_bounds=size._upper_bounds,
        size_buckets=values_of(size)[:-1],
        size_sum=size._sum,
        distribution=tuple(labelled(PREDICTION_DISTRIBUTION, model_name, label)._value for label in class_labels),
        confidence_bounds=MODEL_CONFIDENCE._upper_bounds,
        confidence_buckets=tuple(values[:-1] for values in confidences),
        confidence_sums=tuple(values[-1] for values in confidences),
    )


def prediction_series_create(*, model_name: str, model_version: str) -> None:
    """Create a model version's success and error request series at 0 when it is loaded: an error series that first
    appears with its first increment loses that increment to rate() and increase(), and until then the error rate
    (errors / requests) has no samples instead of 0 (Prometheus, "Instrumentation": avoid missing metrics)."""
    if settings.METRICS_ENABLED:
        for status in ("success", "error"):
            labelled(PREDICTION_REQUESTS, model_name, model_version, status)


def prediction_error_record(*, model_name: str, model_version: str) -> None:
    """Record one failed prediction request of a known model."""
    if settings.METRICS_ENABLED:
        labelled(PREDICTION_REQUESTS, model_name, model_version, "error").inc()


def label_delays(*, items: list[tuple[str, uuid.UUID]], now: datetime) -> dict[str, np.ndarray]:
    """Seconds from each prediction (the time in its version-7 id) to `now`, per model name, from (model name,
    prediction id) pairs; a negative delay (clock skew between hosts) counts as 0."""
    grouped: dict[str, list[float]] = {}
    received = now.timestamp()
    for model_name, prediction_id in items:
        grouped.setdefault(model_name, []).append(max(received - uuid7_time(prediction_id), 0.0))
    return {name: np.asarray(values) for name, values in grouped.items()}


def feedback_record(*, counts: dict[tuple[str, str], int], delays: dict[str, np.ndarray] | None = None) -> None:
    """Record received labels per (model, version), and each label's delay since its prediction per model."""
    if settings.METRICS_ENABLED:
        for (model_name, model_version), count in counts.items():
            FEEDBACK_LABELS.labels(model_name, model_version).inc(count)
        writes = MetricWrites()
        for model_name, values in (delays or {}).items():
            writes.observe_many(labelled(LABEL_DELAY, model_name), values)
        writes.write()


def model_memory_record(*, model_name: str, memory_bytes: int) -> None:
    """Record the in-memory size of a freshly loaded model."""
    if settings.METRICS_ENABLED:
        MODEL_MEMORY.labels(model_name).set(memory_bytes)


class ModelRegistryCollector(CachedCollector):
    """ml_model_info, ml_model_accuracy, ml_model_f1_score and label counts, from the database at scrape time."""

    def build(self) -> list[Metric]:
        """Read the registry and recent labelled predictions (one query each)."""
        from .selectors import labels_last_received_list, model_performance_list, model_version_active_list

        info = GaugeMetricFamily(
            "ml_model_info", "Active model version (value 1).", labels=["model_name", "model_version", "framework"]
        )
        for version in model_version_active_list():
            info.add_metric([version.model.name, version.version, version.framework], 1.0)
        accuracy = GaugeMetricFamily(
            "ml_model_accuracy",
            f"Accuracy over the last {settings.FEEDBACK_WINDOW} labelled predictions.",
            labels=["model_name", "model_version"],
        )
        f1 = GaugeMetricFamily(
            "ml_model_f1_score",
            f"Macro F1 over the last {settings.FEEDBACK_WINDOW} labelled predictions.",
            labels=["model_name", "model_version"],
        )
        labelled = GaugeMetricFamily(
            "ml_model_labelled_predictions",
            "Labelled predictions in the accuracy window.",
            labels=["model_name", "model_version"],
        )
        coverage = GaugeMetricFamily(
            "ml_model_label_coverage",
            f"Share of the last {settings.FEEDBACK_WINDOW} predictions that have a true label.",
            labels=["model_name", "model_version"],
        )
        for perf in model_performance_list(window=settings.FEEDBACK_WINDOW):
            labels = [perf.model_name, perf.model_version]
            labelled.add_metric(labels, float(perf.labelled))
            coverage.add_metric(labels, perf.coverage)
            if perf.labelled:
                accuracy.add_metric(labels, perf.accuracy)
                f1.add_metric(labels, perf.f1_macro)
        last_label = GaugeMetricFamily(
            "ml_feedback_last_label_timestamp_seconds",
            "Unix time the model's most recent true label was received (absent before its first label).",
            labels=["model_name"],
        )
        for model_name, received in labels_last_received_list().items():
            last_label.add_metric([model_name], received.timestamp())
        return [info, accuracy, f1, labelled, coverage, last_label]
