"""The Prometheus scrape: one registry per GET /metrics, assembled from every process' counters and histograms and
the scrape-time collectors named in METRICS_COLLECTORS (docs/metrics.md lists every metric).

Counters and histograms are recorded where the work happens (each app's `metrics.py`); values that live in the
database (accuracy, model info, drift gauges) are read here, at scrape time, by collectors that each app defines
beside its metric objects. This module imports no app: the collectors are named in settings and imported by path.
It also holds the pieces every collector shares (`CachedCollector`, with its time-bounded database reads,
`database_time_bounded`), the collector that reports on the others (`CollectorHealthCollector`) and the one collector
that belongs to no app, the GPU of the serving host (`GpuCollector`).

Under the web server (several worker processes) every process writes its counters to PROMETHEUS_MULTIPROC_DIR and the
scrape sums them with a fresh MultiProcessCollector per scrape, never on the default registry (which would
duplicate them); see docs/architecture.md, "Metrics under several web workers".
"""

from __future__ import annotations

import bisect
import contextlib
import logging
import math
import os
import struct
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.utils.module_loading import import_string
from prometheus_client import REGISTRY, CollectorRegistry, Counter, generate_latest, mmap_dict, values
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

_collectors: list[Collector] | None = None
_collectors_lock = threading.Lock()

COLLECTOR_ERRORS = Counter(
    "ml_metrics_collector_errors_total",
    "Scrape-time reads (database, NVML) that failed or ran past METRICS_COLLECTOR_DB_TIMEOUT_SECONDS.",
    ["collector"],
)
_cached_collectors: weakref.WeakSet[CachedCollector] = weakref.WeakSet()


@contextlib.contextmanager
def database_time_bounded(seconds: float) -> Iterator[None]:
    """Run the block's queries with a time limit, so a locked table cannot hold a scrape past Prometheus' timeout.

    PostgreSQL: one transaction with `SET LOCAL statement_timeout` and `lock_timeout` (PostgreSQL docs, "Client
    Connection Defaults"); a query past it raises QueryCanceled. SQLite: a busy timeout of `seconds` for the block (WAL
    readers do not wait for writers; this bounds the rest). `seconds` <= 0: no limit.
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
            if nested and previous is not None:
                cursor.execute(
                    "SELECT set_config('statement_timeout', %s, true), set_config('lock_timeout', %s, true)",
                    list(previous),
                )
        return
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA busy_timeout")
            row = cursor.fetchone()
            previous_millis = int(row[0]) if row is not None else 0
            cursor.execute(f"PRAGMA busy_timeout = {millis}")
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute(f"PRAGMA busy_timeout = {previous_millis}")
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
        self._families: list[Metric] = []
        self._built_at = -1e18
        self.stale = False
        _cached_collectors.add(self)

    def build(self) -> list[Metric]:
        """Compute the metric families (database or device reads)."""
        raise NotImplementedError

    def collect(self) -> Iterator[Metric]:
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

    def collect(self) -> Iterator[Metric]:
        """One sample per cached collector of this process."""
        stale = GaugeMetricFamily(
            "ml_metrics_collector_stale",
            "1 when this scrape serves a collector's last good values because its latest read failed.",
            labels=["collector"],
        )
        for name, is_stale in sorted({(type(c).__name__, c.stale) for c in list(_cached_collectors)}):
            stale.add_metric([name], 1.0 if is_stale else 0.0)
        yield stale


class GpuCollector(CachedCollector):
    """GPU utilization and memory through NVML; no series at all where there is no GPU or no driver.

    NVML comes from NVIDIA's `nvidia-ml-py` (module `pynvml`). Without a GPU `nvmlInit()` raises; that is remembered
    so it is not retried on every scrape, and the ml_gpu_* series are absent rather than 0.
    """

    reads_database = False

    def __init__(self, nvml: Callable[[], Any] | None = None) -> None:
        super().__init__()
        self._nvml_factory = nvml
        # pynvml is an untyped module of functions; a test passes a stand-in with the same names.
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

    def build(self) -> list[Metric]:
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
        readings: list[tuple[GaugeMetricFamily, Callable[[Any], float]]] = [
            (utilization, lambda h: float(nvml.nvmlDeviceGetUtilizationRates(h).gpu)),
            (memory, lambda h: float(nvml.nvmlDeviceGetMemoryInfo(h).used)),
            (total, lambda h: float(nvml.nvmlDeviceGetMemoryInfo(h).total)),
        ]
        for index in range(count):
            gpu_id = str(index)
            try:
                handle = nvml.nvmlDeviceGetHandleByIndex(index)
            except Exception:
                logger.warning("GPU %s: no handle", gpu_id)
                continue
            for family, read in readings:
                try:
                    family.add_metric([gpu_id], read(handle))
                except Exception:  # NVMLError_NotSupported and friends: leave this series out
                    logger.debug("GPU %s: %s unsupported", gpu_id, family.name)
        return [family for family in (utilization, memory, total) if family.samples]


def collectors_build() -> list[Collector]:
    """Instantiate the collectors named by dotted path in METRICS_COLLECTORS."""
    return [import_string(path)() for path in settings.METRICS_COLLECTORS]


def scrape_collectors() -> list[Collector]:
    """This process' scrape-time collectors, built once."""
    global _collectors
    with _collectors_lock:
        if _collectors is None:
            _collectors = collectors_build()
        return _collectors


class _DefaultRegistryProxy(Collector):
    """Exports the in-process default registry inside a fresh registry (single-process mode)."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


_labelled_children: dict[tuple[MetricWrapperBase | str, ...], Any] = {}
_MetricT = TypeVar("_MetricT", bound=MetricWrapperBase)


def labelled(metric: _MetricT, *labels: str) -> _MetricT:
    """metric.labels(*labels), looked up once per process: on a request's path the lookup costs more than the
    increment it precedes. Label values in the metric's label order."""
    key: tuple[MetricWrapperBase | str, ...] = (metric, *labels)  # a metric hashes by identity (no __eq__)
    child = _labelled_children.get(key)
    if child is None:
        child = _labelled_children[key] = metric.labels(*labels)
    result: _MetricT = child  # stored under its own metric: the same type as `metric` (no cast() call per lookup)
    return result


def _client_value_lock() -> Any:
    """The lock prometheus_client's multiprocess values take around each write (a closure variable of their `inc`),
    or None when values are not multiprocess ones of that shape (single-process mode, another client version): their
    files must also keep each key's position in `_positions` and the mapping in `_m`, which MetricWrites writes."""
    value_class = values.ValueClass
    inc: Any = getattr(value_class, "inc", None)
    code, closure = getattr(inc, "__code__", None), getattr(inc, "__closure__", None)
    if not getattr(value_class, "_multiprocess", False) or code is None or code.co_freevars != ("lock",):
        return None
    file_write = getattr(getattr(mmap_dict.MmapedDict, "write_value", None), "__code__", None)
    if file_write is None or not {"_positions", "_m"} <= set(file_write.co_names):
        return None
    if not closure:
        return None
    lock = closure[0].cell_contents
    return lock if callable(getattr(lock, "acquire", None)) else None


class MetricWrites:
    """Increments of counters and histograms gathered during one piece of work and written together.

    Under multiprocess mode each increment of prometheus_client takes a process-wide lock, checks for a fork and
    writes the mmap file: about 0.75 us for a counter and 1.6 for a histogram observation. `write()` takes that same
    lock once for all the gathered increments and stores each value's 8 bytes at its place in the client's mmap file
    (the position the client gave its key, read from the file on every write, so a file the client grew or reopened
    is followed; the timestamp beside it stays the 0.0 the client writes for counters and histograms): one call per
    value instead of the client's three (docs/benchmarks.md, "Monitoring cost"). The fork check is the client's own:
    where os.getpid() differs from the last write's, it first reads one value through the client, which reopens a
    forked process' own files (a pid compared on every write, not an at-fork hook: a fork made in C, as uWSGI makes
    it by default, runs no Python hook). Where the values are not multiprocess ones of the shape this knows,
    `write()` calls each value's `inc`. Nothing is visible to a scrape before `write()` returns, so a caller writes
    before it answers.

    `inc(child, amount)` takes a counter (a child, `metric.labels(...)`, or a metric without labels);
    `observe(child, value)` and `observe_many(child, values)` take a histogram child and, as Histogram.observe, put a
    value in the first bucket whose upper bound is >= it (observe_many skips values that are not finite).
    """

    __slots__ = ("_amounts", "_values")

    _lock: Any = None
    _lock_known = False
    _pid = 0  # the process whose files the client's values were last checked against (0: none yet)

    def __init__(self) -> None:
        self._values: list[Any] = []
        self._amounts: list[float] = []

    def inc(self, child: Any, amount: float = 1.0) -> None:
        """Add `amount` (>= 0) to a counter child."""
        self._values.append(child._value)
        self._amounts.append(amount)

    def extend(self, values: Sequence[Any], amounts: Sequence[float]) -> None:
        """Add increments of values taken from children beforehand (`MetricWrites.values_of`), side by side with
        their amounts: for a caller that increments the same children again and again and keeps their values."""
        self._values += values
        self._amounts += amounts

    @staticmethod
    def values_of(child: Any) -> tuple[Any, ...]:
        """The values a counter child's increment writes (one); for a histogram child its buckets' values, then
        its sum's (the bucket for a value is the first whose bound in `child._upper_bounds` is >= it)."""
        buckets = getattr(child, "_buckets", None)
        return (child._value,) if buckets is None else (*buckets, child._sum)

    def observe(self, child: Any, value: float) -> None:
        """Observe one value in a histogram child."""
        self._values += (child._buckets[bisect.bisect_left(child._upper_bounds, value)], child._sum)
        self._amounts += (1.0, value)

    def observe_many(self, child: Any, values: np.ndarray | list[float]) -> None:
        """Observe many values (a 1-d array or a list): one increment per touched bucket and one of the sum. Below 32
        values a Python loop (each numpy call costs 1-5 us however small its input), numpy above."""
        bounds = child._upper_bounds
        if len(values) <= 32:
            items = values.tolist() if isinstance(values, np.ndarray) else values
            finite = [value for value in items if math.isfinite(value)]
            if not finite:
                return
            counts = bucket_counts(bounds, finite)
            positions, amounts = list(counts), [float(count) for count in counts.values()]
            observed = float(sum(finite))
        else:
            array = np.asarray(values, dtype=np.float64)
            array = array[np.isfinite(array)]
            if array.size == 0:
                return
            histogram = np.bincount(np.searchsorted(np.asarray(bounds), array, side="left"), minlength=len(bounds))
            positions = np.flatnonzero(histogram).tolist()
            amounts = histogram[positions].astype(np.float64).tolist()
            observed = float(array.sum())
        buckets = child._buckets
        self._values += [buckets[position] for position in positions]
        self._amounts += amounts
        self._values.append(child._sum)
        self._amounts.append(observed)

    def write(self) -> None:
        """Write the gathered increments and forget them."""
        if self._values:
            MetricWrites.write_values(self._values, self._amounts)
            self._values, self._amounts = [], []

    @staticmethod
    def write_values(values_: list[Any] | tuple[Any, ...], amounts: list[float] | tuple[float, ...]) -> None:
        """Add each amount to its value (values as `values_of` gives them, amounts >= 0, side by side) in one write:
        for a caller that keeps its values and amounts and needs no MetricWrites of its own."""
        if not MetricWrites._lock_known:
            MetricWrites._lock, MetricWrites._lock_known = _client_value_lock(), True
        lock = MetricWrites._lock
        if lock is None:
            for value, amount in zip(values_, amounts, strict=True):
                value.inc(amount)
            return
        if MetricWrites._pid != os.getpid():  # first write in this process, or after a fork: the client's own check
            values_[0].get()  # reopens this process' own files first when the process is a fork
            MetricWrites._pid = os.getpid()
        pack_into = _pack_double_into
        with lock:
            for value, amount in zip(values_, amounts, strict=True):
                # the client's inc() less its fork check and timestamp: value._file.write_value(key, value, 0.0); the
                # 8 bytes go straight into the mapping at the position the client placed the key when it made it
                file, current = value._file, value._value + amount
                pack_into(file._m, file._positions[value._key], current)
                value._value = current


_pack_double_into = struct.Struct("d").pack_into


def bucket_counts(bounds: Sequence[float], observations: Iterable[float]) -> dict[int, int]:
    """{bucket position: observations in it} for a histogram's upper bounds (ascending, the last +Inf): each
    observation in the first bucket whose bound is >= it, as Histogram.observe counts it (observations finite). For
    a few observations, where one increment per touched bucket writes fewer values than one per observation."""
    counts: dict[int, int] = {}
    position_of = bisect.bisect_left
    for observation in observations:
        position = position_of(bounds, observation)
        counts[position] = counts.get(position, 0) + 1
    return counts


def process_alive(pid: int) -> bool:
    """True when a process with this pid exists on this host (signal 0 checks without sending anything)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def dead_processes_forget(directory: str) -> list[int]:
    """Drop the live gauges (multiprocess_mode live*) of worker processes that no longer run, as client_python's
    `mark_process_dead` asks a server to do when a worker exits; returns their pids. Done at scrape time, it works
    under any WSGI server (granian has no child-exit hook) and after a worker was killed. Counters and histograms
    of dead workers are kept: their counts happened."""
    from prometheus_client import multiprocess

    dead: set[int] = set()
    for path in Path(directory).glob("gauge_live*_*.db"):
        pid_text = path.stem.rpartition("_")[2]
        if pid_text.isdigit() and not process_alive(int(pid_text)):
            dead.add(int(pid_text))
    for pid in sorted(dead):
        multiprocess.mark_process_dead(pid, directory)
    return sorted(dead)


def metrics_registry() -> CollectorRegistry:
    """A fresh registry per scrape: every process' counters (multiprocess mode) plus the scrape-time collectors."""
    registry = CollectorRegistry(auto_describe=False)
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        from prometheus_client import multiprocess

        dead_processes_forget(directory)
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_DefaultRegistryProxy())
    for collector in scrape_collectors():
        registry.register(collector)
    return registry


def exposition() -> tuple[bytes, str]:
    """The body of one scrape in the Prometheus text format, and its content type."""
    return generate_latest(metrics_registry()), CONTENT_TYPE_LATEST
