"""The dashboard pages with the database only (Prometheus and Alertmanager on closed ports): what each shows, what
it says about the missing sources, its errors, and its number of SQL queries at two sizes."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from alerts_config.models import AlertEvent, Threshold
from drift.models import DriftRun, FeatureDriftResult, ReferenceDataset
from predictions.models import ModelVersion, Prediction
from tests.dashboard.conftest import runs_history
from tests.dashboard.factories import FeatureSpec


def html(response: Any) -> str:
    """The response body as text."""
    return response.content.decode()


def predictions_labelled(version: ModelVersion, *, total: int, labelled: int, correct: int) -> None:
    """`total` logged predictions of class 0, the first `labelled` labelled, `correct` of them with the right label."""
    import numpy as np

    width = len(version.feature_schema)
    rows = []
    for index in range(total):
        label = None
        if index < labelled:
            label = 0 if index < correct else 1
        rows.append(
            Prediction(
                model_version=version,
                features=np.zeros(width).tobytes(),
                predicted_index=0,
                confidence=0.9,
                probabilities=np.asarray([0.9, 0.1]).tobytes(),
                latency_ms=3.0,
                label_index=label,
                labelled_at=timezone.now() if label is not None else None,
            )
        )
    Prediction.objects.bulk_create(rows)


# --- overview ---------------------------------------------------------------------------------------------------


def test_overview_shows_database_figures_and_says_prometheus_is_unreachable(
    staff_client: Client, make_model: Callable[..., ModelVersion], make_drift_run: Callable[..., DriftRun]
) -> None:
    """With Prometheus down the overview says so, and still shows each model's accuracy, label coverage and drift
    status from the database."""
    # given
    version = make_model(name="churn", features=["a", "b", "c", "d"])
    predictions_labelled(version, total=10, labelled=5, correct=4)
    make_drift_run(
        version=version, features=[FeatureSpec("a", 3.0), FeatureSpec("b", 3.0), FeatureSpec("c"), FeatureSpec("d")]
    )
    # when
    response = staff_client.get("/dashboard/")
    # then
    assert response.status_code == 200
    page = html(response)
    assert "Prometheus is unreachable" in page
    assert "Alertmanager is unreachable" in page
    row = re.search(r'<tr data-model="churn">(.*?)</tr>', page, re.S).group(1)
    assert "v1" in row
    assert "80.0%" in row  # accuracy: 4 of 5 labels right
    assert "50.0%" in row  # coverage: 5 of 10 predictions labelled
    assert "2/4 drifted" in row and "dataset drift" in row


def test_overview_searches_sorts_and_pages(staff_client: Client, make_model: Callable[..., ModelVersion]) -> None:
    """?q= filters by name, ?sort=&dir= orders, and 30 models make two pages of 25."""
    # given
    for index in range(30):
        make_model(name=f"model-{index:02d}")
    # when
    first = html(staff_client.get("/dashboard/", {"sort": "name", "dir": "desc"}))
    second = html(staff_client.get("/dashboard/", {"sort": "name", "dir": "desc", "page": 2}))
    found = html(staff_client.get("/dashboard/", {"q": "-1"}))
    # then
    names_first = re.findall(r'<tr data-model="([^"]+)"', first)
    names_second = re.findall(r'<tr data-model="([^"]+)"', second)
    assert names_first == [f"model-{i:02d}" for i in range(29, 4, -1)]
    assert names_second == [f"model-{i:02d}" for i in range(4, -1, -1)]
    assert re.findall(r'<tr data-model="([^"]+)"', found) == [f"model-{i:02d}" for i in range(10, 20)]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"range": "3d"}, "Unknown range"),
        ({"sort": "password"}, "Cannot sort by"),
        ({"dir": "sideways"}, "Direction must be"),
        ({"page": "zero"}, "Page must be a positive integer"),
    ],
)
def test_overview_refuses_bad_parameters_with_a_400_page(
    staff_client: Client, params: dict[str, str], message: str
) -> None:
    """A range, sort, direction or page that is not offered is a 400 page saying what was wrong."""
    # when
    response = staff_client.get("/dashboard/", params)
    # then
    assert response.status_code == 400
    assert message in html(response)


def test_overview_query_count_does_not_grow_with_models_features_or_runs(
    staff_client: Client,
    make_model: Callable[..., ModelVersion],
    make_drift_run: Callable[..., DriftRun],
    django_assert_max_num_queries: Any,
) -> None:
    """The overview reads the same number of queries for 2 models of 2 features and 1 run as for 12 models of 40
    features and 6 runs: session, user, models, their versions, accuracy and coverage of all (one statement),
    latest runs, thresholds, and the history's firing alerts (Alertmanager being down)."""
    # given
    versions = [make_model(name=f"m{i}", features=["a", "b"]) for i in range(2)]
    for version in versions:
        make_drift_run(version=version, features=[FeatureSpec("a"), FeatureSpec("b")])
        predictions_labelled(version, total=3, labelled=2, correct=1)
    # then
    with django_assert_max_num_queries(8):
        assert staff_client.get("/dashboard/").status_code == 200
    # given
    versions += [make_model(name=f"n{i}", features=["a", "b"]) for i in range(10)]
    for version in versions:
        predictions_labelled(version, total=3, labelled=2, correct=1)
        for _ in range(5):
            make_drift_run(version=version, features=[FeatureSpec(f"f{i}") for i in range(40)])
    # then
    with django_assert_max_num_queries(8):
        response = staff_client.get("/dashboard/")
    assert len(response.context["view"].page.object_list) == 12


# --- model page -------------------------------------------------------------------------------------------------


def test_model_page_shows_drift_over_time_against_the_stored_threshold(
    staff_client: Client, make_model: Callable[..., ModelVersion], make_drift_run: Callable[..., DriftRun]
) -> None:
    """Each feature's drift score per run is a figure whose dashed line is the threshold row that its alert rule
    uses (a per-feature row beats the global one); the drifted feature comes first."""
    # given
    version = make_model(name="churn", features=["calm", "shifted"])
    Threshold.objects.create(kind=Threshold.Kind.FEATURE_DRIFT, model=version.model, feature_name="calm", value=0.4)
    runs = list(
        runs_history(
            make_drift_run, version=version, features=[FeatureSpec("calm"), FeatureSpec("shifted", 2.0)], count=3
        )
    )
    # when
    response = staff_client.get("/dashboard/models/churn/", {"range": "1h"})
    # then
    assert response.status_code == 200
    page = html(response)
    assert page.index('data-feature="shifted"') < page.index('data-feature="calm"')
    figures = response.context["view"].figures
    calm = next(v for v in response.context["view"].features if v.name == "calm")
    shifted = next(v for v in response.context["view"].features if v.name == "shifted")
    assert calm.threshold == 0.4 and shifted.threshold == 0.15
    calm_figure = figures[calm.figure_id]
    assert calm_figure["data"][1]["y"] == [0.4, 0.4]
    assert len(calm_figure["data"][0]["y"]) == len(runs)
    assert "Prometheus is unreachable" in page
    assert "Not available while Prometheus is unreachable." in page


def test_model_page_pages_and_searches_100_features(
    staff_client: Client, make_model: Callable[..., ModelVersion], make_drift_run: Callable[..., DriftRun]
) -> None:
    """100 features are shown 20 per page; ?q= narrows them by name."""
    # given
    names = [f"feature_{i:03d}" for i in range(100)]
    version = make_model(name="wide", features=names)
    make_drift_run(version=version, features=[FeatureSpec(n) for n in names])
    # when
    first = staff_client.get("/dashboard/models/wide/")
    found = staff_client.get("/dashboard/models/wide/", {"q": "feature_05"})
    # then
    assert len(first.context["view"].features) == 20
    assert first.context["view"].feature_page.paginator.num_pages == 5
    assert {f.name for f in found.context["view"].features} == {f"feature_05{i}" for i in range(10)}


def test_model_page_query_count_does_not_grow_with_features_or_runs(
    staff_client: Client,
    make_model: Callable[..., ModelVersion],
    make_drift_run: Callable[..., DriftRun],
    django_assert_max_num_queries: Any,
) -> None:
    """The same number of queries for 2 features and 1 run as for 50 features and 12 runs."""
    # given
    small = make_model(name="small", features=["a", "b"])
    make_drift_run(version=small, features=[FeatureSpec("a"), FeatureSpec("b")])
    names = [f"f{i}" for i in range(50)]
    large = make_model(name="large", features=names)
    list(runs_history(make_drift_run, version=large, features=[FeatureSpec(n) for n in names], count=12))
    # then
    with django_assert_max_num_queries(11):
        assert staff_client.get("/dashboard/models/small/").status_code == 200
    with django_assert_max_num_queries(11):
        assert staff_client.get("/dashboard/models/large/").status_code == 200


def test_model_page_of_an_unknown_model_is_a_404_page(staff_client: Client) -> None:
    """An unknown model name is a 404 page that names it."""
    # when
    response = staff_client.get("/dashboard/models/nope/")
    # then
    assert response.status_code == 404
    assert "Unknown model &#x27;nope&#x27;" in html(response)


# --- drift report -----------------------------------------------------------------------------------------------


def test_drift_report_lists_the_two_shifted_features_first_with_their_charts(
    staff_client: Client, make_model: Callable[..., ModelVersion], make_drift_run: Callable[..., DriftRun]
) -> None:
    """Of six features two are shifted: exactly those are flagged, ranked first, each with a histogram on shared
    bins and an ECDF figure whose KS segment spans the stored distance; the categorical one has category shares."""
    # given
    names = ["a", "b", "c", "d", "e", "color"]
    version = make_model(name="shop", features=names)
    specs = [FeatureSpec("a"), FeatureSpec("b", 2.5), FeatureSpec("c"), FeatureSpec("d", -2.0), FeatureSpec("e")]
    specs.append(FeatureSpec("color", categories=("red", "green", "blue")))
    run = make_drift_run(version=version, features=specs)
    # when
    response = staff_client.get(f"/dashboard/drift-runs/{run.pk}/")
    # then
    assert response.status_code == 200
    page = html(response)
    rows = re.findall(r'<tr data-feature="([^"]+)" data-drifted="(true|false)"', page)
    assert [name for name, flag in rows if flag == "true"] == [rows[0][0], rows[1][0]]
    assert {rows[0][0], rows[1][0]} == {"b", "d"}
    report = response.context["view"]
    b = next(f for f in report.cards.object_list if f.result.feature_name == "b")
    histogram, ecdf = (report.figures[figure_id] for _, figure_id in b.figures)
    assert [t["name"] for t in histogram["data"]] == ["reference", "current"]
    assert histogram["data"][0]["marker"]["color"] == "#999999" and histogram["data"][1]["marker"]["color"] == "#0072B2"
    ks = ecdf["data"][2]
    assert abs(abs(ks["y"][1] - ks["y"][0]) - b.result.chart["ks"]["d"]) < 1e-9
    color = next(f for f in report.cards.object_list if f.result.feature_name == "color")
    ((_title, figure_id),) = color.figures
    assert report.figures[figure_id]["data"][0]["x"] == ["red", "green", "blue"]
    assert "Charts are not available" not in page
    assert page.count("&#9888;</span> drifted") >= 4  # badge with icon and text, in the table and the cards


def test_drift_report_of_an_old_run_without_chart_data_shows_summaries(
    staff_client: Client, make_model: Callable[..., ModelVersion], make_drift_run: Callable[..., DriftRun]
) -> None:
    """A run that stored no chart data ({}) still shows scores and the summary table, and says the charts are not
    available for that run."""
    # given
    version = make_model(name="old", features=["a"])
    run = make_drift_run(version=version, features=[FeatureSpec("a", 2.0, with_chart=False)])
    # when
    response = staff_client.get("/dashboard/models/old/drift/")
    # then
    page = html(response)
    assert response.context["view"].run.pk == run.pk
    assert "Charts are not available for this run" in page
    assert '<th scope="row">p95</th>' in page and '<th scope="row">mean</th>' in page


def test_drift_report_shows_each_features_data_quality_share(
    staff_client: Client, make_model: Callable[..., ModelVersion], make_drift_run: Callable[..., DriftRun]
) -> None:
    """A numeric feature shows its window's out-of-range share, a categorical one its unseen-category share, in
    the features table and on the feature's card."""
    # given
    version = make_model(name="ranges", features=["a", "color"])
    run = make_drift_run(
        version=version, features=[FeatureSpec("a", 2.0), FeatureSpec("color", categories=("red", "blue"))]
    )
    FeatureDriftResult.objects.filter(run=run, feature_name="a").update(out_of_range_share=0.25)
    FeatureDriftResult.objects.filter(run=run, feature_name="color").update(unseen_category_share=0.125)
    # when
    page = html(staff_client.get(f"/dashboard/drift-runs/{run.pk}/"))
    # then
    assert "out of range 25.0%" in page and "unseen categories 12.5%" in page
    assert '<td class="num">25.0%</td>' in page and '<td class="num">12.5%</td>' in page


def test_drift_report_names_the_reference_without_loading_its_statistics(
    staff_client: Client, make_model: Callable[..., ModelVersion], make_drift_run: Callable[..., DriftRun]
) -> None:
    """The report shows the run's reference (name, rows) but never reads its prepared statistics, which are tens of
    MB for a wide reference."""
    # given
    version = make_model(name="refs", features=["a"])
    run = make_drift_run(version=version, features=[FeatureSpec("a")])
    run.reference = ReferenceDataset.objects.create(
        model_version=version,
        name="march traffic",
        file="reference/march.csv",
        file_format="csv",
        row_count=600,
        numeric_reference=b"\0" * 1024,
        categorical_reference=b"\0",
        class_counts={},
    )
    run.save()
    # when
    with CaptureQueriesContext(connection) as queries:
        page = html(staff_client.get(f"/dashboard/drift-runs/{run.pk}/"))
    # then
    assert "reference march traffic, 600 rows" in page
    assert not [q["sql"] for q in queries.captured_queries if "numeric_reference" in q["sql"]]


def test_drift_report_pages_100_features(
    staff_client: Client, make_model: Callable[..., ModelVersion], make_drift_run: Callable[..., DriftRun]
) -> None:
    """100 features: the table lists all of them, the distribution cards come 20 per page, ?q= filters both."""
    # given
    names = [f"x{i:03d}" for i in range(100)]
    version = make_model(name="wide", features=names)
    make_drift_run(version=version, features=[FeatureSpec(n, 1.0 if i % 10 == 0 else 0.0) for i, n in enumerate(names)])
    # when
    response = staff_client.get("/dashboard/models/wide/drift/", {"page": 2})
    found = staff_client.get("/dashboard/models/wide/drift/", {"q": "x01"})
    # then
    report = response.context["view"]
    assert len(report.features) == 100
    assert len(report.cards.object_list) == 20 and report.cards.number == 2
    assert len(report.figures) == 20 * 2 + 1  # two figures per numeric feature on the page, and the class shares
    assert {f.result.feature_name for f in found.context["view"].features} == {f"x01{i}" for i in range(10)}


def test_drift_report_query_count_does_not_grow_with_features_or_runs(
    staff_client: Client,
    make_model: Callable[..., ModelVersion],
    make_drift_run: Callable[..., DriftRun],
    django_assert_max_num_queries: Any,
) -> None:
    """The same number of queries for a run of 2 features as for a run of 100 features among 6 runs."""
    # given
    small = make_model(name="small", features=["a", "b"])
    make_drift_run(version=small, features=[FeatureSpec("a"), FeatureSpec("b")])
    names = [f"f{i}" for i in range(100)]
    large = make_model(name="large", features=names)
    list(runs_history(make_drift_run, version=large, features=[FeatureSpec(n) for n in names], count=6))
    # then
    with django_assert_max_num_queries(6):
        assert staff_client.get("/dashboard/models/small/drift/").status_code == 200
    with django_assert_max_num_queries(6):
        assert staff_client.get("/dashboard/models/large/drift/").status_code == 200


def test_drift_report_links_previous_and_next_runs(
    staff_client: Client, make_model: Callable[..., ModelVersion], make_drift_run: Callable[..., DriftRun]
) -> None:
    """A past run links to the run before and after it; the latest says it is the latest."""
    # given
    version = make_model(name="hist", features=["a"])
    first, middle, last = runs_history(make_drift_run, version=version, features=[FeatureSpec("a")], count=3)
    # when
    page = html(staff_client.get(f"/dashboard/drift-runs/{middle.pk}/"))
    latest = html(staff_client.get("/dashboard/models/hist/drift/"))
    # then
    assert f"/dashboard/drift-runs/{first.pk}/" in page and f"/dashboard/drift-runs/{last.pk}/" in page
    assert "the latest run" in latest


@pytest.mark.parametrize("path", ["/dashboard/drift-runs/999999/", "/dashboard/models/nope/drift/"])
def test_drift_report_of_an_unknown_run_or_model_is_a_404_page(staff_client: Client, path: str) -> None:
    """An unknown run id or model is a 404 page."""
    assert staff_client.get(path).status_code == 404


def test_drift_report_of_a_model_without_runs_says_how_to_get_one(
    staff_client: Client, make_model: Callable[..., ModelVersion]
) -> None:
    """A model without a run yet: a 404 page that says runs follow the schedule and how to queue one."""
    # given
    make_model(name="fresh")
    # when
    response = staff_client.get("/dashboard/models/fresh/drift/")
    # then
    assert response.status_code == 404
    assert "POST /api/v1/models/fresh/drift/run" in html(response)


# --- alerts -----------------------------------------------------------------------------------------------------


def test_alerts_page_shows_history_paged_and_what_the_history_holds_as_firing(
    staff_client: Client, django_assert_max_num_queries: Any
) -> None:
    """With Alertmanager down the page says so and lists the history's firing alerts; the history is paged (50)."""
    # given
    now = timezone.now()
    AlertEvent.objects.bulk_create(
        [
            AlertEvent(
                fingerprint=f"{i:016x}",
                alertname="HighErrorRate" if i % 2 else "DataDriftDetected",
                status="firing" if i < 3 else "resolved",
                severity="warning",
                model_name="iris",
                labels={"alertname": "x"},
                annotations={"summary": f"summary {i}"},
                starts_at=now - timedelta(minutes=i),
            )
            for i in range(120)
        ]
    )
    # when
    with django_assert_max_num_queries(6):
        response = staff_client.get("/dashboard/alerts/")
    page = html(response)
    # then
    assert "Alertmanager is unreachable" in page
    assert "holds 3 alerts whose last report was" in page
    assert response.context["view"].history.paginator.num_pages == 3
    assert len(response.context["view"].history.object_list) == 50
    firing_only = staff_client.get("/dashboard/alerts/", {"status": "firing"}).context["view"].history
    assert firing_only.paginator.count == 3
