"""Drift runs through the service and the API: what is flagged, what is persisted, what /metrics shows."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from alerts_config.models import Threshold
from drift import statistics
from drift.metrics import DriftCollector
from drift.models import DriftJobStats, DriftRun, DriftSettings, FeatureTest
from drift.services import drift_run_compute, reference_dataset_upload

IRIS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def drift_samples() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """What a fresh collector (a new process, e.g. after a restart) exports, keyed by (name, labels)."""
    registry = CollectorRegistry()
    registry.register(DriftCollector())
    samples = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def feature_gauge(samples: dict[Any, float], name: str, feature: str) -> float | None:
    return samples.get((name, (("feature_name", feature), ("model_name", "iris"))))


@pytest.mark.django_db
def test_traffic_like_the_reference_flags_nothing(iris_reference: Any, send_iris: Any) -> None:
    """Predictions sampled from the reference drift nowhere; scores and p-values are stored per feature."""
    # given
    send_iris(400)
    # when
    run = drift_run_compute(model_id=iris_reference.model_version.model_id)
    # then
    assert run.status == DriftRun.STATUS_OK
    assert run.window_size == 400
    assert run.drifted_count == 0 and not run.dataset_drift
    features = {f.feature_name: f for f in run.features.all()}
    assert list(features) == IRIS
    for result in features.values():
        assert result.test == "ks" and result.status == "ok"
        assert 0.0 <= result.score < 0.15 and result.p_value is not None
        assert result.threshold == 0.15 and not result.drifted
        assert result.current_summary["count"] == 400
    assert run.prediction_score is not None and run.prediction_score < 0.1


@pytest.mark.django_db
def test_two_shifted_features_are_flagged_in_api_and_metrics(
    iris_reference: Any, send_iris: Any, api_client: Any
) -> None:
    """Shifting petal_length and petal_width flags exactly those two, in the API and on /metrics."""
    # given
    send_iris(1000, shift={2: 2.0, 3: 1.0})
    # when
    drift_run_compute(model_id=iris_reference.model_version.model_id)
    body = api_client.get("/api/v1/models/iris/drift").json()
    samples = drift_samples()
    # then
    drifted = {f["feature"] for f in body["features"] if f["drifted"]}
    assert drifted == {"petal_length", "petal_width"}
    assert body["window_size"] == 1000 and body["drifted_share"] == 0.5 and body["dataset_drift"] is True
    assert body["prediction_drift"]["score"] > 0.1 and body["prediction_drift"]["drifted"] is True
    for feature in IRIS:
        flagged = feature_gauge(samples, "ml_feature_drifted", feature)
        assert flagged == (1.0 if feature in drifted else 0.0)
        api_score = next(f["score"] for f in body["features"] if f["feature"] == feature)
        assert feature_gauge(samples, "ml_feature_drift_score", feature) == pytest.approx(api_score)
    assert samples[("ml_drift_window_size", (("model_name", "iris"),))] == 1000
    assert samples[("ml_dataset_drift_share", (("model_name", "iris"),))] == 0.5
    assert api_client.get("/drift").json()["id"] == body["id"]
    # and the same gauges come out of a fresh collector (another process, or after a restart)
    assert drift_samples() == samples


@pytest.mark.django_db
def test_window_below_minimum_is_insufficient_and_exports_no_scores(iris_reference: Any, send_iris: Any) -> None:
    """Fewer predictions than min_samples give an insufficient run: no score, no NaN on /metrics."""
    send_iris(30)
    run = drift_run_compute(model_id=iris_reference.model_version.model_id)
    assert run.status == DriftRun.STATUS_INSUFFICIENT and "at least 100" in run.message
    assert all(f.score is None and f.status == "insufficient_data" for f in run.features.all())
    samples = drift_samples()
    assert feature_gauge(samples, "ml_feature_drift_score", "petal_length") is None
    assert all(value == value for value in samples.values())  # no NaN anywhere


@pytest.mark.django_db
def test_thresholds_come_from_the_alert_thresholds_most_specific_first(iris_reference: Any, send_iris: Any) -> None:
    """A per-model feature threshold overrides the global one for the drifted flag (one number, one place)."""
    # given: a mild shift on petal_length only
    send_iris(1000, shift={2: 0.6})
    model = iris_reference.model_version.model
    Threshold.objects.create(kind="feature_drift", model=model, feature_name="petal_length", value=0.9)
    # when
    run = drift_run_compute(model_id=model.pk)
    # then
    petal = run.features.get(feature_name="petal_length")
    assert petal.threshold == 0.9 and not petal.drifted and petal.score > 0.15
    assert run.features.get(feature_name="sepal_length").threshold == 0.15


@pytest.mark.django_db
def test_settings_choose_test_window_and_rule(iris_reference: Any, send_iris: Any) -> None:
    """Per-feature tests, the window size and switching off the p-value half all apply to the next run."""
    model = iris_reference.model_version.model
    send_iris(500, shift={0: 1.0}, seed=1)
    send_iris(200, seed=2)
    settings = DriftSettings.objects.get(model=model)
    settings.window_size = 200
    settings.use_p_value = False
    settings.save()
    FeatureTest.objects.create(settings=settings, feature_name="sepal_width", test="psi")
    run = drift_run_compute(model_id=model.pk)
    assert run.window_size == 200 and run.drifted_count == 0  # the shifted rows are outside the window
    assert run.features.get(feature_name="sepal_width").test == "psi"
    assert run.settings_snapshot["use_p_value"] is False


@pytest.mark.django_db
def test_a_failing_feature_is_recorded_and_the_rest_lands(
    iris_reference: Any, send_iris: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If one feature's test raises, it is stored as failed and counted; the other features still land."""
    # given
    send_iris(200)
    original = statistics.numeric_drift_compute

    def flaky(*, reference: Any, window: Any, tests: Any, min_samples: int) -> Any:
        if "sepal_width" in reference.names:
            raise FloatingPointError("boom")
        return original(reference=reference, window=window, tests=tests, min_samples=min_samples)

    monkeypatch.setattr(statistics, "numeric_drift_compute", flaky)
    # when
    run = drift_run_compute(model_id=iris_reference.model_version.model_id)
    # then
    assert run.status == DriftRun.STATUS_PARTIAL and run.failed_count == 1
    failed = run.features.get(feature_name="sepal_width")
    assert failed.status == "failed" and "boom" in failed.message
    assert run.features.filter(status="ok").count() == 3
    assert DriftJobStats.objects.get(model=run.model).feature_failures == 1
    samples = drift_samples()
    assert samples[("ml_drift_feature_failures_total", (("model_name", "iris"),))] == 1


@pytest.mark.django_db
def test_history_is_newest_first_and_paginated(iris_reference: Any, send_iris: Any, api_client: Any) -> None:
    """The history lists runs newest first with a page structure."""
    send_iris(150)
    first = drift_run_compute(model_id=iris_reference.model_version.model_id)
    second = drift_run_compute(model_id=iris_reference.model_version.model_id)
    body = api_client.get("/api/v1/models/iris/drift/history").json()
    assert body["count"] == 2 and [r["id"] for r in body["results"]] == [second.pk, first.pk]


@pytest.mark.django_db
def test_drift_endpoints_errors(api_client: Any, iris_version: Any, token_client: Any) -> None:
    """Unknown model: 404; no run yet: 404 naming the missing reference; drift run needs a token."""
    assert api_client.get("/api/v1/models/nope/drift").status_code == 404
    response = api_client.get("/api/v1/models/iris/drift")
    assert response.status_code == 404 and "reference" in response.json()["error"]["message"]
    assert api_client.post("/api/v1/models/iris/drift/run").status_code == 401
    assert token_client.post("/api/v1/models/nope/drift/run").status_code == 404


@pytest.mark.django_db
def test_drift_job_duration_is_a_persisted_histogram(iris_reference: Any, send_iris: Any) -> None:
    """Each run adds to the persisted duration histogram and run counter exported on /metrics."""
    send_iris(150)
    drift_run_compute(model_id=iris_reference.model_version.model_id)
    drift_run_compute(model_id=iris_reference.model_version.model_id)
    samples = drift_samples()
    assert samples[("ml_drift_job_duration_seconds_count", (("model_name", "iris"),))] == 2
    assert samples[("ml_drift_job_runs_total", (("model_name", "iris"),))] == 2
    assert samples[("ml_drift_job_failures_total", (("model_name", "iris"),))] == 0


@pytest.mark.django_db
def test_drift_run_with_the_broker_down_is_a_503(iris_reference: Any, token_client: Any, monkeypatch: Any) -> None:
    """When the task queue cannot be reached, queueing a run answers 503 broker_unavailable, not a 500."""
    from kombu.exceptions import OperationalError

    from drift import tasks

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise OperationalError("Error 111 connecting to 127.0.0.1:1. Connection refused.")

    monkeypatch.setattr(tasks.drift_run_compute, "apply_async", refuse)
    response = token_client.post("/api/v1/models/iris/drift/run")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "broker_unavailable"


@pytest.mark.django_db
def test_a_model_with_drift_switched_off_is_computed_neither_on_schedule_nor_on_request(
    iris_reference: Any, send_iris: Any, token_client: Any
) -> None:
    """Drift settings `enabled` off: the beat's fan-out leaves the model out, and a run asked for through the API or
    the service is refused with 409 drift_disabled; nothing is stored."""
    from drift.selectors import drift_due_models
    from mlmonitor.errors import ApplicationError

    # given
    send_iris(150)
    model = iris_reference.model_version.model
    DriftSettings.objects.filter(model=model).update(enabled=False)
    # when
    response = token_client.post("/api/v1/models/iris/drift/run")
    with pytest.raises(ApplicationError) as refused:
        drift_run_compute(model_id=model.pk)
    # then
    assert model not in drift_due_models()
    assert response.status_code == 409 and response.json()["error"]["code"] == "drift_disabled"
    assert refused.value.code == "drift_disabled"
    assert not DriftRun.objects.exists()


def strict_json(value: Any) -> Any:
    """value through JSON without NaN or infinity (as PostgreSQL's jsonb and strict JSON clients demand)."""
    return json.loads(json.dumps(value, allow_nan=False))


@pytest.mark.django_db
def test_huge_finite_values_in_the_window_leave_every_feature_ok(
    iris_reference: Any, send_iris: Any, api_client: Any
) -> None:
    """Predictions carrying 1e200, -1.5e306 and 1e300 (accepted by the predict API) no longer fail their features:
    the run is ok, every stored number is finite, and the API answers with strict JSON."""
    # given
    send_iris(300)
    rows = [[1e200, 3.0, 1.4, 0.2], [5.0, -1.5e306, 1.4, 0.2], [5.0, 3.0, 1e300, 0.2]]
    response = api_client.post("/api/v1/models/iris/predict", {"instances": rows}, format="json")
    assert response.status_code == 200, response.content
    # when
    run = drift_run_compute(model_id=iris_reference.model_version.model_id)
    # then
    assert run.status == DriftRun.STATUS_OK and run.failed_count == 0
    for result in run.features.all():
        assert result.status == "ok" and result.score is not None, (result.feature_name, result.message)
        strict_json([result.reference_summary, result.current_summary, result.chart])
        expected = 0.0 if result.feature_name == "petal_width" else 1 / 303  # one extreme row per other feature
        assert result.out_of_range_share == pytest.approx(expected)
    sepal = run.features.get(feature_name="sepal_length")
    # PostgreSQL's jsonb hands 1e200 back as the integer 10**200: the same number
    assert float(sepal.current_summary["max"]) == 1e200 and sepal.chart["current_above"] == 1
    body = api_client.get("/api/v1/models/iris/drift?charts=1")
    assert body.status_code == 200 and strict_json(body.json())["status"] == "ok"


@pytest.mark.django_db
def test_runs_store_charts_and_data_quality_shares_that_the_api_shows(
    iris_reference: Any, send_iris: Any, api_client: Any, django_assert_max_num_queries: Any
) -> None:
    """Each feature result keeps its chart and its window's out-of-range share; the API lists the shares always
    and the charts with ?charts=1, in a bounded number of queries."""
    # given: petal_length pushed above the reference's range in every tenth row
    send_iris(450)
    send_iris(50, shift={2: 10.0}, seed=3)
    # when
    drift_run_compute(model_id=iris_reference.model_version.model_id)
    drift_run_compute(model_id=iris_reference.model_version.model_id)
    with django_assert_max_num_queries(6):
        plain = api_client.get("/api/v1/models/iris/drift").json()
    with django_assert_max_num_queries(6):
        charted = api_client.get("/api/v1/models/iris/drift?charts=1").json()
    with django_assert_max_num_queries(8):
        history = api_client.get("/api/v1/models/iris/drift/history?charts=true").json()
    # then
    features = {f["feature"]: f for f in charted["features"]}
    assert features["petal_length"]["out_of_range_share"] == pytest.approx(0.1)
    assert features["sepal_width"]["out_of_range_share"] == 0.0
    assert all(f["unseen_category_share"] == 0.0 for f in charted["features"])
    chart = features["petal_length"]["chart"]
    assert chart["kind"] == "numeric" and chart["current_above"] + sum(chart["current_counts"]) == 500
    assert sum(chart["reference_counts"]) + chart["reference_below"] + chart["reference_above"] == 105
    assert chart["ks"]["d"] == pytest.approx(features["petal_length"]["score"])
    assert all("chart" not in f for f in plain["features"])
    assert plain["features"][2]["out_of_range_share"] == pytest.approx(0.1)
    assert all("chart" in f for run in history["results"] for f in run["features"])
    assert api_client.get("/api/v1/models/iris/drift?charts=maybe").status_code == 400


@pytest.mark.django_db
def test_the_admin_shows_each_features_data_quality_shares(
    iris_reference: Any, send_iris: Any, admin_client: Any
) -> None:
    """The run's page in the admin lists every feature's out-of-range and unseen-category shares."""
    # given
    send_iris(90)
    send_iris(10, shift={2: 10.0}, seed=3)
    run = drift_run_compute(model_id=iris_reference.model_version.model_id)
    # when
    page = admin_client.get(f"/admin/drift/driftrun/{run.pk}/change/").content.decode()
    # then
    assert "Missing / out of range / unseen" in page
    rows = re.findall(
        r'class="field-feature_name">\s*<p>([^<]*)</p>.*?class="field-shares_shown">\s*<p>([^<]*)</p>', page, re.S
    )
    assert dict(rows) == {
        "sepal_length": "0.0% / 0.0% / 0.0%",
        "sepal_width": "0.0% / 0.0% / 0.0%",
        "petal_length": "0.0% / 10.0% / 0.0%",
        "petal_width": "0.0% / 0.0% / 0.0%",
    }


@pytest.mark.django_db
def test_categorical_features_store_unseen_shares_and_category_charts(mixed_version: Any, api_client: Any) -> None:
    """A category the reference never took counts as unseen in the run; the chart lists both sides' counts."""
    # given: a reference of red and blue only, traffic with green in a fifth of the rows
    version = mixed_version()
    content = "size,color\n" + "0.5,red\n" * 40 + "-0.5,blue\n" * 40
    reference_dataset_upload(model_version=version, file=content.encode(), filename="ref.csv")
    colours = ["red", "blue", "red", "blue", "green"] * 30
    rows = [{"size": 0.1 * (i % 7), "color": colour} for i, colour in enumerate(colours)]
    response = api_client.post("/api/v1/models/mixed/predict", {"instances": rows}, format="json")
    assert response.status_code == 200, response.content
    # when
    run = drift_run_compute(model_id=version.model_id)
    # then
    colour = run.features.get(feature_name="color")
    assert colour.unseen_category_share == pytest.approx(0.2) and colour.out_of_range_share == 0.0
    assert colour.chart == {
        "kind": "categorical",
        "categories": ["red", "green", "blue"],
        "reference_counts": [40, 0, 40],
        "current_counts": [60, 30, 60],
    }
    assert run.features.get(feature_name="size").unseen_category_share == 0.0
