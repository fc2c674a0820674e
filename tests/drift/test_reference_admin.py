"""Reference datasets in the admin: the upload form says what a file must hold and what an upload replaces; the
previous reference stays one click away (an action makes it active again); a reference's page shows per-feature
statistics, downloadable as CSV."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from demo.iris import IRIS_LABEL_COLUMN, iris_reference_csv
from drift.models import ReferenceDataset
from tests.conftest import iris_demo

ADD_URL = "/admin/drift/referencedataset/add/"


def test_the_upload_form_explains_the_file(admin_client: Client, iris_version: Any, settings: Any) -> None:
    """Formats, columns, minimum rows and what an upload replaces are on the form."""
    page = admin_client.get(ADD_URL).content.decode()
    for text in ("CSV", "Parquet", "header row", f"at least {settings.REFERENCE_MIN_ROWS} rows", "replaces"):
        assert text in page, text


def test_a_new_upload_says_what_it_replaces_and_the_old_one_comes_back_in_one_action(
    admin_client: Client, iris_reference: ReferenceDataset
) -> None:
    """Uploading a second reference names the one it replaced; the activate action on the old one brings it back."""
    # when
    upload = SimpleUploadedFile("second.csv", iris_reference_csv(iris_demo().x_train[:80]), content_type="text/csv")
    response = admin_client.post(
        ADD_URL,
        {"model_version": str(iris_reference.model_version_id), "name": "second", "file": upload, "_save": "Save"},
        follow=True,
    )
    # then
    assert response.status_code == 200
    page = response.content.decode()
    assert f"replaces {iris_reference.name}" in page
    second = ReferenceDataset.objects.get(name="second")
    iris_reference.refresh_from_db()
    assert second.is_active and not iris_reference.is_active
    # when
    response = admin_client.post(
        "/admin/drift/referencedataset/",
        {"action": "activate", "_selected_action": [str(iris_reference.pk)]},
        follow=True,
    )
    # then
    assert response.status_code == 200
    iris_reference.refresh_from_db()
    second.refresh_from_db()
    assert iris_reference.is_active and not second.is_active


def test_the_upload_form_takes_a_true_label_column_and_a_format(admin_client: Client, iris_version: Any) -> None:
    """The add form has inputs for the file format and the true-label column, and an upload naming the column stores
    a labelled reference (they were read-only fields, which Django drops from the form: a CSV with labels was refused
    as having an unknown column)."""
    # given
    page = admin_client.get(ADD_URL).content.decode()
    assert 'name="label_column"' in page and 'name="file_format"' in page
    demo = iris_demo()
    labels = demo.y_train  # class names
    upload = SimpleUploadedFile("labelled.csv", iris_reference_csv(demo.x_train, labels), content_type="text/csv")
    # when
    response = admin_client.post(
        ADD_URL,
        {
            "model_version": str(iris_version.pk),
            "name": "labelled",
            "file": upload,
            "file_format": "csv",
            "label_column": IRIS_LABEL_COLUMN,
            "_save": "Save",
        },
        follow=True,
    )
    # then
    assert response.status_code == 200
    reference = ReferenceDataset.objects.get(name="labelled")
    assert reference.label_column == IRIS_LABEL_COLUMN and reference.file_format == "csv"
    assert sum(reference.class_counts.values()) == len(demo.x_train) and len(reference.class_counts) == 3


def test_ticking_is_active_on_an_earlier_reference_switches_the_active_one(
    admin_client: Client, iris_reference: ReferenceDataset
) -> None:
    """The change form's "is active" box on an inactive reference makes it the active one and the other inactive
    (saving the flag alone broke the one-active-reference constraint: a 500)."""
    # given: a second upload made iris_reference inactive
    upload = SimpleUploadedFile("second.csv", iris_reference_csv(iris_demo().x_train[:80]), content_type="text/csv")
    admin_client.post(
        ADD_URL, {"model_version": str(iris_reference.model_version_id), "name": "second", "file": upload}
    )
    second = ReferenceDataset.objects.get(name="second")
    # when
    response = admin_client.post(
        f"/admin/drift/referencedataset/{iris_reference.pk}/change/",
        {"name": "first again", "is_active": "on", "initial-is_active": "False", "_save": "Save"},
        follow=True,
    )
    # then
    assert response.status_code == 200
    assert "it replaces second" in response.content.decode()
    iris_reference.refresh_from_db()
    second.refresh_from_db()
    assert iris_reference.is_active and iris_reference.name == "first again"
    assert not second.is_active
    # when: unticking (the page showed it ticked) leaves the version without an active reference
    response = admin_client.post(
        f"/admin/drift/referencedataset/{iris_reference.pk}/change/",
        {"name": "first again", "initial-is_active": "True", "_save": "Save"},
    )
    # then
    assert response.status_code == 302
    assert not ReferenceDataset.objects.filter(
        model_version_id=iris_reference.model_version_id, is_active=True
    ).exists()


def test_the_reference_page_shows_feature_statistics_and_a_csv(
    admin_client: Client, iris_reference: ReferenceDataset
) -> None:
    """Each feature's count, mean, std and quantiles are on the page; the CSV holds one row per feature."""
    # when
    page = admin_client.get(f"/admin/drift/referencedataset/{iris_reference.pk}/change/").content.decode()
    # then
    assert "petal_length" in page and "mean" in page
    csv_url = f"/admin/drift/referencedataset/{iris_reference.pk}/statistics.csv"
    assert f'href="{csv_url}"' in page
    response = admin_client.get(csv_url)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [row["feature"] for row in rows] == ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    expected = float(iris_demo().x_train[:, 2].mean())
    assert float(rows[2]["mean"]) == pytest.approx(expected)
    assert int(rows[2]["count"]) == len(iris_demo().x_train)


@pytest.mark.django_db(transaction=True)
def test_an_upload_is_parsed_and_scored_outside_any_transaction(
    admin_client: Client, iris_version: Any, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    """On SQLite a transaction holds the database's write lock from its start (transaction_mode IMMEDIATE), and
    Django's admin wrapped the whole upload POST in one: the file's parse (in the form and again in the service), its
    statistics and the model's scoring ran under the lock while every prediction waited. They now run with no
    transaction open; only the rows' writes take one."""
    # given: each heavy step records whether a transaction is open when it runs
    from django.db import connection

    from drift import services, statistics

    seen: list[tuple[str, bool]] = []

    def recorded(name: str, function: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            seen.append((name, connection.in_atomic_block))
            return function(*args, **kwargs)

        return call

    monkeypatch.setattr(services, "reference_table_read", recorded("parse", services.reference_table_read))
    monkeypatch.setattr(
        statistics, "numeric_reference_prepare", recorded("statistics", statistics.numeric_reference_prepare)
    )
    monkeypatch.setattr(services, "_cbpe_fit", recorded("after scoring", services._cbpe_fit))
    upload = SimpleUploadedFile("train.csv", iris_reference_csv(iris_demo().x_train), content_type="text/csv")
    # when
    response = admin_client.post(
        ADD_URL, {"model_version": str(iris_version.pk), "name": "train", "file": upload, "_save": "Save"}
    )
    # then
    assert response.status_code == 302, response.content[:2000]
    assert ReferenceDataset.objects.get(name="train").is_active
    assert seen == [("parse", False), ("parse", False), ("statistics", False), ("after scoring", False)]


@pytest.mark.django_db(transaction=True)
def test_an_upload_whose_rows_cannot_be_written_leaves_no_file_and_the_old_reference_active(
    iris_reference: ReferenceDataset, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    """The file is stored before the rows' transaction; when that transaction fails, the file is removed and the
    previous reference stays the active one."""
    # given
    from pathlib import Path

    from drift import services
    from drift.models import DriftSettings

    def refuse(**kwargs: Any) -> Any:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(DriftSettings.objects, "get_or_create", refuse)
    files_before = sorted(Path(settings.MEDIA_ROOT).rglob("*.csv"))
    # when
    with pytest.raises(RuntimeError, match="went away"):
        services.reference_dataset_upload(
            model_version=iris_reference.model_version,
            file=iris_reference_csv(iris_demo().x_train[:80]),
            filename="second.csv",
        )
    # then
    assert sorted(Path(settings.MEDIA_ROOT).rglob("*.csv")) == files_before
    assert list(ReferenceDataset.objects.values_list("name", "is_active")) == [(iris_reference.name, True)]


@pytest.mark.django_db(transaction=True)
def test_concurrent_uploads_of_one_version_all_succeed_and_one_stays_active(iris_version: Any) -> None:
    """Four uploads of one version's reference whose write transactions start together: each deactivated the active
    reference it saw and inserted its own, missing the others' uncommitted ones, and on PostgreSQL the
    one-active-reference constraint failed all but one (a 500 in the admin). The version's row is now locked first:
    every upload is stored and exactly one reference, the last committed, is active."""
    from functools import partial

    from django.db import connection

    from drift import services
    from tests.predictions.together import together_at_first_write

    if connection.vendor != "postgresql":
        pytest.skip("SQLite runs write transactions one at a time (transaction_mode IMMEDIATE): there is no race")
    # given
    uploads = 4
    data = iris_reference_csv(iris_demo().x_train)
    calls = [
        partial(services.reference_dataset_upload, model_version=iris_version, file=data, filename=f"r{index}.csv")
        for index in range(uploads)
    ]
    # when: every upload waits for the others at its first lock of the version's row, the start of its transaction
    _, errors = together_at_first_write(calls, tables=("predictions_modelversion",))
    # then
    assert errors == []
    assert ReferenceDataset.objects.filter(model_version=iris_version).count() == uploads
    assert ReferenceDataset.objects.filter(model_version=iris_version, is_active=True).count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_first_upload_and_an_activation_of_another_version_at_once_both_succeed(register_iris: Any) -> None:
    """A model's first reference upload (its version's row locked, then at commit the key-share lock on the model's
    row that checks the new drift settings' foreign key) and the activation of another version of the model (the
    model's row locked, then the active version's row updated) took their locks in opposite orders: on PostgreSQL
    they deadlocked and one failed (a 503 in the admin). The locks are now FOR NO KEY UPDATE, which leaves key-share
    locks free: both succeed."""
    from functools import partial

    from django.db import connection

    from drift import services
    from drift.models import DriftSettings
    from predictions.services import model_version_activate
    from tests.predictions.together import together_at_first_write

    if connection.vendor != "postgresql":
        pytest.skip("SQLite runs write transactions one at a time (transaction_mode IMMEDIATE): there is no race")
    # given: v1 and v2 of one model
    first = register_iris(version="1")
    second = register_iris(version="2", activate=False)
    data = iris_reference_csv(iris_demo().x_train)
    for attempt in range(3):  # the interleaving that deadlocked came in about half of the attempts
        # v1 active, no drift settings yet
        model_version_activate(model_version=first)
        DriftSettings.objects.filter(model=first.model).delete()
        upload = partial(services.reference_dataset_upload, model_version=first, file=data, filename=f"r{attempt}.csv")
        # when: each starts its writes with the other's first lock taken
        _, errors = together_at_first_write(
            [upload, partial(model_version_activate, model_version=second)],
            tables=("predictions_mlmodel", "predictions_modelversion"),
        )
        # then
        assert errors == []
        assert ReferenceDataset.objects.filter(model_version=first).count() == attempt + 1
        assert list(first.model.versions.filter(is_active=True).values_list("version", flat=True)) == ["2"]


def test_a_page_opened_before_another_activation_saves_its_name_without_undoing_it(
    admin_client: Client, iris_reference: ReferenceDataset
) -> None:
    """An admin opens the active reference's page; meanwhile another admin makes a second reference active; the first
    admin renames the reference and saves (the box still ticked, as the page showed it). The name changes and the
    second reference stays active: the save compared "is active" with the row at save time, saw it ticked anew, and
    made the first reference active again."""
    # given: the page as opened (the active reference, its box ticked)
    page = admin_client.get(f"/admin/drift/referencedataset/{iris_reference.pk}/change/").content.decode()
    assert 'name="initial-is_active"' in page
    upload = SimpleUploadedFile("second.csv", iris_reference_csv(iris_demo().x_train[:80]), content_type="text/csv")
    admin_client.post(
        ADD_URL, {"model_version": str(iris_reference.model_version_id), "name": "second", "file": upload}
    )
    second = ReferenceDataset.objects.get(name="second")
    assert second.is_active
    # when
    response = admin_client.post(
        f"/admin/drift/referencedataset/{iris_reference.pk}/change/",
        {"name": "renamed", "is_active": "on", "initial-is_active": "True", "_save": "Save"},
    )
    # then
    assert response.status_code == 302
    iris_reference.refresh_from_db()
    second.refresh_from_db()
    assert iris_reference.name == "renamed"
    assert second.is_active and not iris_reference.is_active


@pytest.mark.django_db(transaction=True)
def test_a_page_and_the_action_activating_one_reference_at_once_both_succeed(
    iris_reference: ReferenceDataset, admin_user: Any
) -> None:
    """Two admins make one inactive reference active at once, one by ticking its page's box, the other with the
    "make active" action. The page wrote the reference's row and then locked the version's, the action the other way
    round: on PostgreSQL they deadlocked and one got a 503. The page now locks the version's row first."""
    from functools import partial

    from django.db import connection

    from tests.predictions.together import together_at_first_write

    if connection.vendor != "postgresql":
        pytest.skip("SQLite runs write transactions one at a time (transaction_mode IMMEDIATE): there is no race")
    # given: a second upload made iris_reference inactive
    clients = [Client(), Client()]
    for client in clients:
        client.force_login(admin_user)
    upload = SimpleUploadedFile("second.csv", iris_reference_csv(iris_demo().x_train[:80]), content_type="text/csv")
    clients[0].post(ADD_URL, {"model_version": str(iris_reference.model_version_id), "name": "second", "file": upload})
    page = f"/admin/drift/referencedataset/{iris_reference.pk}/change/"
    # when
    responses, errors = together_at_first_write(
        [
            partial(clients[0].post, page, {"name": "first", "is_active": "on", "initial-is_active": "False"}),
            partial(
                clients[1].post,
                "/admin/drift/referencedataset/",
                {"action": "activate", "_selected_action": [str(iris_reference.pk)]},
            ),
        ],
        tables=("predictions_modelversion", "drift_referencedataset"),
    )
    # then
    assert errors == []
    assert [response.status_code if response else None for response in responses] == [302, 302]
    active = ReferenceDataset.objects.filter(model_version_id=iris_reference.model_version_id, is_active=True)
    assert list(active.values_list("pk", flat=True)) == [iris_reference.pk]
