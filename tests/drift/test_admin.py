"""The drift admin pages as an operator reads them: a run's page with rounded scores, p-values in scientific
notation, drifted features first and marked, the reference and current summaries, and a link to the visual report;
the runs list says which features drifted."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from drift.models import DriftRun
from drift.services import drift_run_compute


@pytest.fixture
def drifted_run(db: None, iris_reference: Any, send_iris: Any) -> DriftRun:
    """A computed run in which petal_length and petal_width drifted (shifted traffic)."""
    send_iris(600, shift={2: 2.0, 3: 1.0}, seed=3)
    run = drift_run_compute(model_id=iris_reference.model_version.model_id)
    assert {f.feature_name for f in run.features.filter(drifted=True)} == {"petal_length", "petal_width"}
    return run


def feature_rows(page: str) -> list[str]:
    """The feature result rows of the run page's inline table, in page order."""
    table = page.split('id="features-group"', 1)[1]
    return re.findall(r'<tr class="form-row[^"]*"[^>]*>(.*?)</tr>', table, flags=re.S)


def test_the_run_page_is_readable(admin_client: Client, drifted_run: DriftRun) -> None:
    """No long digit strings (scores rounded, p-values like 1.23e-45); drifted features come first and are marked;
    each feature shows its reference and current summaries; the page links to the visual report."""
    # when
    response = admin_client.get(f"/admin/drift/driftrun/{drifted_run.pk}/change/")
    # then
    assert response.status_code == 200
    page = response.content.decode()
    assert not re.search(r"\d\.\d{7,}", page), re.findall(r"\S*\d\.\d{7,}\S*", page)[:5]
    assert re.search(r"\d\.\d{2}e-\d+", page), "a tiny p-value in scientific notation"
    rows = feature_rows(page)
    assert len(rows) == 4
    assert "petal_" in rows[0] and "petal_" in rows[1]
    assert all('class="drifted"' in row for row in rows[:2])
    assert not any('class="drifted"' in row for row in rows[2:])
    assert all("mean" in row and "p50" in row for row in rows)
    assert f'href="/dashboard/drift-runs/{drifted_run.pk}/"' in page


def test_the_runs_list_names_the_drifted_features(
    admin_client: Client, drifted_run: DriftRun, django_assert_max_num_queries: Any
) -> None:
    """Each run in the list says which features drifted, in a bounded number of queries."""
    # when
    with django_assert_max_num_queries(12):
        response = admin_client.get("/admin/drift/driftrun/")
    # then
    assert response.status_code == 200
    page = response.content.decode()
    assert re.search(r"petal_length, petal_width|petal_width, petal_length", page)
