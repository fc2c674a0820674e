"""The data-quality alerts with the real servers (the stack of test_end_to_end.py: granian, Prometheus,
Alertmanager on loopback, 1 s scrape and evaluation): traffic with 20% missing values in one nullable feature and 10%
out-of-range values in another fires FeatureMissingRateHigh for the first and FeatureOutOfRangeRateHigh for the
second (the global defaults of migration 0006, `for` shortened to 2s), and no other data-quality alert."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from demo.iris import IRIS_FEATURES

from . import test_end_to_end
from .test_end_to_end import WAIT_SECONDS, Stack, http_json, wait_until

stack = test_end_to_end.stack  # the fixture: migrated database, servers stopped at the end
pytestmark = test_end_to_end.pytestmark

DATA_QUALITY_ALERTS = {"FeatureMissingRateHigh", "FeatureOutOfRangeRateHigh", "UnseenCategoryRateHigh"}

SETUP = """
import json
import numpy as np
from sklearn.impute import KNNImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from alerts_config.models import Threshold
from alerts_config.services import threshold_update
from demo.iris import IRIS_FEATURES, iris_demo_train, iris_reference_csv
from drift.services import reference_dataset_upload
from predictions.services import model_version_register
from tests.predictions.artifacts import skops_bytes

demo = iris_demo_train()
pipeline = make_pipeline(KNNImputer(), LogisticRegression(max_iter=1000)).fit(demo.x_train, demo.y_train)
schema = [{"name": n, "type": "numeric", "nullable": n == "sepal_length"} for n in IRIS_FEATURES]
version = model_version_register(
    model_name="dq", version="1", artifact=skops_bytes(pipeline), feature_schema=schema,
    class_labels=[str(c) for c in pipeline.classes_], make_default=True,
)
reference_dataset_upload(model_version=version, file=iris_reference_csv(demo.x_train), filename="train.csv")
for kind in ("feature_missing_rate", "feature_out_of_range_rate", "unseen_category_rate"):
    threshold_update(threshold=Threshold.objects.get(kind=kind, model=None, feature_name=""), for_duration="2s")
print(json.dumps(demo.x_train.tolist()))
"""


def traffic_batch(reference: np.ndarray, rng: np.random.Generator) -> list[list[float | None]]:
    """50 reference rows (within the reference's range): 10 (20%) without sepal_length, 5 others (10%) with
    petal_length above the reference's maximum."""
    rows: list[list[float | None]] = reference[rng.integers(0, len(reference), 50)].tolist()
    chosen = rng.permutation(50)
    for index in chosen[:10]:
        rows[index][IRIS_FEATURES.index("sepal_length")] = None
    above = float(reference[:, IRIS_FEATURES.index("petal_length")].max()) + 1.0
    for index in chosen[10:15]:
        rows[index][IRIS_FEATURES.index("petal_length")] = above
    return rows


def test_missing_and_out_of_range_traffic_fires_exactly_the_matching_alerts(stack: Stack) -> None:
    """FeatureMissingRateHigh{sepal_length} and FeatureOutOfRangeRateHigh{petal_length} fire with shares 0.2 and
    0.1; no other data-quality alert is pending or firing, and nothing else fires."""
    # given: model "dq" (sepal_length nullable; KNNImputer + LogisticRegression), its training rows as reference
    stack.manage("migrate", "--noinput", "-v0")
    reference = np.asarray(stack.shell(SETUP))
    assert "ml_feature_missing_total" in (stack.rules_dir / "mlmonitor.rules.yml").read_text()
    stack.servers_start()
    rng = np.random.default_rng(7)
    predict_url = f"http://127.0.0.1:{stack.app_port}/api/v1/models/dq/predict"
    alerts_url = f"http://127.0.0.1:{stack.prometheus_port}/api/v1/alerts"

    def alerts() -> list[dict[str, Any]]:
        return list(http_json(alerts_url)["data"]["alerts"])

    def fired() -> list[dict[str, Any]] | None:
        answer = http_json(predict_url, {"instances": traffic_batch(reference, rng)})
        assert len(answer["predictions"]) == 50
        firing = [a for a in alerts() if a["state"] == "firing" and a["labels"]["alertname"] in DATA_QUALITY_ALERTS]
        return firing if len(firing) >= 2 else None

    # when: batches of such traffic are posted until the alerts fire, then for 3 s more
    wait_until(fired, timeout=WAIT_SECONDS, what="the data-quality alerts to fire", logs=stack.logs)
    for _ in range(12):
        fired()
    # then
    now = alerts()
    firing = {
        (a["labels"]["alertname"], a["labels"].get("model_name"), a["labels"].get("feature_name")): a
        for a in now
        if a["state"] == "firing"
    }
    assert set(firing) == {
        ("FeatureMissingRateHigh", "dq", "sepal_length"),
        ("FeatureOutOfRangeRateHigh", "dq", "petal_length"),
    }, stack.logs()
    data_quality = [a for a in now if a["labels"]["alertname"] in DATA_QUALITY_ALERTS]
    assert len(data_quality) == 2, data_quality
    assert math.isclose(float(firing[("FeatureMissingRateHigh", "dq", "sepal_length")]["value"]), 0.2, rel_tol=1e-6)
    assert math.isclose(float(firing[("FeatureOutOfRangeRateHigh", "dq", "petal_length")]["value"]), 0.1, rel_tol=1e-6)
