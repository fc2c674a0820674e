"""Prediction metrics of SPEC.md: request counters and histograms recorded in the request, and collectors that
read the database (model info, accuracy, F1, label coverage) or NVML (GPU) at scrape time.

Counters and histograms work in gunicorn's multiprocess mode; values that live in the database are read by the
process that serves the scrape, so every worker reports the same thing (DESIGN-NOTES, "values computed in Celery").
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

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
    "Time to validate, score and log one prediction request.",
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
MODEL_MEMORY = Gauge(
    "ml_model_memory_bytes",
    "Memory held by one loaded copy of the model's active version (per serving process).",
    ["model_name"],
    multiprocess_mode="livemax",
)


def _histogram_observe_many(child: Any, bounds: np.ndarray, values: np.ndarray) -> None:
    """Observe many values at once: one increment per bucket instead of one observe() per value."""
    values = values[np.isfinite(values)]
    if values.size == 0:
        return
    buckets = getattr(child, "_buckets", None)
    total = getattr(child, "_sum", None)
    if buckets is None or total is None:  # a future client without these internals: fall back to observe()
        for value in values.tolist():
            child.observe(value)
        return
    positions = np.searchsorted(bounds, values, side="left")
    counts = np.bincount(positions, minlength=len(bounds) + 1)
    for position in np.flatnonzero(counts).tolist():
        buckets[position].inc(int(counts[position]))
    total.inc(float(values.sum()))


_CONFIDENCE_BOUNDS = np.asarray([*CONFIDENCE_BUCKETS, float("inf")])
_LATENCY_BOUNDS = np.asarray([*LATENCY_BUCKETS, float("inf")])
_BATCH_BOUNDS = np.asarray([*BATCH_BUCKETS, float("inf")])
_children: dict[tuple[Any, ...], Any] = {}


def _child(metric: Any, *labels: str) -> Any:
    """metric.labels(*labels), remembered: the lookup costs more than the increment on the hot path."""
    key = (id(metric), *labels)
    child = _children.get(key)
    if child is None:
        child = _children[key] = metric.labels(*labels)
    return child


def prediction_batch_record(
    *,
    model_name: str,
    model_version: str,
    class_labels: list[str] | tuple[str, ...],
    latencies: np.ndarray,
    sizes: np.ndarray,
    predicted: np.ndarray,
    confidences: np.ndarray,
) -> None:
    """Record successful requests scored and logged together: one latency and batch size per request, one
    confidence and class per row. Each series is written once per batch, not once per request."""
    if not settings.METRICS_ENABLED or sizes.size == 0:
        return
    _child(PREDICTION_REQUESTS, model_name, model_version, "success").inc(int(sizes.size))
    _histogram_observe_many(_child(PREDICTION_LATENCY, model_name), _LATENCY_BOUNDS, latencies)
    _histogram_observe_many(_child(BATCH_SIZE, model_name), _BATCH_BOUNDS, sizes.astype(np.float64))
    _child(PREDICTION_ROWS, model_name, model_version).inc(int(sizes.sum()))
    counts = np.bincount(predicted, minlength=len(class_labels))
    for index in np.flatnonzero(counts).tolist():
        label = class_labels[index]
        _child(PREDICTION_DISTRIBUTION, model_name, label).inc(int(counts[index]))
        _histogram_observe_many(
            _child(MODEL_CONFIDENCE, model_name, label), _CONFIDENCE_BOUNDS, confidences[predicted == index]
        )


def prediction_error_record(*, model_name: str, model_version: str) -> None:
    """Record one failed prediction request of a known model."""
    if settings.METRICS_ENABLED:
        _child(PREDICTION_REQUESTS, model_name, model_version, "error").inc()


def feedback_record(*, counts: dict[tuple[str, str], int]) -> None:
    """Record received labels per (model, version)."""
    if settings.METRICS_ENABLED:
        for (model_name, model_version), count in counts.items():
            FEEDBACK_LABELS.labels(model_name, model_version).inc(count)


def model_memory_record(*, model_name: str, memory_bytes: int) -> None:
    """Record the in-memory size of a freshly loaded model."""
    if settings.METRICS_ENABLED:
        MODEL_MEMORY.labels(model_name).set(memory_bytes)


COLLECTOR_ERRORS = Counter(
    "ml_metrics_collector_errors_total",
    "Scrape-time reads (database, NVML) that failed or ran past METRICS_COLLECTOR_DB_TIMEOUT_SECONDS.",
    ["collector"],
)
_cached_collectors: weakref.WeakSet[CachedCollector] = weakref.WeakSet()


@contextlib.contextmanager
def database_time_bounded(seconds: float) -> Iterator[None]:
    """Run the block's queries with a time limit, so a locked table cannot hold a scrape past Prometheus' timeout.

    PostgreSQL: one read-only transaction with `SET LOCAL statement_timeout` and `lock_timeout` (PostgreSQL docs,
    "Client Connection Defaults"); a query past it raises QueryCanceled. SQLite: a busy timeout of `seconds` for the
    block (WAL readers do not wait for writers; this bounds the rest).
    """
    if seconds <= 0:
        yield
        return
    millis = max(1, int(seconds * 1000))
    if connection.vendor == "postgresql":
        nested = connection.in_atomic_block  # then SET LOCAL would outlive the block: put the old values back
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('statement_timeout'), current_setting('lock_timeout')")
            previous = cursor.fetchone()
            cursor.execute(
                "SELECT set_config('statement_timeout', %s, true), set_config('lock_timeout', %s, true)",
                [f"{millis}ms"] * 2,
            )
            yield
            if nested:
                cursor.execute(
                    "SELECT set_config('statement_timeout', %s, true), set_config('lock_timeout', %s, true)",
                    list(previous),
                )
        return
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA busy_timeout")
            previous = cursor.fetchone()[0]
            cursor.execute(f"PRAGMA busy_timeout = {millis}")
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute(f"PRAGMA busy_timeout = {int(previous)}")
        return
    yield


class CachedCollector(Collector):
    """A collector whose families are rebuilt at most every METRICS_COLLECTOR_CACHE_SECONDS per process.

    A rebuild that fails or runs past METRICS_COLLECTOR_DB_TIMEOUT_SECONDS keeps the last good families, counts
    ml_metrics_collector_errors_total and marks the answer with ml_metrics_collector_stale (CollectorHealthCollector),
    so a scrape always answers in time and says when its database values are old.
    """

    reads_database = True  # False: build() reads no tables, so no time-bounded transaction is opened around it

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._families: list[Any] = []
        self._built_at = -1e18
        self.stale = False
        _cached_collectors.add(self)

    def build(self) -> list[Any]:
        """Compute the metric families (database or device reads)."""
        raise NotImplementedError

    def collect(self) -> Iterator[Any]:
        """Yield the cached families, rebuilding them when due; a failed rebuild yields the last good ones."""
        with self._lock:
            now = time.monotonic()
            if now - self._built_at >= settings.METRICS_COLLECTOR_CACHE_SECONDS:
                try:
                    bound = settings.METRICS_COLLECTOR_DB_TIMEOUT_SECONDS if self.reads_database else 0.0
                    with database_time_bounded(bound):
                        self._families = self.build()
                    self.stale = False
                except Exception:
                    logger.exception("metrics collector %s failed; serving its last values", type(self).__name__)
                    if settings.METRICS_ENABLED:
                        COLLECTOR_ERRORS.labels(type(self).__name__).inc()
                    self.stale = True
                self._built_at = now
            families = list(self._families)
        yield from families


class CollectorHealthCollector(Collector):
    """ml_metrics_collector_stale: 1 for each collector of this process whose values in this answer are left from an
    earlier read because the last one failed or timed out (list it last in METRICS_COLLECTORS)."""

    def collect(self) -> Iterator[Any]:
        """One sample per cached collector of this process."""
        stale = GaugeMetricFamily(
            "ml_metrics_collector_stale",
            "1 when this scrape serves a collector's last good values because its latest read failed.",
            labels=["collector"],
        )
        for name, is_stale in sorted({(type(c).__name__, c.stale) for c in list(_cached_collectors)}):
            stale.add_metric([name], 1.0 if is_stale else 0.0)
        yield stale


class ModelRegistryCollector(CachedCollector):
    """ml_model_info, ml_model_accuracy, ml_model_f1_score and label counts, from the database at scrape time."""

    def build(self) -> list[Any]:
        """Read the registry and recent labelled predictions (one query each)."""
        from .selectors import model_performance_list, model_version_active_list

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
        return [info, accuracy, f1, labelled, coverage]


class GpuCollector(CachedCollector):
    """GPU utilization and memory through NVML; no series at all where there is no GPU or no driver."""

    reads_database = False

    def __init__(self, nvml: Callable[[], Any] | None = None) -> None:
        super().__init__()
        self._nvml_factory = nvml
        self._nvml: Any = None
        self._unavailable = False

    def _module(self) -> Any:
        """Initialise NVML once; remember that it is missing instead of retrying on every scrape."""
        if self._unavailable:
            return None
        if self._nvml is None:
            try:
                module = self._nvml_factory() if self._nvml_factory else __import__("pynvml")
                module.nvmlInit()
            except Exception as exc:  # NVMLError_LibraryNotFound, DriverNotLoaded, ImportError
                logger.info("GPU metrics off: %s", exc)
                self._unavailable = True
                return None
            self._nvml = module
        return self._nvml

    def build(self) -> list[Any]:
        """Read every device; a metric a device does not support is skipped, the others still export."""
        if not settings.GPU_METRICS_ENABLED:
            return []
        nvml = self._module()
        if nvml is None:
            return []
        utilization = GaugeMetricFamily("ml_gpu_utilization_percent", "GPU utilization.", labels=["gpu_id"])
        memory = GaugeMetricFamily("ml_gpu_memory_used_bytes", "GPU memory used.", labels=["gpu_id"])
        total = GaugeMetricFamily("ml_gpu_memory_total_bytes", "GPU memory size.", labels=["gpu_id"])
        try:
            count = nvml.nvmlDeviceGetCount()
        except Exception:
            logger.exception("nvmlDeviceGetCount failed")
            return []
        for index in range(count):
            gpu_id = str(index)
            try:
                handle = nvml.nvmlDeviceGetHandleByIndex(index)
            except Exception:
                logger.warning("GPU %s: no handle", gpu_id)
                continue
            for family, read in (
                (utilization, lambda h: float(nvml.nvmlDeviceGetUtilizationRates(h).gpu)),
                (memory, lambda h: float(nvml.nvmlDeviceGetMemoryInfo(h).used)),
                (total, lambda h: float(nvml.nvmlDeviceGetMemoryInfo(h).total)),
            ):
                try:
                    family.add_metric([gpu_id], read(handle))
                except Exception:  # NVMLError_NotSupported and friends: leave this series out
                    logger.debug("GPU %s: %s unsupported", gpu_id, family.name)
        return [family for family in (utilization, memory, total) if family.samples]


def collectors_build() -> list[Collector]:
    """Instantiate the collectors named in METRICS_COLLECTORS (once per process)."""
    from django.utils.module_loading import import_string

    return [import_string(path)() for path in settings.METRICS_COLLECTORS]
