"""The scrape (mlmonitor/metrics.py): collectors named in settings, GPU series through NVML (faked: there is no GPU
here), and an exposition that promtool accepts."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pynvml
import pytest

from mlmonitor import metrics
from mlmonitor.metrics import CollectorHealthCollector, GpuCollector
from predictions.metrics import ModelRegistryCollector
from tests.conftest import ROW
from tests.servers import promtool_check_metrics

ROOT = Path(__file__).resolve().parents[2]


class FakeNvml:
    """Stands in for the pynvml module (NVIDIA's bindings) on a machine with GPUs, with its function names; raises
    pynvml's own errors."""

    def __init__(self, devices: list[dict[str, Any]], init_error: int | None = None) -> None:
        self.devices = devices
        self.init_error = init_error
        self.init_calls = 0

    def nvmlInit(self) -> None:
        self.init_calls += 1
        if self.init_error is not None:
            raise pynvml.NVMLError(self.init_error)

    def nvmlDeviceGetCount(self) -> int:
        return len(self.devices)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> dict[str, Any]:
        return self.devices[index]

    def nvmlDeviceGetUtilizationRates(self, handle: dict[str, Any]) -> SimpleNamespace:
        if handle.get("utilization") is None:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return SimpleNamespace(gpu=handle["utilization"], memory=0)

    def nvmlDeviceGetMemoryInfo(self, handle: dict[str, Any]) -> SimpleNamespace:
        return SimpleNamespace(total=handle["total"], used=handle["used"], free=handle["total"] - handle["used"])


@pytest.fixture
def use_collectors(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Factory: serve /metrics with these scrape-time collectors instead of the configured ones."""

    def use(*collectors: Any) -> None:
        monkeypatch.setattr(metrics, "_collectors", list(collectors))

    return use


@pytest.mark.django_db
def test_gpu_series_are_exported_per_device_and_skip_unsupported_readings(
    scrape: Any, use_collectors: Any, iris_version: Any
) -> None:
    """Two GPUs, the second without utilization counters (NotSupported): both report memory, the first reports
    utilization, the second has no utilization series at all (not 0)."""
    # given
    nvml = FakeNvml(
        [
            {"utilization": 37, "used": 2_000_000_000, "total": 80_000_000_000},
            {"utilization": None, "used": 5_000_000, "total": 16_000_000_000},
        ]
    )
    use_collectors(ModelRegistryCollector(), GpuCollector(nvml=lambda: nvml))
    # when
    metrics = scrape()
    # then
    assert metrics.series("ml_gpu_utilization_percent") == [{"gpu_id": "0"}]
    assert metrics.value("ml_gpu_utilization_percent", gpu_id="0") == 37
    assert metrics.value("ml_gpu_memory_used_bytes", gpu_id="0") == 2_000_000_000
    assert metrics.value("ml_gpu_memory_used_bytes", gpu_id="1") == 5_000_000
    assert metrics.value("ml_gpu_memory_total_bytes", gpu_id="1") == 16_000_000_000
    assert metrics.value("ml_model_info", model_name="iris", model_version="1", framework="sklearn") == 1


@pytest.mark.django_db
def test_without_an_nvml_library_gpu_series_are_absent_and_metrics_still_answer(
    scrape: Any, use_collectors: Any, iris_version: Any
) -> None:
    """nvmlInit raising LibraryNotFound leaves out every ml_gpu_* series, keeps the rest, and is not retried on
    every scrape."""
    # given
    nvml = FakeNvml([], init_error=pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)
    use_collectors(ModelRegistryCollector(), GpuCollector(nvml=lambda: nvml))
    # when
    first, second = scrape(), scrape()
    # then
    for exposition in (first, second):
        assert not any(name.startswith("ml_gpu_") for name in exposition.names())
        assert exposition.value("ml_model_info", model_name="iris", model_version="1", framework="sklearn") == 1
    assert nvml.init_calls == 1


@pytest.mark.django_db
def test_the_exposition_passes_promtool(
    api_client: Any, use_collectors: Any, labelled_prediction: Any, register_iris: Any
) -> None:
    """/metrics after predictions (one a batch, one an error), feedback and two GPUs passes `promtool check metrics`."""
    # given
    nvml = FakeNvml([{"utilization": 5, "used": 1, "total": 2}, {"utilization": None, "used": 1, "total": 2}])
    use_collectors(ModelRegistryCollector(), GpuCollector(nvml=lambda: nvml))
    api_client.post("/predict", {"instances": [ROW, ROW]}, format="json")
    api_client.post("/predict", {"features": [1]}, format="json")
    # when
    body = api_client.get("/metrics").content
    # then
    assert b"ml_gpu_utilization_percent" in body and b"ml_model_accuracy" in body
    promtool_check_metrics(body)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("paths", "exported"),
    [([], False), (["predictions.metrics.ModelRegistryCollector"], True)],
    ids=["none-named", "registry-named"],
)
def test_the_scrape_builds_the_collectors_named_in_settings(
    scrape: Any, settings: Any, monkeypatch: pytest.MonkeyPatch, iris_version: Any, paths: list[str], exported: bool
) -> None:
    """METRICS_COLLECTORS names the scrape-time collectors by path: ml_model_info is served only when its collector
    is named."""
    # given
    settings.METRICS_COLLECTORS = paths
    monkeypatch.setattr(metrics, "_collectors", None)
    # when
    exposition = scrape()
    # then
    info = exposition.value("ml_model_info", model_name="iris", model_version="1", framework="sklearn")
    assert info == (1 if exported else None)
    assert [type(collector) for collector in metrics.scrape_collectors()] == (
        [ModelRegistryCollector] if exported else []
    )


@pytest.mark.django_db
def test_every_exported_metric_is_documented_with_its_type(
    scrape: Any, use_collectors: Any, labelled_prediction: Any
) -> None:
    """docs/metrics.md has a row for exactly the ml_* families /metrics exports (requests, feedback, registry, GPU,
    drift, collector health), each with the family's type."""
    # given
    from drift.metrics import DriftCollector

    nvml = FakeNvml([{"utilization": 5, "used": 1, "total": 2}])
    use_collectors(
        ModelRegistryCollector(), GpuCollector(nvml=lambda: nvml), DriftCollector(), CollectorHealthCollector()
    )
    documented = dict(re.findall(r"^\| `(ml_\w+)` \| (\w+) \|", (ROOT / "docs" / "metrics.md").read_text(), re.M))
    # when
    exposition = scrape()
    # then
    exported = {
        f"{name}_total" if kind == "counter" else name: kind
        for name, kind in exposition.types.items()
        # *_created: client_python's creation times of counters and histograms outside multiprocess mode
        if name.startswith("ml_") and not name.endswith("_created")
    }
    assert exported == documented


@pytest.mark.parametrize("size", [1, 3, 32, 33, 500])
def test_metric_writes_observe_many_equals_one_observe_per_value(size: int) -> None:
    """MetricWrites.observe_many (a Python loop up to 32 values, numpy above) leaves every bucket and the sum as
    Histogram.observe() called per value does; values on a bound, NaN and infinities included (non-finite ones are
    skipped). observe() and inc() as the client's own calls."""
    import numpy as np
    from prometheus_client import CollectorRegistry, Counter, Histogram

    buckets = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
    rng = np.random.default_rng(size)
    values = rng.choice([*buckets, 0.0, 7.5, 1e-9, np.nan, np.inf, -np.inf, *rng.uniform(0, 6, 20)], size)
    registry = CollectorRegistry()
    many = Histogram("many_seconds", "", buckets=buckets, registry=registry)
    one = Histogram("one_seconds", "", buckets=buckets, registry=registry)
    counter = Counter("things", "", registry=registry)
    # when
    writes = metrics.MetricWrites()
    writes.observe_many(many, values if size % 2 else values.tolist())
    writes.observe(many, 0.003)
    writes.inc(counter, 2.5)
    writes.inc(counter)
    writes.write()
    for value in [*values[np.isfinite(values)].tolist(), 0.003]:
        one.observe(float(value))

    # then
    def read(name: str) -> tuple[list[float], float]:
        (metric,) = [m for m in registry.collect() if m.name == name]
        buckets = [sample.value for sample in metric.samples if sample.name.endswith("_bucket")]
        (total,) = [sample.value for sample in metric.samples if sample.name.endswith("_sum")]
        return buckets, total

    many_buckets, many_sum = read("many_seconds")
    one_buckets, one_sum = read("one_seconds")
    assert many_buckets == one_buckets and many_buckets[-1] == np.isfinite(values).sum() + 1
    assert many_sum == pytest.approx(one_sum)
    assert registry.get_sample_value("things_total") == 3.5
    writes.write()  # written once: a second write() adds nothing
    assert registry.get_sample_value("things_total") == 3.5


# Run in a fresh interpreter with PROMETHEUS_MULTIPROC_DIR set (the client picks its value class at import): threads
# mix MetricWrites and the client's own inc() on the same series, then a forked child writes through MetricWrites.
_MULTIPROCESS_SCRIPT = """
import os, sys, threading
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.multiprocess import MultiProcessCollector
from mlmonitor.metrics import MetricWrites

counter = Counter("jobs", "", ["kind"])
histogram = Histogram("job_seconds", "", ["kind"], buckets=(0.1, 1.0))

def work():
    for _ in range(2000):
        writes = MetricWrites()
        writes.inc(counter.labels("a"))
        writes.observe(histogram.labels("a"), 0.5)
        writes.write()
        counter.labels("a").inc()
        histogram.labels("a").observe(5.0)

threads = [threading.Thread(target=work) for _ in range(4)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
assert MetricWrites._lock is not None, "the multiprocess fast path was not taken"
# series made after the first writes grow the counter file past its first 64 KiB: the client maps it anew, and the
# next writes must land in the new mapping, at the positions of the old series and of the new ones
grow = Counter("grow", "", ["n"])
for n in range(3000):
    grow.labels(str(n))
writes = MetricWrites()
writes.inc(counter.labels("a"), 7)
writes.inc(grow.labels("2999"), 3)
writes.write()
print("grown", os.path.getsize(os.path.join(os.environ["PROMETHEUS_MULTIPROC_DIR"], f"counter_{os.getpid()}.db")))
pid = os.fork()
if pid == 0:
    writes = MetricWrites()
    writes.inc(counter.labels("a"), 5)
    writes.observe(histogram.labels("a"), 0.05)
    writes.write()
    os._exit(0)
os.waitpid(pid, 0)
# a fork made in C runs no Python at-fork hook (uWSGI forks so by default): the child must still write its own file
import ctypes
c_pid = ctypes.CDLL(None).fork()
if c_pid == 0:
    writes = MetricWrites()
    writes.inc(counter.labels("a"), 11)
    writes.write()
    os._exit(0)
os.waitpid(c_pid, 0)
writes = MetricWrites()
writes.inc(counter.labels("a"), 1)
writes.write()
registry = CollectorRegistry()
MultiProcessCollector(registry)
for name, labels in [
    ("jobs_total", {"kind": "a"}),
    ("job_seconds_bucket", {"kind": "a", "le": "0.1"}),
    ("job_seconds_bucket", {"kind": "a", "le": "1.0"}),
    ("job_seconds_bucket", {"kind": "a", "le": "+Inf"}),
    ("job_seconds_sum", {"kind": "a"}),
    ("grow_total", {"n": "2999"}),
]:
    print(name + ":" + labels.get("le", ""), registry.get_sample_value(name, labels))
print("files", sorted(name.split("_")[-1] for name in os.listdir(os.environ["PROMETHEUS_MULTIPROC_DIR"])))
print("child", pid)
"""


def test_metric_writes_under_multiprocess_mode_are_exact_and_follow_a_fork(tmp_path: Path) -> None:
    """In multiprocess mode (the web server's) MetricWrites writes under the client's own lock: 4 threads mixing it
    with the client's inc() and observe() on the same series lose no increment; writes after the client grew its
    file land in the new mapping; a forked child's writes go to its own file (the client's fork check), not the
    parent's, also after a fork made in C that runs no Python at-fork hook, and the scrape sums them all."""
    import os
    import subprocess
    import sys

    directory = tmp_path / "multiproc"
    directory.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory), "PYTHONPATH": str(Path(__file__).parents[2])}
    # when
    done = subprocess.run(
        [sys.executable, "-c", _MULTIPROCESS_SCRIPT], env=env, capture_output=True, text=True, timeout=120
    )
    # then
    assert done.returncode == 0, done.stderr
    lines = dict(line.rsplit(" ", 1) for line in done.stdout.splitlines() if not line.startswith(("files", "child")))
    assert int(lines["grown"]) > 1 << 16
    assert float(lines["grow_total:"]) == 3
    assert float(lines["jobs_total:"]) == 4 * 2000 * 2 + 5 + 7 + 11 + 1
    assert float(lines["job_seconds_bucket:0.1"]) == 1  # the child's
    assert float(lines["job_seconds_bucket:1.0"]) == 4 * 2000 + 1
    assert float(lines["job_seconds_bucket:+Inf"]) == 4 * 2000 * 2 + 1
    assert float(lines["job_seconds_sum:"]) == pytest.approx(4 * 2000 * 5.5 + 0.05)
    child = next(line for line in done.stdout.splitlines() if line.startswith("child")).split()[1]
    assert f"{child}.db" in next(line for line in done.stdout.splitlines() if line.startswith("files"))
