"""The prediction metrics on /metrics (docs/metrics.md): names and label sets, values that match the answers given,
model info and memory."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from predictions.metrics import BATCH_BUCKETS, CONFIDENCE_BUCKETS
from predictions.models import ModelVersion, Prediction
from tests.conftest import ROW, iris_demo

SEED_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

# docs/metrics.md's table: name -> (type, labels). Not here: ml_feature_drift_score {model_name, feature_name} and
# ml_prediction_drift_score {model_name} come from drift/metrics.py and are tested with the drift runs;
# ml_gpu_utilization_percent and ml_gpu_memory_used_bytes {gpu_id} are absent without a GPU
# (tests/mlmonitor/test_metrics.py).
CONTRACT_METRICS = {
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


@pytest.mark.django_db
def test_every_spec_metric_is_exported_with_its_labels(scrape: Any, labelled_prediction: Any) -> None:
    """After a labelled prediction, /metrics has each documented prediction metric with its type and exactly its label
    names."""
    # when
    metrics = scrape()
    # then
    for family, (kind, labels) in CONTRACT_METRICS.items():
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
    assert memory == version.memory_bytes  # the figure the admin shows


@pytest.mark.django_db
def test_the_memory_gauge_and_the_admin_show_one_figure(
    api_client: Any, scrape: Any, register_iris: Callable[..., ModelVersion], admin_client: Any
) -> None:
    """The gauge reports the size stored with the version (measured when its artifact was checked, perhaps by another
    process, where Python's object sizes differ by a few bytes), the same number the admin's version page shows."""
    # given: a version whose stored size was measured elsewhere
    name = f"mem-{uuid.uuid4().hex[:8]}"
    version = register_iris(name=name, default=False)
    ModelVersion.objects.filter(pk=version.pk).update(memory_bytes=version.memory_bytes + 24)
    version.refresh_from_db()
    # when
    assert api_client.post(f"/api/v1/models/{name}/predict", {"features": ROW}, format="json").status_code == 200
    # then
    assert scrape().value("ml_model_memory_bytes", model_name=name) == version.memory_bytes
    page = admin_client.get(f"/admin/predictions/modelversion/{version.pk}/change/").content.decode()
    assert str(version.memory_bytes) in page


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
def test_with_monitoring_off_a_batch_is_logged_and_no_series_moves(
    api_client: Any, scrape: Any, iris_version: Any, settings: Any
) -> None:
    """METRICS_ENABLED off: a batch is scored and logged as usual, and neither its request, batch-size, class nor
    data-quality series move."""
    # given
    rows = iris_demo().x_test.tolist()
    before = scrape()
    settings.METRICS_ENABLED = False
    # when
    response = api_client.post("/api/v1/models/iris/predict", {"instances": rows}, format="json")
    after = scrape()
    # then
    assert response.status_code == 200
    assert Prediction.objects.filter(model_version=iris_version).count() == len(rows)
    for name, labels in (
        ("ml_prediction_requests_total", {"model_version": "1", "status": "success"}),
        ("ml_prediction_latency_seconds_count", {}),
        ("ml_batch_size_sum", {}),
        ("ml_data_quality_rows_total", {}),
    ):
        assert after.get(name, model_name="iris", **labels) == before.get(name, model_name="iris", **labels), name
    for label in iris_version.class_labels:
        labels = {"model_name": "iris", "predicted_class": label}
        assert after.get("ml_prediction_distribution_total", **labels) == before.get(
            "ml_prediction_distribution_total", **labels
        )


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


@pytest.mark.django_db
def test_a_loaded_versions_error_series_exists_at_zero_before_its_first_error(
    api_client: Any, scrape: Any, register_iris: Any
) -> None:
    """The first successful predict of a version loads it, which creates its error series at 0: the error rate is 0,
    not "no samples", and the first error is an increase rate() sees."""
    # given: a version no test has served
    register_iris(name="fresh-series", version="7")
    labels = {"model_name": "fresh-series", "model_version": "7"}
    assert scrape().value("ml_prediction_requests_total", **labels, status="error") is None
    # when
    response = api_client.post("/api/v1/models/fresh-series/predict", {"features": ROW}, format="json")
    # then
    assert response.status_code == 200
    after = scrape()
    assert after.value("ml_prediction_requests_total", **labels, status="error") == 0
    assert after.value("ml_prediction_requests_total", **labels, status="success") == 1


@pytest.mark.parametrize(
    ("sizes", "seed"),
    [([1], 0), ([1] * 7, 1), ([3, 1, 12, 2], 2), ([30, 5], 3), ([1] * 40, 4), ([0, 2], 5)],
    ids=["one-row", "seven-single-rows", "mixed-up-to-32-rows", "35-rows", "40-single-rows", "rows-as-requests"],
)
def test_a_batch_records_what_one_observe_per_request_and_row_would(sizes: list[int], seed: int) -> None:
    """prediction_batch_record (values looked up once per version, one write for the batch) moves every series as
    the client's own observe() and inc() would, called once per request (latency, batch size) and once per row (class
    and confidence): single-row batches, mixed sizes, and more than 32 rows (the numpy path)."""
    from prometheus_client import REGISTRY

    from mlmonitor.metrics import MetricWrites
    from predictions.metrics import LATENCY_BUCKETS, prediction_batch_record

    rng = np.random.default_rng(seed)
    rows = sum(sizes)
    classes = ("setosa", "versicolor", "virginica")
    model_name = f"batch-record-{seed}"
    latencies = rng.uniform(0.0, 0.06, len(sizes)).tolist()
    latencies[0] = LATENCY_BUCKETS[3]  # on a bound: counts in that bucket, as observe() does
    predicted = rng.integers(0, 3, rows)
    confidences = rng.choice([*CONFIDENCE_BUCKETS, *rng.uniform(0.34, 1.0, 20)], rows)

    def read(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, {"model_name": model_name, **labels}) or 0.0

    # when
    writes = MetricWrites()
    prediction_batch_record(
        model_name=model_name,
        model_version="1",
        class_labels=classes,
        latencies=latencies,
        sizes=sizes,
        predicted=predicted,
        confidences=confidences,
        writes=writes,
    )
    writes.write()
    # then
    assert read("ml_prediction_requests_total", model_version="1", status="success") == len(sizes)
    assert read("ml_prediction_rows_total", model_version="1") == rows
    for name, observed, bounds in [
        ("ml_prediction_latency_seconds", np.asarray(latencies), LATENCY_BUCKETS),
        ("ml_batch_size", np.asarray(sizes, dtype=float), BATCH_BUCKETS),
    ]:
        assert read(f"{name}_count") == observed.size
        assert read(f"{name}_sum") == pytest.approx(observed.sum())
        for bound in bounds:
            assert read(f"{name}_bucket", le=str(float(bound))) == (observed <= bound).sum(), (name, bound)
    for index, label in enumerate(classes):
        mine = confidences[predicted == index]
        labels = {"model_name": model_name, "predicted_class": label}
        assert REGISTRY.get_sample_value("ml_prediction_distribution_total", labels) is not None, "exists, 0 or more"
        assert read("ml_prediction_distribution_total", predicted_class=label) == mine.size
        assert read("ml_model_confidence_count", predicted_class=label) == mine.size
        assert read("ml_model_confidence_sum", predicted_class=label) == pytest.approx(mine.sum())
        for bound in CONFIDENCE_BUCKETS:
            assert read("ml_model_confidence_bucket", predicted_class=label, le=str(bound)) == (mine <= bound).sum()
