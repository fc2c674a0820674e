"""Registry services: artifacts are checked before anything is stored, one version is active, and a new active
version answers at once in a running process."""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import skops.io
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import IntegrityError, connection, transaction
from prometheus_client import REGISTRY
from sklearn.ensemble import RandomForestClassifier

from demo.iris import IRIS_SCHEMA
from predictions import services
from predictions.models import MLModel, ModelVersion, Prediction
from tests.conftest import iris_demo
from tests.predictions import artifacts

ROW = [5.1, 3.5, 1.4, 0.2]  # a setosa


@pytest.mark.django_db
@pytest.mark.parametrize(("build", "schema", "labels", "field", "fragment"), artifacts.REFUSED)
def test_register_refuses_bad_artifacts_and_stores_nothing(
    build: Callable[[], bytes], schema: Any, labels: Any, field: str, fragment: str, settings: Any
) -> None:
    """model_version_register raises ValidationError on the field at fault; no model, version or file is stored."""
    # given
    data = build()
    # when
    with pytest.raises(ValidationError) as caught:
        services.model_version_register(
            model_name="iris", version="1", artifact=data, feature_schema=schema, class_labels=labels
        )
    # then
    errors = caught.value.message_dict
    assert field in errors, errors
    assert fragment in " ".join(errors[field])
    assert MLModel.objects.count() == 0
    assert ModelVersion.objects.count() == 0
    media = Path(settings.MEDIA_ROOT)
    assert not media.exists() or not any(path.is_file() for path in media.rglob("*"))


@pytest.mark.django_db
def test_register_stores_the_checked_artifact(settings: Any) -> None:
    """A valid artifact is stored with its hash and in-memory size, active and default."""
    # given
    demo = iris_demo()
    # when
    version = services.model_version_register(
        model_name="iris",
        version="1",
        artifact=demo.artifact,
        feature_schema=IRIS_SCHEMA,
        class_labels=demo.class_labels,
        make_default=True,
    )
    # then
    version.refresh_from_db()
    assert version.is_active and version.model.is_default
    assert len(version.artifact_sha256) == 64 and version.memory_bytes > 0
    with version.artifact.open("rb") as handle:
        assert handle.read() == demo.artifact
    assert version.class_labels == artifacts.IRIS_CLASSES


@pytest.mark.django_db
def test_activating_a_version_keeps_exactly_one_active(register_iris: Callable[..., ModelVersion]) -> None:
    """Whichever version is activated, the model has exactly that one active version."""
    # given
    first = register_iris(version="1")
    second = register_iris(version="2")
    third = register_iris(version="3", activate=False)
    for target in (first, third, second, second):
        # when
        services.model_version_activate(model_version=target)
        # then
        assert list(ModelVersion.objects.filter(is_active=True).values_list("version", flat=True)) == [target.version]


@pytest.mark.django_db
def test_predictions_follow_the_active_version_without_a_restart(
    api_client: Any, register_iris: Any, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    """With the registry lookup cached as in production, the loaded v1 model stops answering as soon as v2 is
    activated in this process, and answers again when v1 is reactivated."""
    # given
    settings.MODEL_REGISTRY_CACHE_SECONDS = 60
    with django_capture_on_commit_callbacks(execute=True):
        v1 = register_iris(version="1")
        v2 = services.model_version_register(
            model_name="iris",
            version="2",
            artifact=artifacts.constant_artifact(),
            feature_schema=IRIS_SCHEMA,
            class_labels=artifacts.IRIS_CLASSES,
            activate=False,
        )
    first = api_client.post("/api/v1/models/iris/predict", {"features": ROW}, format="json").json()
    assert (first["version"], first["prediction"]) == ("1", "setosa")
    # when
    with django_capture_on_commit_callbacks(execute=True):
        services.model_version_activate(model_version=v2)
    second = api_client.post("/api/v1/models/iris/predict", {"features": ROW}, format="json").json()
    with django_capture_on_commit_callbacks(execute=True):
        services.model_version_activate(model_version=v1)
    third = api_client.post("/api/v1/models/iris/predict", {"features": ROW}, format="json").json()
    # then
    assert (second["version"], second["prediction"], second["confidence"]) == ("2", "virginica", pytest.approx(0.5))
    assert (third["version"], third["prediction"]) == ("1", "setosa")


@pytest.mark.django_db
def test_an_edited_schema_applies_without_a_restart(api_client: Any, iris_version: ModelVersion) -> None:
    """Renaming features (same artifact) through the admin's save service changes the accepted names at once."""
    # given
    named = dict(zip(["a", "b", "c", "d"], ROW, strict=True))
    assert api_client.post("/predict", {"features": ROW}, format="json").status_code == 200
    iris_version.feature_schema = [{"name": name, "type": "numeric", "nullable": False} for name in "abcd"]
    # when
    services.model_version_save_checked(model_version=iris_version, data=None)
    response = api_client.post("/predict", {"features": named}, format="json")
    # then
    assert response.status_code == 200, response.json()
    assert response.json()["prediction"] == "setosa"


@pytest.mark.django_db
def test_registering_an_existing_version_again_is_a_validation_error(register_iris: Any, settings: Any) -> None:
    """A second `iris` v1 is refused with a ValidationError (not a database error); the first one and its file stay,
    and no second file is written."""
    # given
    first = register_iris(version="1")
    files_before = sorted(path for path in Path(settings.MEDIA_ROOT).rglob("*") if path.is_file())
    # when
    with pytest.raises(ValidationError) as caught:
        register_iris(version="1")
    # then
    assert "already exists" in str(caught.value)
    assert list(ModelVersion.objects.all()) == [first]
    assert sorted(path for path in Path(settings.MEDIA_ROOT).rglob("*") if path.is_file()) == files_before


@pytest.mark.django_db
def test_saving_a_new_active_version_deactivates_the_others(register_iris: Any) -> None:
    """model_version_save_checked (the admin's save) stores a new active version and leaves it the only active one."""
    # given
    v1 = register_iris(version="1")
    v2 = ModelVersion(
        model=v1.model,
        version="2",
        feature_schema=IRIS_SCHEMA,
        class_labels=artifacts.IRIS_CLASSES,
        is_active=True,
    )
    v2.artifact.save("v2.skops", ContentFile(artifacts.constant_artifact()), save=False)
    # when
    services.model_version_save_checked(model_version=v2, data=artifacts.constant_artifact())
    # then
    assert list(ModelVersion.objects.filter(is_active=True)) == [v2]
    assert v2.memory_bytes > 0 and len(v2.artifact_sha256) == 64


@pytest.mark.django_db
def test_tree_models_load_only_while_their_types_are_trusted(settings: Any) -> None:
    """A RandomForest (sklearn.tree._tree.Tree inside) registers with the default MODEL_TRUSTED_TYPES and is refused,
    naming the type, when the operator trusts nothing beyond skops' defaults."""
    # given
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 4))
    y = np.where(x[:, 0] > 0, "yes", "no")
    buffer = io.BytesIO()
    skops.io.dump(RandomForestClassifier(n_estimators=3, random_state=0).fit(x, y), buffer)
    # when
    version = services.model_version_register(
        model_name="forest",
        version="1",
        artifact=buffer.getvalue(),
        feature_schema=IRIS_SCHEMA,
        class_labels=["no", "yes"],
    )
    # then
    assert version.is_active
    settings.MODEL_TRUSTED_TYPES = []
    with pytest.raises(ValidationError, match=r"sklearn\.tree\._tree\.Tree"):
        services.model_version_register(
            model_name="forest",
            version="2",
            artifact=buffer.getvalue(),
            feature_schema=IRIS_SCHEMA,
            class_labels=["no", "yes"],
        )


def _log_row(version: ModelVersion) -> tuple[Any, ...]:
    """One prediction-log row in services._LOG_COLUMNS order."""
    return (uuid.uuid4(), version.pk, np.zeros(4).tobytes(), 0, 0.9, np.array([0.9, 0.05, 0.05]).tobytes(), 1.0)


@pytest.mark.django_db
def test_a_logged_row_reads_back_as_written_and_is_counted_as_a_database_query(iris_version: ModelVersion) -> None:
    """The prediction-log INSERT (server-side binding on PostgreSQL) stores every column as given and counts in the
    django_db_* series as a statement through Django's cursor does."""
    # given
    row = _log_row(iris_version)
    labels = {"alias": "default", "vendor": connection.vendor}
    executed = REGISTRY.get_sample_value("django_db_execute_total", labels) or 0.0
    timed = REGISTRY.get_sample_value("django_db_query_duration_seconds_count", labels) or 0.0
    # when
    services._prediction_rows_insert([row])
    counted = (
        REGISTRY.get_sample_value("django_db_execute_total", labels),
        REGISTRY.get_sample_value("django_db_query_duration_seconds_count", labels),
    )
    # then
    assert counted == (executed + 1, timed + 1)
    stored = Prediction.objects.get(pk=row[0])
    assert (stored.model_version_id, stored.predicted_index, stored.confidence, stored.latency_ms) == (
        iris_version.pk,
        0,
        0.9,
        1.0,
    )
    assert bytes(stored.features) == row[2] and bytes(stored.probabilities) == row[5]


@pytest.mark.django_db
def test_a_failed_log_insert_raises_djangos_error_and_counts_the_drivers_type(iris_version: ModelVersion) -> None:
    """An error of the INSERT is Django's (IntegrityError here, OperationalError for an outage: the 503 mapping reads
    Django's classes), and django_db_errors_total counts it under the driver's type, as django-prometheus does."""
    # given: a row already logged
    row = _log_row(iris_version)
    services._prediction_rows_insert([row])
    error_type = "UniqueViolation" if connection.vendor == "postgresql" else "IntegrityError"
    labels = {"alias": "default", "vendor": connection.vendor, "type": error_type}
    before = REGISTRY.get_sample_value("django_db_errors_total", labels) or 0.0
    # when: the same id again
    with pytest.raises(IntegrityError), transaction.atomic():
        services._prediction_rows_insert([row])
    # then
    assert Prediction.objects.filter(pk=row[0]).count() == 1
    assert REGISTRY.get_sample_value("django_db_errors_total", labels) == before + 1


@pytest.mark.django_db
def test_a_batch_scores_and_logs_each_job_and_refuses_only_the_job_scored_as_nan(iris_version: ModelVersion) -> None:
    """Three coalesced jobs, the middle one a row the model scores as NaN: that job gets a 422 and logs nothing; the
    other two get their own probabilities and ids, and their logged rows hold their own features, the argmax class
    and its probability."""
    import time

    from predictions.coalescing import ScoringJob

    # given
    loaded = services.model_load(model_version=iris_version)
    inputs = [np.array([[5.1, 3.5, 1.4, 0.2]]), np.array([[np.nan, 3.0, 4.0, 1.0]]), np.array([[6.7, 3.0, 5.2, 2.3]])]
    jobs = []
    for matrix in inputs:
        job = ScoringJob(model_input=matrix, log_matrix=matrix, started=time.perf_counter())
        job.model, job.version_id, job.metric_labels = loaded, iris_version.pk, ("iris", "1")
        jobs.append(job)
    before = Prediction.objects.count()
    # when
    services._scoring_batch_process(jobs)
    # then
    assert jobs[1].error is not None and jobs[1].error.status == 422 and jobs[1].ids is None
    assert Prediction.objects.count() - before == 2
    for job, matrix in ((jobs[0], inputs[0]), (jobs[2], inputs[2])):
        assert job.error is None and job.probabilities is not None and job.ids is not None
        np.testing.assert_allclose(job.probabilities, loaded.predict_proba(matrix))
        (stored,) = Prediction.objects.filter(id__in=job.ids)
        assert list(stored.feature_values().values()) == pytest.approx(matrix[0].tolist())
        assert stored.predicted_index == int(job.probabilities[0].argmax())
        assert stored.confidence == pytest.approx(float(job.probabilities[0].max()))


@pytest.mark.django_db(transaction=True)
def test_concurrent_registrations_that_make_two_models_default_do_not_deadlock(
    register_iris: Callable[..., ModelVersion],
) -> None:
    """New versions of two models registered at once, each with make_default: each registration locked its own
    model's row and then every model's row in key order (model_set_default), and on PostgreSQL the two deadlocked
    (OperationalError "deadlock detected"). A registration that makes its model the default now locks every model's
    row first: both are stored, one after the other, and one model is the default."""
    from functools import partial

    from tests.predictions.together import together_at_first_write

    if connection.vendor != "postgresql":
        pytest.skip("SQLite runs write transactions one at a time (transaction_mode IMMEDIATE): there is no race")
    # given
    register_iris(name="first", version="1", default=False)
    register_iris(name="second", version="1", default=False)
    # when
    versions, errors = together_at_first_write(
        [partial(register_iris, name=name, version="2", default=True) for name in ("first", "second")]
    )
    # then
    assert errors == []
    assert all(version is not None and version.is_active for version in versions)
    assert MLModel.objects.filter(is_default=True).count() == 1


@pytest.mark.django_db
def test_models_warm_loads_the_active_versions_default_first_up_to_the_cache_size(
    register_iris: Any, settings: Any
) -> None:
    """A web worker's start loads every enabled model's active version (the default model's first), at most
    MODEL_CACHE_SIZE of them; a version whose artifact cannot be read is skipped and the others still load."""
    from predictions.inference import model_cache

    # given: the default model, two more models, one of them with its artifact file gone
    other = register_iris(name="other", version="3", default=False)
    default = register_iris(name="main", version="1", default=True)
    broken = register_iris(name="broken", version="2", default=False)
    broken.artifact.storage.delete(broken.artifact.name)
    # when
    loaded = services.models_warm()
    # then
    assert [version.pk for version in loaded] == [default.pk, other.pk]
    assert len(model_cache.loaded_models()) == 2
    # and with room for one model, only the default model's
    model_cache.clear()
    settings.MODEL_CACHE_SIZE = 1
    assert [version.pk for version in services.models_warm()] == [default.pk]
    assert len(model_cache.loaded_models()) == 1


@pytest.mark.django_db
def test_models_warm_gives_an_unreadable_versions_place_in_the_cache_to_the_next(
    register_iris: Any, settings: Any
) -> None:
    """A version whose artifact cannot be read takes no place among the MODEL_CACHE_SIZE loaded at start."""
    # given: room for two, and the unreadable version ordered before the last readable one
    settings.MODEL_CACHE_SIZE = 2
    default = register_iris(name="main", version="1", default=True)
    broken = register_iris(name="broken", version="2", default=False)
    broken.artifact.storage.delete(broken.artifact.name)
    other = register_iris(name="other", version="3", default=False)
    # when
    loaded = services.models_warm()
    # then
    assert [version.pk for version in loaded] == [default.pk, other.pk]
