"""Label health: the delay from a prediction to its true label (histogram, observed when the label arrives) and the
time of each model's last label (gauge read from the database at scrape time)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from predictions.encoding import rows_to_bytes
from predictions.ids import uuid7_floor
from predictions.metrics import LABEL_DELAY_BUCKETS, label_delays
from predictions.models import ModelVersion, Prediction
from tests.exposition import Exposition


def logged_prediction(version: ModelVersion, *, age: timedelta) -> Prediction:
    """A prediction of `version` logged `age` ago (its time is the one in its version-7 id)."""
    return Prediction.objects.create(
        id=uuid7_floor(timezone.now() - age),
        model_version=version,
        features=rows_to_bytes(np.asarray([[5.1, 3.5, 1.4, 0.2]]))[0],
        predicted_index=0,
        confidence=0.9,
        probabilities=rows_to_bytes(np.asarray([[0.9, 0.05, 0.05]]))[0],
        latency_ms=1.0,
    )


def delay_histogram(exposition: Exposition) -> dict[str, float]:
    """The iris series of ml_feedback_label_delay_seconds: bucket counts by `le`, plus count and sum."""
    samples = {"count": exposition.value("ml_feedback_label_delay_seconds_count", model_name="iris") or 0.0}
    samples["sum"] = exposition.value("ml_feedback_label_delay_seconds_sum", model_name="iris") or 0.0
    for bound in [*LABEL_DELAY_BUCKETS, "+Inf"]:
        le = "+Inf" if bound == "+Inf" else str(float(bound))
        samples[le] = exposition.value("ml_feedback_label_delay_seconds_bucket", model_name="iris", le=le) or 0.0
    return samples


def test_label_delays_are_the_seconds_since_each_prediction_per_model() -> None:
    """The delay is `now` minus the time in the prediction id; a label 'before' its prediction (clock skew) is 0."""
    now = datetime(2026, 1, 2, 12, 0, tzinfo=UTC)
    delays = label_delays(
        items=[
            ("iris", uuid7_floor(now - timedelta(hours=3))),
            ("iris", uuid7_floor(now - timedelta(seconds=30))),
            ("wine", uuid7_floor(now + timedelta(seconds=5))),
        ],
        now=now,
    )
    assert delays["iris"].tolist() == pytest.approx([10800.0, 30.0], abs=0.001)
    assert delays["wine"].tolist() == [0.0]


@pytest.mark.django_db
def test_feedback_observes_each_labels_delay_in_the_histogram(
    api_client: APIClient, token_client: APIClient, iris_version: ModelVersion, django_capture_on_commit_callbacks: Any
) -> None:
    """Labels for predictions 2 h 50 min and 47 hours old land in the (1 h, 3 h] and (1 d, 2 d] buckets (cumulative
    counts), with their sum."""
    before = delay_histogram(Exposition.parse(api_client.get("/metrics").content))
    old = logged_prediction(iris_version, age=timedelta(hours=47))
    recent = logged_prediction(iris_version, age=timedelta(hours=2, minutes=50))
    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = token_client.post(
            "/api/v1/feedback",
            [{"prediction_id": str(p.id), "label": "setosa"} for p in (old, recent)],
            format="json",
        )
    assert response.status_code == 200
    after = delay_histogram(Exposition.parse(api_client.get("/metrics").content))
    # then
    added = {key: after[key] - before[key] for key in after}
    assert added["count"] == 2
    assert added["sum"] == pytest.approx(47 * 3600 + 170 * 60, abs=60)
    assert added["3600.0"] == 0 and added["10800.0"] == 1
    assert added["86400.0"] == 1 and added["172800.0"] == 2 and added["+Inf"] == 2


@pytest.mark.django_db
def test_the_last_label_gauge_is_the_newest_label_of_each_model(
    api_client: APIClient, token_client: APIClient, iris_version: ModelVersion
) -> None:
    """Absent before the first label; then the time of the newest label over all the model's versions."""
    prediction = logged_prediction(iris_version, age=timedelta(minutes=5))
    exposition = Exposition.parse(api_client.get("/metrics").content)
    assert exposition.value("ml_feedback_last_label_timestamp_seconds", model_name="iris") is None
    # when
    url = f"/api/v1/predictions/{prediction.id}/feedback"
    assert token_client.post(url, {"label": "versicolor"}, format="json").status_code == 200
    # then
    labelled_at = Prediction.objects.get(pk=prediction.pk).labelled_at
    exposition = Exposition.parse(api_client.get("/metrics").content)
    assert exposition.value("ml_feedback_last_label_timestamp_seconds", model_name="iris") == pytest.approx(
        labelled_at.timestamp()
    )
