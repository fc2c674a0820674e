"""The Prometheus metrics of SPEC.md on /metrics: names and label sets, values that match the answers given, model
info and memory, GPU series through NVML (faked: there is no GPU here), and an exposition promtool accepts."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import numpy as np
import pynvml
import pytest

from mlmonitor import views
from predictions.metrics import BATCH_BUCKETS, CONFIDENCE_BUCKETS, GpuCollector, ModelRegistryCollector
from predictions.models import ModelVersion
from tests.conftest import iris_demo
from tests.exposition import Exposition
from tests.servers import promtool_check_metrics

ROW = [5.1, 3.5, 1.4, 0.2]
SEED_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

# SPEC.md's table: name -> (type, labels). Not here yet: ml_feature_drift_score {model_name, feature_name} and
# ml_prediction_drift_score {model_name} come with the drift work (drift/metrics.py) and are tested there;
# ml_gpu_utilization_percent and ml_gpu_memory_used_bytes {gpu_id} are absent without a GPU (tested below).
SPEC_METRICS = {
    "ml_prediction_requests": ("counter", {"model_name", "model_version", "status"}),
    "ml_prediction_latency_seconds": ("histogram", {"model_name"}),
    "ml_batch_size": ("histogram", {"model_name"}),
    "ml_model_confidence": ("histogram", {"model_name", "predicted_class"}),
    "ml_prediction_distribution": ("counter", {"model_name", "predicted_class"}),
    "ml_model_accuracy": ("gauge", {"model_name", "model_version"}),
    "ml_model_f1_score": ("gauge", {"model_name", "model_version"}),
    "ml_model_memory_bytes": ("gauge", {"model_name"}),
    "ml_model_info": ("gauge", {"model_name", "model_version", "framework"}),
}


def sample_names(family: str, kind: str) -> list[str]:
    """The sample names a family of this type exposes."""
    if kind == "counter":
        return [f"{family}_total"]
    if kind == "histogram":
        return [f"{family}_bucket", f"{family}_count", f"{family}_sum"]
    return [family]


@pytest.fixture
def scrape(api_client: Any) -> Callable[[], Exposition]:
    """Factory: GET /metrics and parse it."""

    def run() -> Exposition:
        response = api_client.get("/metrics")
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/plain")
        return Exposition.parse(response.content)

    return run


@pytest.fixture
def labelled_prediction(api_client: Any, token_client: Any, iris_version: ModelVersion) -> dict[str, Any]:
    """One iris prediction with its true label posted."""
    answer = api_client.post("/predict", {"features": ROW}, format="json").json()
    url = f"/api/v1/predictions/{answer['prediction_id']}/feedback"
    assert token_client.post(url, {"label": "setosa"}, format="json").status_code == 200
    return answer


@pytest.mark.django_db
def test_every_spec_metric_is_exported_with_its_labels(scrape: Any, labelled_prediction: Any) -> None:
    """After a labelled prediction, /metrics has each SPEC.md metric with its type and exactly its label names."""
    # when
    metrics = scrape()
    # then
    for family, (kind, labels) in SPEC_METRICS.items():
        assert metrics.types.get(family) == kind, family
        for name in sample_names(family, kind):
            series = [serie for serie in metrics.series(name) if serie.get("model_name") == "iris"]
            assert series, f"{name} has no iris series"
            extra = {"le"} if name.endswith("_bucket") else set()
            assert all(set(serie) == labels | extra for serie in series), (name, series)
    les = {float(serie["le"]) for serie in metrics.series("ml_prediction_latency_seconds_bucket")}
    assert set(SEED_LATENCY_BUCKETS) <= les
    assert {float(serie["le"]) for serie in metrics.series("ml_batch_size_bucket")} == {*BATCH_BUCKETS, np.inf}
    assert {float(serie["le"]) for serie in metrics.series("ml_model_confidence_bucket")} == {
        *CONFIDENCE_BUCKETS,
        np.inf,
    }
    assert not any(name.startswith("ml_gpu_") for name in metrics.names()), "no GPU here: GPU series must be absent"


@pytest.mark.django_db
def test_model_info_lists_the_active_versions(scrape: Any, register_iris: Callable[..., ModelVersion]) -> None:
    """ml_model_info is 1 for each enabled model's active version, and absent for inactive versions and disabled
    models."""
    # given
    register_iris(name="iris", version="1")
    register_iris(name="iris", version="2")
    other = register_iris(name="other", version="7", default=False)
    off = register_iris(name="off", version="1", default=False)
    off.model.is_enabled = False
    off.model.save()
    # when
    metrics = scrape()
    # then
    info = {
        (serie["model_name"], serie["model_version"], serie["framework"]): metrics.value("ml_model_info", **serie)
        for serie in metrics.series("ml_model_info")
    }
    assert info == {("iris", "2", "sklearn"): 1.0, ("other", "7", "sklearn"): 1.0}
    assert other.is_active


@pytest.mark.django_db
def test_memory_gauge_is_set_when_a_model_is_loaded(
    api_client: Any, scrape: Any, register_iris: Callable[..., ModelVersion]
) -> None:
    """ml_model_memory_bytes appears for a model once it has been loaded to answer, with its in-memory size."""
    # given
    name = f"mem-{uuid.uuid4().hex[:8]}"
    version = register_iris(name=name, default=False)
    assert scrape().value("ml_model_memory_bytes", model_name=name) is None
    # when
    assert api_client.post(f"/api/v1/models/{name}/predict", {"features": ROW}, format="json").status_code == 200
    # then
    memory = scrape().value("ml_model_memory_bytes", model_name=name)
    assert memory is not None and memory > 0
    assert memory == pytest.approx(version.memory_bytes, rel=0.1)  # measured at registration, on another copy


@pytest.mark.django_db
def test_request_histograms_and_counters_match_the_answers(api_client: Any, scrape: Any, iris_version: Any) -> None:
    """One batch of 45 rows adds one request, one batch-size observation of 45, and, per predicted class, one
    distribution count and one confidence observation per row, in the buckets of the confidences returned."""
    # given
    rows = iris_demo().x_test.tolist()
    before = scrape()
    # when
    response = api_client.post("/api/v1/models/iris/predict", {"instances": rows}, format="json")
    after = scrape()
    # then
    assert response.status_code == 200
    answers = response.json()["predictions"]

    def delta(name: str, **labels: str) -> float:
        return after.get(name, **labels) - before.get(name, **labels)

    assert delta("ml_prediction_requests_total", model_name="iris", model_version="1", status="success") == 1
    assert delta("ml_prediction_latency_seconds_count", model_name="iris") == 1
    assert delta("ml_batch_size_count", model_name="iris") == 1
    assert delta("ml_batch_size_sum", model_name="iris") == len(rows)
    for bound in BATCH_BUCKETS:
        assert delta("ml_batch_size_bucket", model_name="iris", le=str(float(bound))) == (len(rows) <= bound)
    classes = {answer["prediction"] for answer in answers}
    assert len(classes) == 3, "the test rows cover every class"
    for label in classes:
        confidences = np.asarray([a["confidence"] for a in answers if a["prediction"] == label])
        labels = {"model_name": "iris", "predicted_class": label}
        assert delta("ml_prediction_distribution_total", **labels) == confidences.size
        assert delta("ml_model_confidence_count", **labels) == confidences.size
        assert delta("ml_model_confidence_sum", **labels) == pytest.approx(confidences.sum())
        for bound in CONFIDENCE_BUCKETS:
            expected = int((confidences <= bound).sum())
            assert delta("ml_model_confidence_bucket", le=str(bound), **labels) == expected, (label, bound)
        assert delta("ml_model_confidence_bucket", le="+Inf", **labels) == confidences.size


@pytest.mark.django_db
def test_a_rejected_request_counts_as_an_error_not_a_success(api_client: Any, scrape: Any, iris_version: Any) -> None:
    """A row the schema refuses adds to status="error", not to success, and observes no batch or latency."""
    # given
    before = scrape()
    # when
    response = api_client.post("/predict", {"features": [1, 2, 3]}, format="json")
    after = scrape()
    # then
    assert response.status_code == 400
    for status, change in (("error", 1), ("success", 0)):
        labels = {"model_name": "iris", "model_version": "1", "status": status}
        assert (
            after.get("ml_prediction_requests_total", **labels) - before.get("ml_prediction_requests_total", **labels)
            == change
        )
    assert after.get("ml_batch_size_count", model_name="iris") == before.get("ml_batch_size_count", model_name="iris")


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
        monkeypatch.setattr(views, "_collectors", list(collectors))

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
    for metrics in (first, second):
        assert not any(name.startswith("ml_gpu_") for name in metrics.names())
        assert metrics.value("ml_model_info", model_name="iris", model_version="1", framework="sklearn") == 1
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
