"""The dashboard in a real browser (Debian's Chromium through chromedriver), served by pytest-django's live server,
with time series from a real Prometheus that scrapes that server every second and firing alerts from a real
Alertmanager. Screenshots for the README are written when MLMONITOR_SCREENSHOTS_DIR is set.

Each page must load without a console error and draw every chart with data; the drift report of a run with two
shifted features flags exactly those two, first; pages need a login.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from alerts_config.services import alert_events_ingest
from dashboard.prometheus import PromQuery, prometheus_queries_submit, promql_render
from dashboard.selectors import page_range_parse
from demo.iris import iris_reference_csv
from drift.models import DriftRun
from drift.services import drift_run_compute, reference_dataset_upload
from predictions.models import ModelVersion
from tests.conftest import iris_demo
from tests.dashboard.browser import (
    assert_charts_have_data,
    assert_fits_width,
    charts_draw,
    chromium,
    click_and_wait,
    console_errors,
    log_in,
    page_open,
    screenshot,
)
from tests.dashboard.factories import FeatureSpec
from tests.dashboard.stack import SCRAPE_SECONDS, alertmanager_running, prometheus_running

pytestmark = pytest.mark.slow
PASSWORD = "browser-test-password"
RANGE = "15m"


def post_json(url: str, body: Any, *, token: str | None = None) -> tuple[int, Any]:
    """POST JSON to the live server; (status, decoded body)."""
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


class Traffic(threading.Thread):
    """Iris predictions (singles, a batch, a bad request) and their labels every half second, for at most
    `seconds`, against the live server; stops by itself or when told."""

    def __init__(self, base_url: str, token: str, *, seconds: float = 90.0, shift: dict[int, float] | None = None):
        super().__init__(daemon=True)
        self.base_url, self.token, self.seconds, self.shift = base_url, token, seconds, shift or {}
        self.stop_event = threading.Event()
        self.sent = 0
        self.failures: list[str] = []

    def run(self) -> None:
        rng = np.random.default_rng(3)
        rows = iris_demo().x_train
        deadline = time.monotonic() + self.seconds
        while not self.stop_event.is_set() and time.monotonic() < deadline:
            batch = rows[rng.integers(0, len(rows), 12)].copy()
            for index, delta in self.shift.items():
                batch[:, index] += delta
            labels = []
            for row in batch[:4].tolist():
                status, body = post_json(f"{self.base_url}/api/v1/models/iris/predict", {"features": row})
                if status != 200:
                    self.failures.append(f"{status} {body}")
                    continue
                labels.append({"prediction_id": body["prediction_id"], "label": body["prediction"]})
            status, body = post_json(f"{self.base_url}/api/v1/models/iris/predict", {"instances": batch[4:].tolist()})
            if status != 200:
                self.failures.append(f"{status} {body}")
            post_json(f"{self.base_url}/api/v1/models/iris/predict", {"features": [1.0, 2.0]})  # a 400: an error
            if labels:
                labels[0]["label"] = "virginica" if labels[0]["label"] != "virginica" else "setosa"
                post_json(f"{self.base_url}/api/v1/feedback", labels, token=self.token)
            self.sent += 1
            self.stop_event.wait(0.5)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """A headless Chromium for one test."""
    with chromium(tmp_path) as driver:
        yield driver


@pytest.fixture
def dashboard_user(transactional_db: None) -> Any:
    """A staff user with a password, for the login form."""
    return get_user_model().objects.create_user(username="operator", password=PASSWORD, is_staff=True)


def iris_with_reference(register_iris: Callable[..., ModelVersion]) -> ModelVersion:
    """The iris demo model with its training split as the reference."""
    version = register_iris()
    reference_dataset_upload(
        model_version=version, file=iris_reference_csv(iris_demo().x_train), filename="iris-train.csv"
    )
    return version


def wait_for_sparklines(*, model_name: str, timeout: float = 45.0) -> None:
    """Until the overview's own request-rate sparkline query returns at least two points for the model."""
    deadline = time.monotonic() + timeout
    expr = "sum by (model_name) (rate(ml_prediction_requests_total{$model}[$window]))"
    while time.monotonic() < deadline:
        page_range = page_range_parse(key=RANGE)
        results = prometheus_queries_submit(
            queries={"q": PromQuery(promql_render(expr, window=page_range.spark, model_name=model_name))},
            window=page_range.spark,
        ).results()
        values = [v for s in results.get("q") for v in s.values if v is not None]
        if len(values) >= 2:
            return
        time.sleep(1.0)
    raise AssertionError(f"no sparkline data for {model_name} within {timeout} s")


def test_every_page_draws_its_charts_with_data_and_no_console_error(
    live_server: Any,
    settings: Any,
    tmp_path: Path,
    browser: Any,
    dashboard_user: Any,
    register_iris: Callable[..., ModelVersion],
    make_model: Callable[..., ModelVersion],
    make_drift_run: Callable[..., DriftRun],
) -> None:
    """Overview, model page, drift reports (numeric and categorical) and alerts load with no console error, every
    chart is drawn as SVG with data, the pages fit 1366 px, and the firing alert from Alertmanager is listed."""
    # given: Prometheus scraping the live server, Alertmanager with one firing alert, traffic and drift runs
    version = iris_with_reference(register_iris)
    shop = make_model(name="shop", features=["basket_value", "color"])
    token = Token.objects.create(user=get_user_model().objects.create_user(username="feeder")).key
    target = live_server.url.split("://", 1)[1].replace("localhost", "127.0.0.1")
    with (
        prometheus_running(targets=[target], tmp=tmp_path) as prometheus,
        alertmanager_running(tmp=tmp_path) as alertmanager,
    ):
        settings.PROMETHEUS_URL = prometheus.url
        settings.ALERTMANAGER_URL = alertmanager.url
        settings.DASHBOARD_SCRAPE_INTERVAL_SECONDS = SCRAPE_SECONDS
        traffic = Traffic(live_server.url, token)
        traffic.start()
        try:
            alertmanager.alert_post(
                labels={"alertname": "HighPredictionLatency", "severity": "warning", "model_name": "iris"},
                annotations={"summary": "High prediction latency detected"},
            )
            alert_events_ingest(
                receiver="mlmonitor-webhook",
                alerts=[
                    {
                        "status": "resolved",
                        "labels": {"alertname": "DataDriftDetected", "severity": "warning", "model_name": "iris"},
                        "annotations": {"summary": "Data drift detected"},
                        "startsAt": "2026-01-01T00:00:00+00:00",
                        "endsAt": "2026-01-01T00:20:00+00:00",
                        "generatorURL": "",
                        "fingerprint": "abc123",
                    }
                ],
            )
            time.sleep(3)
            drift_run_compute(model_id=version.model_id)  # a real run on the traffic so far
            make_drift_run(
                version=version,
                features=[
                    FeatureSpec("sepal_length"),
                    FeatureSpec("sepal_width"),
                    FeatureSpec("petal_length", 2.5),
                    FeatureSpec("petal_width", 2.0),
                ],
            )
            shop_run = make_drift_run(
                version=shop,
                features=[
                    FeatureSpec("basket_value", 0.3),
                    FeatureSpec("color", categories=("red", "green", "blue"), current_shares=(0.6, 0.2, 0.2)),
                ],
            )
            alertmanager.wait_for_alerts(1)
            prometheus.wait_for('ml_model_accuracy{model_name="iris"}')
            wait_for_sparklines(model_name="iris")
            base = live_server.url
            log_in(browser, base, username="operator", password=PASSWORD, next_path=f"/dashboard/?range={RANGE}")

            # when / then: the overview
            page_open(browser, f"{base}/dashboard/?range={RANGE}")
            charts = assert_charts_have_data(browser, at_least=8)
            assert {c["id"] for c in charts} >= {f"spark-{version.model_id}-requests", f"spark-{version.model_id}-p95"}
            row = browser.find_element(By.CSS_SELECTOR, 'tr[data-model="iris"]').text
            assert "HighPredictionLatency" in row and "2/4 drifted" in row
            assert_fits_width(browser)
            screenshot(browser, "overview")

            # the model page: six time-series charts and four features' drift over time
            page_open(browser, f"{base}/dashboard/models/iris/?range={RANGE}")
            charts = assert_charts_have_data(browser, at_least=10)
            ids = {c["id"] for c in charts}
            for key in ("requests", "error_rate", "latency", "confidence", "classes", "performance"):
                assert f"chart-{key}" in ids, (key, ids)
            assert_fits_width(browser)
            screenshot(browser, "model")

            # the latest iris drift report (factory run with chart data)
            page_open(browser, f"{base}/dashboard/models/iris/drift/")
            assert_charts_have_data(browser, at_least=1 + 4 * 2)
            shown = browser.find_elements(By.CSS_SELECTOR, "table.features tbody tr")
            flags = [(row.get_attribute("data-feature"), row.get_attribute("data-drifted")) for row in shown]
            assert [flag for _, flag in flags] == ["true", "true", "false", "false"]
            assert {name for name, _ in flags[:2]} == {"petal_length", "petal_width"}
            assert_fits_width(browser)
            screenshot(browser, "drift-report")

            # a categorical feature's report
            page_open(browser, f"{base}/dashboard/drift-runs/{shop_run.pk}/")
            assert_charts_have_data(browser, at_least=1 + 2 + 1)

            # a data table opens and lists the chart's numbers
            browser.get(f"{base}/dashboard/drift-runs/{shop_run.pk}/")
            charts_draw(browser)
            details = browser.find_element(By.CSS_SELECTOR, "details.data-table")
            details.find_element(By.TAG_NAME, "summary").click()
            # the table is built by the details' toggle event, which fires after the click returns
            WebDriverWait(browser, 10).until(lambda _: len(details.find_elements(By.CSS_SELECTOR, "tbody tr")) >= 3)

            # alerts: firing from Alertmanager, history from the webhook
            page_open(browser, f"{base}/dashboard/alerts/")
            assert "HighPredictionLatency" in browser.find_element(By.CSS_SELECTOR, "[data-test=firing-table]").text
            assert "DataDriftDetected" in browser.find_element(By.CSS_SELECTOR, "[data-test=history-table]").text
            assert_fits_width(browser)
            screenshot(browser, "alerts")
            assert not console_errors(browser)
        finally:
            traffic.stop_event.set()
            traffic.join(timeout=15)
    assert not traffic.failures, traffic.failures[:5]


def test_drift_report_flags_exactly_the_two_shifted_features_first(
    live_server: Any,
    tmp_path: Path,
    browser: Any,
    dashboard_user: Any,
    register_iris: Callable[..., ModelVersion],
    api_client: Any,
) -> None:
    """A real drift run over traffic with petal_length and petal_width shifted: the report in the browser flags
    exactly those two, ranks them first, and draws whatever charts the run stored."""
    # given
    version = iris_with_reference(register_iris)
    rng = np.random.default_rng(11)
    rows = iris_demo().x_train[rng.integers(0, len(iris_demo().x_train), 400)].copy()
    rows[:, 2] += 3.0  # petal_length
    rows[:, 3] += 1.5  # petal_width
    response = api_client.post("/api/v1/models/iris/predict", {"instances": rows.tolist()}, format="json")
    assert response.status_code == 200
    run = drift_run_compute(model_id=version.model_id)
    assert run.drifted_count == 2
    # when
    log_in(browser, live_server.url, username="operator", password=PASSWORD, next_path="/dashboard/models/iris/drift/")
    charts_draw(browser)
    # then
    assert not console_errors(browser)
    rows_shown = browser.find_elements(By.CSS_SELECTOR, "table.features tbody tr")
    flags = [(row.get_attribute("data-feature"), row.get_attribute("data-drifted")) for row in rows_shown]
    assert [flag for _, flag in flags] == ["true", "true", "false", "false"]
    assert {name for name, _ in flags[:2]} == {"petal_length", "petal_width"}
    for row in rows_shown[:2]:
        assert "drifted" in row.text  # said in text, not by colour alone
    assert "2 of 4" in browser.find_element(By.CSS_SELECTOR, "[data-test=drifted-count]").text
    charts = assert_charts_have_data(browser, at_least=1)  # at least the predicted-class shares
    assert any(c["id"] == "prediction-distribution" for c in charts)


def test_pages_need_a_login(live_server: Any, browser: Any, dashboard_user: Any, transactional_db: None) -> None:
    """Anonymous visitors of / and of every page land on the login form; a user without the permission gets the
    no-access page; after logging in with the permission the overview shows."""
    # given
    user_model = get_user_model()
    user_model.objects.create_user(username="nobody", password=PASSWORD)
    reader = user_model.objects.create_user(username="reader", password=PASSWORD)
    from django.contrib.auth.models import Permission

    reader.user_permissions.add(Permission.objects.get(codename="view_dashboard"))
    # when / then
    for path in ("/", "/dashboard/", "/dashboard/alerts/", "/dashboard/models/iris/"):
        browser.get(live_server.url + path)
        assert browser.current_url.startswith(live_server.url + "/dashboard/login/"), (path, browser.current_url)
        assert browser.find_element(By.ID, "id_username")
    log_in(browser, live_server.url, username="nobody", password=PASSWORD, next_path="/dashboard/")
    assert "No access to the dashboard" in browser.find_element(By.TAG_NAME, "main").text
    refused = console_errors(browser)  # the browser logs the 403 itself, and nothing else may fail
    assert refused and all("status of 403" in message for message in refused), refused
    click_and_wait(browser, "form.logout button")
    log_in(browser, live_server.url, username="reader", password=PASSWORD, next_path="/dashboard/")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Models"
    assert not console_errors(browser)
