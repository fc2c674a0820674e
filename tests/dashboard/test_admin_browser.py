"""The admin pages an operator uses, in a real browser at 1366 px (Debian's Chromium, as the dashboard's browser
tests): each answers without a server error and fits the window (no horizontal scrolling)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from alerts_config.models import AlertEvent, Threshold
from alerts_config.services import alert_events_ingest
from demo.iris import iris_reference_csv
from drift.models import DriftSettings
from drift.services import drift_run_compute, reference_dataset_upload
from predictions.models import ModelVersion
from predictions.services import prediction_create
from tests.conftest import iris_demo
from tests.dashboard.browser import WIDTH, chromium, page_left, screenshot

PASSWORD = "a-long-test-password-1"


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """A headless Chromium at 1366 x 900."""
    with chromium(tmp_path) as driver:
        yield driver


def admin_log_in(driver: Any, base_url: str) -> None:
    """Log in through the admin's login form."""
    driver.get(base_url + "/admin/login/?next=/admin/")
    driver.find_element(By.ID, "id_username").send_keys("operator")
    driver.find_element(By.ID, "id_password").send_keys(PASSWORD)
    form = driver.find_element(By.ID, "login-form")
    form.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    WebDriverWait(driver, 30).until(page_left(form))


def page_width_check(driver: Any, url: str) -> dict[str, Any]:
    """Open a page; return its title, whether it is an admin page, and how far it is wider than the window."""
    driver.get(url)
    return driver.execute_script(
        """
        return {
            title: document.title,
            admin: !!document.getElementById('site-name'),
            overflow: document.documentElement.scrollWidth - window.innerWidth,
            scrollWidth: document.documentElement.scrollWidth,
        };
        """
    )


@pytest.mark.slow
def test_the_operators_admin_pages_fit_1366_px_and_answer(
    live_server: Any,
    browser: Any,
    transactional_db: None,
    register_iris: Callable[..., ModelVersion],
    seeded_thresholds: None,
) -> None:
    """Models, versions, references, drift runs (with drifted features), drift settings, thresholds and alert
    history, lists and change pages: every one renders as an admin page, and none is wider than 1366 px."""
    # given: the demo model with its reference, shifted traffic, a drift run, an alert in the history
    get_user_model().objects.create_superuser(username="operator", email="o@example.com", password=PASSWORD)
    version = register_iris()
    reference = reference_dataset_upload(
        model_version=version, file=iris_reference_csv(iris_demo().x_train), filename="iris-train.csv"
    )
    rows = iris_demo().x_train[np.random.default_rng(3).integers(0, len(iris_demo().x_train), 400)].copy()
    rows[:, 2] += 2.0
    for start in range(0, len(rows), 200):
        prediction_create(model_name="iris", version=None, payload={"instances": rows[start : start + 200].tolist()})
    run = drift_run_compute(model_id=version.model_id)
    assert run.drifted_count >= 1
    alert_events_ingest(
        receiver="mlmonitor-webhook",
        alerts=[
            {
                "status": "firing",
                "labels": {
                    "alertname": "DataDriftDetected",
                    "severity": "warning",
                    "model_name": "iris",
                    "feature_name": "petal_length",
                },
                "annotations": {"summary": "Data drift detected on iris.petal_length: a long summary " * 3},
                "startsAt": "2026-01-01T00:00:00+00:00",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://127.0.0.1:9090/graph?g0.expr=ml_feature_drift_score%20%3E%200.15" + "x" * 300,
                "fingerprint": "abc123",
            }
        ],
    )
    settings_row = DriftSettings.objects.get(model=version.model)
    threshold = Threshold.objects.order_by("pk").first()
    event = AlertEvent.objects.get()
    assert threshold is not None
    paths = [
        "/admin/",
        "/admin/predictions/mlmodel/",
        f"/admin/predictions/mlmodel/{version.model_id}/change/",
        f"/admin/predictions/modelversion/{version.pk}/change/",
        "/admin/drift/referencedataset/",
        "/admin/drift/referencedataset/add/",
        f"/admin/drift/referencedataset/{reference.pk}/change/",
        "/admin/drift/driftrun/",
        f"/admin/drift/driftrun/{run.pk}/change/",
        "/admin/drift/driftsettings/",
        f"/admin/drift/driftsettings/{settings_row.pk}/change/",
        "/admin/alerts_config/threshold/",
        "/admin/alerts_config/threshold/add/",
        f"/admin/alerts_config/threshold/{threshold.pk}/change/",
        "/admin/alerts_config/alertevent/",
        f"/admin/alerts_config/alertevent/{event.pk}/change/",
    ]
    admin_log_in(browser, live_server.url)
    # when
    seen = {path: page_width_check(browser, live_server.url + path) for path in paths}
    # then
    broken = {path: page for path, page in seen.items() if not page["admin"] or "error" in page["title"].lower()}
    assert not broken, broken
    wide = {path: page["scrollWidth"] for path, page in seen.items() if page["overflow"] > 0}
    for path in wide:
        browser.get(live_server.url + path)
        screenshot(browser, "admin" + path.replace("/", "-").rstrip("-"))
    assert not wide, f"wider than {WIDTH} px: {wide}"
