"""EstimatedAccuracyLow with the real servers, before any label: the app under gunicorn (its own SQLite database)
and Debian's prometheus on free loopback ports, 1 s scrape and evaluation (the stack of
tests/alerts_config/test_end_to_end.py).

A reference uploaded with its true labels; traffic like the reference, then the same rows with sepal width 1 cm lower
(a covariate shift: the model's real accuracy on these rows falls from 0.98 to 0.89); a drift run after each. The
alert is silent on the first window and fires on the second while no label has been posted.
"""

from __future__ import annotations

import shutil
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from tests.alerts_config.test_end_to_end import GUNICORN, WAIT_SECONDS, Stack, http_json, wait_until
from tests.conftest import iris_demo

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (shutil.which("prometheus") and shutil.which("promtool")),
        reason="Debian's prometheus and promtool are needed",
    ),
]

SETUP = """
import csv, io, json
from django.core.management import call_command
from alerts_config.services import threshold_create
from demo.iris import iris_demo_train
from drift.services import reference_dataset_upload
from predictions.models import ModelVersion
call_command('load_demo', verbosity=0)
demo = iris_demo_train()
buffer = io.StringIO()
writer = csv.writer(buffer)
writer.writerow(['sepal_length', 'sepal_width', 'petal_length', 'petal_width', 'species'])
writer.writerows([[*row, str(label)] for row, label in zip(demo.x_train.tolist(), demo.y_train)])
version = ModelVersion.objects.get(model__name='iris', version='1')
reference_dataset_upload(model_version=version, file=buffer.getvalue().encode(), filename='labelled.csv',
                         label_column='species')
threshold_create(kind='estimated_accuracy_below', value=0.85, for_duration='2s', model=version.model)
print(json.dumps(True))
"""

DRIFT_RUN = """
import json
from drift.services import drift_run_compute
from predictions.models import MLModel, Prediction
run = drift_run_compute(model_id=MLModel.objects.get(name='iris').pk)
labelled = Prediction.objects.filter(label_index__isnull=False).count()
print(json.dumps([run.estimated_accuracy, run.window_size, run.label_coverage, labelled]))
"""


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    running = Stack(tmp_path)
    running.env["SUGGESTED_THRESHOLDS_ON_UPLOAD"] = "0"  # no worker here to take the task
    try:
        yield running
    finally:
        running.stop()


def firing(stack: Stack) -> list[dict[str, Any]]:
    """EstimatedAccuracyLow alerts Prometheus holds as firing."""
    alerts = http_json(f"http://127.0.0.1:{stack.prometheus_port}/api/v1/alerts")["data"]["alerts"]
    return [a for a in alerts if a["labels"]["alertname"] == "EstimatedAccuracyLow" and a["state"] == "firing"]


def scraped_estimate(stack: Stack) -> float | None:
    """ml_model_estimated_accuracy of iris as Prometheus has it now."""
    query = urllib.parse.urlencode({"query": 'ml_model_estimated_accuracy{model_name="iris"}'})
    result = http_json(f"http://127.0.0.1:{stack.prometheus_port}/api/v1/query?{query}")["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def send(stack: Stack, rows: np.ndarray) -> None:
    for start in range(0, len(rows), 500):
        body = {"instances": rows[start : start + 500].tolist()}
        scored = http_json(f"http://127.0.0.1:{stack.app_port}/api/v1/models/iris/predict", body)
        assert len(scored["predictions"]) == len(body["instances"])


def test_a_covariate_shift_fires_estimated_accuracy_low_before_any_label(stack: Stack) -> None:
    """Silent while the estimate (about 0.90) is above the model's 0.85; firing once the shifted window's estimate
    (about 0.81) is scraped; no label posted at any time."""
    # given
    stack.manage("migrate", "--noinput", "-v0")
    assert stack.shell(SETUP) is True
    assert "(ml_model_estimated_accuracy{" in (stack.rules_dir / "mlmonitor.rules.yml").read_text()
    prometheus_config = stack.root / "prometheus.yml"
    prometheus_config.write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(stack.rules_dir / "*.rules.yml")],
                "scrape_configs": [
                    {"job_name": "mlmonitor", "static_configs": [{"targets": [f"127.0.0.1:{stack.app_port}"]}]}
                ],
            }
        )
    )
    stack.start(
        "gunicorn",
        [GUNICORN, "-c", "mlmonitor/gunicorn.conf.py", "--no-control-socket"],
        f"http://127.0.0.1:{stack.app_port}/healthz",
    )
    stack.start(
        "prometheus",
        [
            "prometheus",
            f"--config.file={prometheus_config}",
            f"--storage.tsdb.path={stack.root / 'prometheus-data'}",
            f"--web.listen-address=127.0.0.1:{stack.prometheus_port}",
        ],
        f"http://127.0.0.1:{stack.prometheus_port}/-/ready",
    )
    demo = iris_demo()
    rng = np.random.default_rng(11)
    rows = demo.x_train[rng.integers(0, len(demo.x_train), 1000)]

    # when: traffic like the reference, and a drift run
    send(stack, rows)
    calm, window, coverage, labelled = stack.shell(DRIFT_RUN)
    # then: the estimate is above 0.85, Prometheus has it, nothing fires
    assert calm > 0.85 and window == 1000 and coverage == 0.0 and labelled == 0
    wait_until(lambda: scraped_estimate(stack) == pytest.approx(calm), timeout=WAIT_SECONDS, what="the estimate")
    time.sleep(4)  # two `for` periods of evaluations
    assert firing(stack) == []

    # when: the same kind of rows with sepal width 1 cm lower fill the window; a drift run
    shifted = rows.copy()
    shifted[:, 1] -= 1.0
    send(stack, shifted)
    lowered, window, coverage, labelled = stack.shell(DRIFT_RUN)
    # then: the estimate falls below 0.85 and EstimatedAccuracyLow fires for iris v1, with no label posted
    assert lowered < 0.85 and window == 1000 and coverage == 0.0 and labelled == 0
    alerts = wait_until(lambda: firing(stack), timeout=WAIT_SECONDS, what="EstimatedAccuracyLow", logs=stack.logs)
    assert [(a["labels"]["model_name"], a["labels"]["model_version"]) for a in alerts] == [("iris", "1")]
    assert float(alerts[0]["value"]) == pytest.approx(lowered)


def test_the_shift_lowers_the_models_real_accuracy() -> None:
    """The premise, checked on the labelled rows: the shifted rows are classified worse (0.98 -> 0.89)."""
    from demo.iris import IRIS_SCHEMA
    from predictions.inference import artifact_load
    from predictions.schema import feature_schema_parse

    demo = iris_demo()
    model = artifact_load(data=demo.artifact, schema=feature_schema_parse(IRIS_SCHEMA), class_labels=demo.class_labels)
    truth = np.asarray([demo.class_labels.index(str(label)) for label in demo.y_train])
    shifted = demo.x_train.copy()
    shifted[:, 1] -= 1.0
    before = float(np.mean(model.predict_proba(demo.x_train).argmax(axis=1) == truth))
    after = float(np.mean(model.predict_proba(shifted).argmax(axis=1) == truth))
    assert before - after >= 0.09
