"""Performance before the labels arrive, through Django: a reference uploaded with its true labels fits the CBPE state,
each drift run stores the window's estimated accuracy and macro F1 with their bands and its label coverage, and the
API and /metrics show them; suggested drift thresholds are fitted to the reference."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from django.core.exceptions import ValidationError

from drift.estimation import CBPEReference, cbpe_estimate
from drift.models import DriftRun, ReferenceDataset, SuggestedThreshold
from drift.services import (
    drift_run_compute,
    reference_dataset_upload,
    reference_scores_from_bytes,
    suggested_thresholds_compute,
)
from predictions.models import ModelVersion, Prediction
from predictions.selectors import prediction_window_outcomes_read
from tests.conftest import iris_demo
from tests.exposition import Exposition

IRIS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def labelled_csv(rows: np.ndarray, labels: list[str], column: str = "species") -> bytes:
    """Iris rows with a true-label column (placed first, to show the order of columns does not matter)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([column, *IRIS])
    for label, row in zip(labels, rows.tolist(), strict=True):
        writer.writerow([label, *row])
    return buffer.getvalue().encode()


@pytest.fixture
def labelled_reference(iris_version: ModelVersion) -> ReferenceDataset:
    """The iris training split with its species column, uploaded as the active reference."""
    demo = iris_demo()
    return reference_dataset_upload(
        model_version=iris_version,
        file=labelled_csv(demo.x_train, [str(y) for y in demo.y_train]),
        filename="iris-labelled.csv",
        label_column="species",
    )


@pytest.mark.django_db
def test_a_labelled_reference_stores_its_scores_labels_and_a_fitted_cbpe_state(
    labelled_reference: ReferenceDataset,
) -> None:
    """The label column is remembered, the model's probabilities are kept with the labels, and the CBPE state loads
    with the reference's own realized accuracy."""
    demo = iris_demo()
    # then
    stored = ReferenceDataset.objects.get(pk=labelled_reference.pk)
    assert stored.label_column == "species"
    probabilities, labels = reference_scores_from_bytes(bytes(stored.reference_scores))
    assert probabilities.shape == (105, 3)
    assert [demo.class_labels[i] for i in labels] == [str(y) for y in demo.y_train]
    state = CBPEReference.from_bytes(bytes(stored.cbpe_reference))
    assert state.class_count == 3 and state.reference_size == 105
    assert state.reference_accuracy == pytest.approx(float(np.mean(probabilities.argmax(axis=1) == labels)))


@pytest.mark.django_db
def test_a_reference_without_labels_has_scores_but_no_cbpe_state(iris_reference: ReferenceDataset) -> None:
    """Without a label column: probabilities kept (labels -1), no estimator."""
    stored = ReferenceDataset.objects.get(pk=iris_reference.pk)
    probabilities, labels = reference_scores_from_bytes(bytes(stored.reference_scores))
    assert probabilities.shape == (105, 3) and set(labels.tolist()) == {-1}
    assert stored.cbpe_reference is None and stored.label_column == ""


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("label_column", "edit", "fragments"),
    [
        ("species", lambda labels: [*labels[:7], "tulip", *labels[8:]], ["row 8", "'tulip'", "setosa, versicolor"]),
        ("species", lambda labels: [*labels[:3], "", *labels[4:]], ["row 4", "missing label"]),
        ("kind", lambda labels: labels, ["label column 'kind' is not in the file"]),
        ("petal_width", lambda labels: labels, ["'petal_width' is a feature"]),
    ],
)
def test_bad_labels_are_refused_naming_row_and_nothing_is_stored(
    iris_version: ModelVersion, label_column: str, edit: Callable[[list[str]], list[str]], fragments: list[str]
) -> None:
    """An unknown class, an empty label, a label column absent from the file or naming a feature: a ValidationError
    that says which, and no reference is stored."""
    demo = iris_demo()
    content = labelled_csv(demo.x_train, edit([str(y) for y in demo.y_train]))
    # when
    with pytest.raises(ValidationError) as caught:
        reference_dataset_upload(
            model_version=iris_version, file=content, filename="bad.csv", label_column=label_column
        )
    # then
    message = " ".join(caught.value.messages)
    for fragment in fragments:
        assert fragment in message
    assert not ReferenceDataset.objects.exists()


@pytest.mark.django_db
def test_the_admin_form_shows_a_label_error_on_the_file_field(iris_version: ModelVersion) -> None:
    """The upload form names the bad row in the form's errors (the same check as the service)."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from drift.admin import ReferenceDatasetForm

    demo = iris_demo()
    labels = [str(y) for y in demo.y_train]
    labels[2] = "rose"
    upload = SimpleUploadedFile("ref.csv", labelled_csv(demo.x_train, labels))
    form = ReferenceDatasetForm(
        data={"model_version": iris_version.pk, "name": "r", "label_column": "species"}, files={"file": upload}
    )
    # then
    assert not form.is_valid()
    assert "row 3" in " ".join(form.errors["file"]) and "'rose'" in " ".join(form.errors["file"])


@pytest.mark.django_db
def test_a_drift_run_stores_the_cbpe_estimate_of_its_window_and_its_label_coverage(
    labelled_reference: ReferenceDataset, send_iris: Any, token_client: Any
) -> None:
    """The run's estimates are exactly CBPE on the window's stored probabilities; coverage and realized values come
    from the labels posted for the window's predictions."""
    # given: 300 predictions, 60 of them labelled with their true class
    demo = iris_demo()
    ids = send_iris(300, seed=3)
    rng = np.random.default_rng(3)
    picked = rng.integers(0, len(demo.x_train), 300)  # the rows send_iris(seed=3) sampled
    feedback = [{"prediction_id": pid, "label": str(demo.y_train[picked[i]])} for i, pid in enumerate(ids[:60])]
    assert token_client.post("/api/v1/feedback", feedback, format="json").status_code == 200
    version = labelled_reference.model_version
    # when
    run = drift_run_compute(model_id=version.model_id)
    # then
    window = prediction_window_outcomes_read(version=version, limit=1000)
    state = CBPEReference.from_bytes(bytes(ReferenceDataset.objects.get(pk=labelled_reference.pk).cbpe_reference))
    expected = cbpe_estimate(reference=state, probabilities=window.probabilities, labels=window.labels)
    assert run.labelled_count == 60 and run.label_coverage == pytest.approx(0.2)
    assert run.estimated_accuracy == pytest.approx(expected.accuracy.value)
    assert run.estimated_accuracy_lower == pytest.approx(expected.accuracy.lower)
    assert run.estimated_accuracy_upper == pytest.approx(expected.accuracy.upper)
    assert run.estimated_f1 == pytest.approx(expected.f1_macro.value)
    assert run.estimated_f1_lower <= run.estimated_f1 <= run.estimated_f1_upper
    assert run.realized_accuracy == pytest.approx(expected.accuracy.realized)
    assert run.estimation["status"] == "ok" and run.estimation["labelled"] == 60
    assert 0.85 <= run.estimated_accuracy <= 1.0  # traffic like the reference: close to its ~0.97


@pytest.mark.django_db
def test_a_covariate_shift_lowers_the_estimate_without_any_label(
    labelled_reference: ReferenceDataset, send_iris: Any
) -> None:
    """Sepal width moved by -1 cm pushes rows towards the class boundaries, where the model is less sure: the
    estimate falls (0.90 -> 0.81 on this sample) while no label is posted (coverage 0)."""
    model_id = labelled_reference.model_version.model_id
    send_iris(300, seed=1)
    calm = drift_run_compute(model_id=model_id)
    Prediction.objects.all().delete()
    send_iris(300, shift={1: -1.0}, seed=1)
    # when
    shifted = drift_run_compute(model_id=model_id)
    # then
    assert calm.label_coverage == 0.0 and shifted.label_coverage == 0.0
    assert shifted.estimated_accuracy < calm.estimated_accuracy - 0.05
    assert shifted.realized_accuracy is None


@pytest.mark.django_db
def test_without_reference_labels_the_run_says_why_and_exports_no_estimate(
    iris_reference: ReferenceDataset, send_iris: Any, api_client: Any, scrape: Callable[[], Exposition]
) -> None:
    """No labels in the reference: estimates null, the API's performance block says why, no estimate gauge; the
    coverage is still stored."""
    send_iris(150)
    run = drift_run_compute(model_id=iris_reference.model_version.model_id)
    assert run.estimated_accuracy is None and run.estimation["status"] == "no_reference_labels"
    body = api_client.get("/api/v1/models/iris/drift").json()
    assert body["performance"]["status"] == "no_reference_labels"
    assert body["performance"]["estimated_accuracy"] is None and body["performance"]["label_coverage"] == 0.0
    exposition = scrape()
    assert exposition.series("ml_model_estimated_accuracy") == []
    assert exposition.get("ml_drift_window_label_coverage", model_name="iris", model_version="1") == 0.0


@pytest.mark.django_db
def test_a_window_below_min_samples_is_not_estimated(labelled_reference: ReferenceDataset, send_iris: Any) -> None:
    """Fewer predictions than the drift settings' min_samples: no estimate, status insufficient_data."""
    send_iris(20)
    run = drift_run_compute(model_id=labelled_reference.model_version.model_id)
    assert run.estimated_accuracy is None and run.estimation["status"] == "insufficient_data"


@pytest.mark.django_db
def test_api_and_metrics_show_the_estimate_with_its_band(
    labelled_reference: ReferenceDataset, send_iris: Any, api_client: Any, scrape: Callable[[], Exposition]
) -> None:
    """GET .../drift has the performance block; /metrics has the six estimate gauges of the latest run."""
    send_iris(200)
    run = drift_run_compute(model_id=labelled_reference.model_version.model_id)
    # when
    body = api_client.get("/api/v1/models/iris/drift").json()
    exposition = scrape()
    # then
    performance = body["performance"]
    assert performance["status"] == "ok" and performance["method"] == "cbpe"
    assert performance["estimated_accuracy"] == {
        "value": pytest.approx(run.estimated_accuracy),
        "lower": pytest.approx(run.estimated_accuracy_lower),
        "upper": pytest.approx(run.estimated_accuracy_upper),
    }
    assert performance["label_coverage"] == 0.0 and performance["realized_accuracy"] is None
    labels = {"model_name": "iris", "model_version": "1"}
    for name, field in [
        ("ml_model_estimated_accuracy", "estimated_accuracy"),
        ("ml_model_estimated_accuracy_lower", "estimated_accuracy_lower"),
        ("ml_model_estimated_accuracy_upper", "estimated_accuracy_upper"),
        ("ml_model_estimated_f1_score", "estimated_f1"),
        ("ml_model_estimated_f1_score_lower", "estimated_f1_lower"),
        ("ml_model_estimated_f1_score_upper", "estimated_f1_upper"),
    ]:
        assert exposition.get(name, **labels) == pytest.approx(getattr(run, field)), name


@pytest.mark.django_db
def test_suggested_thresholds_are_fitted_per_feature_and_for_the_prediction(
    labelled_reference: ReferenceDataset, settings: Any
) -> None:
    """One suggestion per feature and one for the prediction (empty feature name), at the model's window size;
    recomputing replaces them."""
    settings.SUGGESTED_THRESHOLD_RESAMPLES = 300
    # when
    suggested_thresholds_compute(reference_id=labelled_reference.pk)
    suggested_thresholds_compute(reference_id=labelled_reference.pk)
    # then
    rows = {row.feature_name: row for row in SuggestedThreshold.objects.filter(reference=labelled_reference)}
    assert set(rows) == {*IRIS, ""}
    for name in IRIS:
        assert rows[name].test == "ks" and rows[name].window_size == 1000 and rows[name].resamples == 300
        assert rows[name].value is not None and 0.0 < rows[name].median_score <= rows[name].value < 1.0
    assert rows[""].test == "jensenshannon" and rows[""].value is not None


@pytest.mark.django_db
def test_estimates_of_runs_are_kept_per_run(labelled_reference: ReferenceDataset, send_iris: Any) -> None:
    """The history keeps each run's estimate: two runs, two rows with their own values."""
    send_iris(150)
    first = drift_run_compute(model_id=labelled_reference.model_version.model_id)
    send_iris(150, shift={1: -1.0}, seed=2)
    second = drift_run_compute(model_id=labelled_reference.model_version.model_id)
    stored = dict(DriftRun.objects.values_list("pk", "estimated_accuracy"))
    assert stored[first.pk] == pytest.approx(first.estimated_accuracy)
    assert stored[second.pk] == pytest.approx(second.estimated_accuracy)


@pytest.mark.django_db
def test_an_upload_queues_the_suggested_threshold_fit_after_commit(
    iris_version: ModelVersion, settings: Any, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    """With SUGGESTED_THRESHOLDS_ON_UPLOAD the task is queued once the upload commits, under its pinned name."""
    from drift import tasks

    settings.SUGGESTED_THRESHOLDS_ON_UPLOAD = True
    queued: list[int] = []
    monkeypatch.setattr(tasks.suggested_thresholds_compute, "delay", queued.append)
    # when
    with django_capture_on_commit_callbacks(execute=True):
        reference = reference_dataset_upload(
            model_version=iris_version,
            file=labelled_csv(iris_demo().x_train, [str(y) for y in iris_demo().y_train]),
            filename="r.csv",
            label_column="species",
        )
    # then
    assert queued == [reference.pk]
    assert tasks.SUGGESTED_THRESHOLDS_COMPUTE == "drift.tasks.suggested_thresholds_compute"
    assert tasks.suggested_thresholds_compute.name == tasks.SUGGESTED_THRESHOLDS_COMPUTE


@pytest.mark.django_db
def test_the_task_fits_the_suggestions_and_skips_a_deleted_reference(
    labelled_reference: ReferenceDataset, settings: Any
) -> None:
    """Run in the worker's way (task body): rows stored; an unknown reference id is skipped with the reason."""
    from drift import tasks

    settings.SUGGESTED_THRESHOLD_RESAMPLES = 299
    done = tasks.suggested_thresholds_compute(labelled_reference.pk)
    assert done == {"reference_id": labelled_reference.pk, "suggestions": 5}
    assert tasks.suggested_thresholds_compute(999_999)["skipped"].startswith("No reference dataset")


@pytest.mark.django_db
def test_a_parquet_reference_takes_its_label_column_too(iris_version: ModelVersion) -> None:
    """The label column of a Parquet file is read like the CSV one; its labels are kept in row order."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    demo = iris_demo()
    columns = {name: demo.x_train[:, i] for i, name in enumerate(IRIS)}
    columns["truth"] = np.asarray([str(y) for y in demo.y_train])
    buffer = io.BytesIO()
    pq.write_table(pa.table(columns), buffer)
    # when
    reference = reference_dataset_upload(
        model_version=iris_version, file=buffer.getvalue(), filename="ref.parquet", label_column="truth"
    )
    # then
    _, labels = reference_scores_from_bytes(bytes(ReferenceDataset.objects.get(pk=reference.pk).reference_scores))
    assert [demo.class_labels[i] for i in labels] == [str(y) for y in demo.y_train]
