"""The registry admin: uploads are checked with skops' trusted-type check and against schema and classes before
anything is saved; a saved upload answers predictions; the activate action keeps one active version."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from demo.iris import IRIS_SCHEMA
from predictions import services
from predictions.models import MLModel, ModelVersion
from tests.predictions import artifacts
from tests.predictions.together import together_at_first_write

ADD_URL = "/admin/predictions/modelversion/add/"
ROW = [5.1, 3.5, 1.4, 0.2]  # a setosa


def add_form(*, model: MLModel, data: bytes, schema: Any, labels: Any, version: str = "2") -> dict[str, Any]:
    """The admin add form's fields; schema and labels are sent as typed in the JSON text areas."""
    return {
        "model": str(model.pk),
        "version": version,
        "artifact": SimpleUploadedFile("model.skops", data, content_type="application/octet-stream"),
        "framework": "sklearn",
        "feature_schema": schema if isinstance(schema, str) else json.dumps(schema),
        "class_labels": labels if isinstance(labels, str) else json.dumps(labels),
        "is_active": "on",
        "_save": "Save",
    }


def stored_files(media_root: Any) -> list[Path]:
    """Files written under MEDIA_ROOT."""
    root = Path(media_root)
    return [path for path in root.rglob("*") if path.is_file()] if root.exists() else []


@pytest.mark.django_db
def test_a_valid_upload_is_saved_active_and_answers(
    admin_client: Client,
    api_client: Any,
    register_iris: Callable[..., ModelVersion],
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    """Uploading the constant classifier as v2 (active) saves it with hash and size, deactivates v1, and serves it
    at once, though this process had v1's lookup cached."""
    # given
    settings.MODEL_REGISTRY_CACHE_SECONDS = 60
    v1 = register_iris(version="1")
    assert api_client.post("/predict", {"features": ROW}, format="json").json()["version"] == "1"
    form = add_form(
        model=v1.model, data=artifacts.constant_artifact(), schema=IRIS_SCHEMA, labels=artifacts.IRIS_CLASSES
    )
    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(ADD_URL, form)
    # then
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else response
    v2 = ModelVersion.objects.get(model=v1.model, version="2")
    assert v2.is_active and len(v2.artifact_sha256) == 64 and v2.memory_bytes > 0
    assert list(ModelVersion.objects.filter(is_active=True)) == [v2]
    answer = api_client.post("/api/v1/models/iris/predict", {"features": ROW}, format="json").json()
    assert (answer["version"], answer["prediction"]) == ("2", "virginica")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("build", "schema", "labels", "field", "fragment"),
    [
        *artifacts.REFUSED,
        pytest.param(
            artifacts.iris_artifact,
            '[{"name": "a", "type": "numeric"',
            artifacts.IRIS_CLASSES,
            "feature_schema",
            "Enter a valid JSON",
            id="schema-malformed-json",
        ),
        pytest.param(
            artifacts.iris_artifact, IRIS_SCHEMA, "[setosa]", "class_labels", "Enter a valid JSON", id="labels-not-json"
        ),
    ],
)
def test_a_refused_upload_shows_why_and_saves_nothing(
    admin_client: Client,
    build: Callable[[], bytes],
    schema: Any,
    labels: Any,
    field: str,
    fragment: str,
    settings: Any,
) -> None:
    """The add form is shown again with an error on the field at fault; no version, model or file is stored."""
    # given
    model = MLModel.objects.create(name="iris")
    # when
    response = admin_client.post(ADD_URL, add_form(model=model, data=build(), schema=schema, labels=labels))
    # then
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert field in errors, errors
    assert fragment in " ".join(errors[field])
    assert fragment in response.content.decode()
    assert ModelVersion.objects.count() == 0
    assert list(MLModel.objects.values_list("name", flat=True)) == ["iris"]
    assert stored_files(settings.MEDIA_ROOT) == []


@pytest.mark.django_db
def test_the_activate_action_switches_the_active_version(
    admin_client: Client,
    api_client: Any,
    register_iris: Callable[..., ModelVersion],
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    """Activating v1 from the change list leaves v1 the only active version, and predictions use it at once."""
    # given
    settings.MODEL_REGISTRY_CACHE_SECONDS = 60
    v1 = register_iris(version="1")
    v2 = register_iris(version="2")
    assert api_client.post("/predict", {"features": ROW}, format="json").json()["version"] == "2"
    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/admin/predictions/modelversion/", {"action": "activate", "_selected_action": [str(v1.pk)]}
        )
    # then
    assert response.status_code == 302
    assert list(ModelVersion.objects.filter(is_active=True)) == [v1]
    v2.refresh_from_db()
    assert not v2.is_active
    assert api_client.post("/predict", {"features": ROW}, format="json").json()["version"] == "1"


@pytest.mark.django_db
def test_the_admin_needs_a_staff_login(client: Client, django_user_model: Any) -> None:
    """Anonymous users and non-staff users are sent to the login page."""
    # given
    django_user_model.objects.create_user(username="user", password="pw-12345")
    # when
    anonymous = client.get(ADD_URL)
    client.login(username="user", password="pw-12345")
    non_staff = client.get(ADD_URL)
    # then
    assert anonymous.status_code == 302 and "/admin/login/" in anonymous["Location"]
    assert non_staff.status_code == 302 and "/admin/login/" in non_staff["Location"]


@pytest.mark.django_db
def test_an_admin_upload_loads_the_artifact_once(
    admin_client: Client, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    """The form's check (which shows errors on the form) and the save service's check judge the same artifact,
    schema and labels: the artifact is deserialized once for the save."""
    # given
    import skops.io

    real_loads = skops.io.loads
    loads: list[int] = []

    def counted(data: bytes, *args: Any, **kwargs: Any) -> Any:
        loads.append(len(data))
        return real_loads(data, *args, **kwargs)

    monkeypatch.setattr(skops.io, "loads", counted)
    model = MLModel.objects.create(name="iris")
    form = add_form(model=model, data=artifacts.constant_artifact(), schema=IRIS_SCHEMA, labels=artifacts.IRIS_CLASSES)
    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(ADD_URL, form)
    # then
    assert response.status_code == 302
    version = ModelVersion.objects.get(model=model, version="2")
    assert version.is_active and version.memory_bytes > 0
    assert len(loads) == 1


@pytest.mark.django_db
def test_changing_the_schema_of_a_version_is_checked_against_its_artifact(
    admin_client: Client, register_iris: Callable[..., ModelVersion]
) -> None:
    """Editing only the feature schema re-checks the stored artifact: a schema with the wrong number of features is
    refused on the form and the stored version keeps its schema."""
    # given
    version = register_iris(version="1")
    url = f"/admin/predictions/modelversion/{version.pk}/change/"
    data = {
        "model": str(version.model.pk),
        "version": "1",
        "framework": "sklearn",
        "feature_schema": json.dumps(IRIS_SCHEMA[:3]),
        "class_labels": json.dumps(version.class_labels),
        "is_active": "on",
        "_save": "Save",
    }
    # when
    response = admin_client.post(url, data)
    # then
    assert response.status_code == 200
    assert "takes 4 features but the schema lists 3" in response.content.decode()
    version.refresh_from_db()
    assert len(version.feature_schema) == 4


@pytest.mark.django_db(transaction=True)
def test_an_artifact_is_loaded_and_checked_outside_any_transaction(
    admin_client: Client, register_iris: Callable[..., ModelVersion], monkeypatch: pytest.MonkeyPatch
) -> None:
    """On SQLite a transaction holds the write lock from its start, and Django's admin wrapped the whole upload POST
    in one: the artifact's load and check (seconds for a large model) ran under the lock while every prediction
    waited. The admin form, its save and model_version_register now check with no transaction open."""
    # given
    from django.db import connection

    from predictions import services

    seen: list[bool] = []
    check = services.artifact_check

    def recorded(**kwargs: Any) -> Any:
        seen.append(connection.in_atomic_block)
        return check(**kwargs)

    monkeypatch.setattr(services, "artifact_check", recorded)
    v1 = register_iris(version="1")
    form = add_form(
        model=v1.model, data=artifacts.constant_artifact(), schema=IRIS_SCHEMA, labels=artifacts.IRIS_CLASSES
    )
    # when
    response = admin_client.post(ADD_URL, form)
    # then
    assert response.status_code == 302, response.content[:2000]
    assert ModelVersion.objects.get(model=v1.model, version="2").is_active
    assert seen == [False, False, False]  # register_iris, the form's check, the save's (remembered) check


def test_a_version_page_opened_before_another_activation_saves_without_undoing_it(
    admin_client: Client, register_iris: Callable[..., ModelVersion]
) -> None:
    """An admin opens the active version's page; meanwhile another admin activates a second version; the first saves
    a rename with the box ticked, as the page showed it. The edit is saved and the second version stays
    active: the save saw the box ticked and made the first version active again."""
    # given
    first = register_iris(version="1")
    second = register_iris(version="2", activate=False)
    url = f"/admin/predictions/modelversion/{first.pk}/change/"
    assert 'name="initial-is_active"' in admin_client.get(url).content.decode()
    services.model_version_activate(model_version=second)
    data = {
        "model": str(first.model.pk),
        "version": "1-renamed",
        "framework": "sklearn",
        "feature_schema": json.dumps(IRIS_SCHEMA),
        "class_labels": json.dumps(first.class_labels),
        "is_active": "on",
        "initial-is_active": "True",
        "_save": "Save",
    }
    # when
    response = admin_client.post(url, data)
    # then
    assert response.status_code == 302
    first.refresh_from_db()
    assert first.version == "1-renamed"
    assert list(ModelVersion.objects.filter(is_active=True).values_list("version", flat=True)) == ["2"]
    # when: the second version's page, shown active, saved unticked
    data = {**data, "version": "2", "initial-is_active": "True"}
    del data["is_active"]
    response = admin_client.post(f"/admin/predictions/modelversion/{second.pk}/change/", data, follow=True)
    # then: no active version, and the page says what that means
    assert not ModelVersion.objects.filter(is_active=True).exists()
    assert "iris has no active version now: its predictions answer 409 until one is made active." in [
        str(m) for m in response.context["messages"]
    ]


@pytest.mark.django_db(transaction=True)
def test_concurrent_version_saves_of_one_model_neither_fail_nor_leave_two_active(
    register_iris: Callable[..., ModelVersion],
) -> None:
    """Versions of one model registered at once, active, whose write transactions start together: on PostgreSQL the
    one-active-version constraint failed all but one. The model's row is now locked first: each distinct version is
    stored and one is active; three saves of one version number store it once, and the others are refused with the
    validation error the admin shows on its form (not an IntegrityError, a 500)."""
    from functools import partial

    from django.core.exceptions import ValidationError
    from django.db import connection

    from tests.predictions.together import together_at_first_write

    if connection.vendor != "postgresql":
        pytest.skip("SQLite runs write transactions one at a time (transaction_mode IMMEDIATE): there is no race")
    # given
    v1 = register_iris(version="1")
    versions = ["2", "3", "4", "9", "9", "9"]
    saves = [
        partial(
            services.model_version_register,
            model_name="iris",
            version=version,
            artifact=artifacts.constant_artifact(),
            feature_schema=IRIS_SCHEMA,
            class_labels=artifacts.IRIS_CLASSES,
        )
        for version in versions
    ]
    # when: every save waits for the others at its first lock of the model's row, the start of its transaction
    _, errors = together_at_first_write(saves)
    # then
    assert len(errors) == 2 and all(isinstance(error, ValidationError) for error in errors), errors
    assert all("already exists" in str(error) for error in errors)
    stored = sorted(ModelVersion.objects.filter(model=v1.model).values_list("version", flat=True))
    assert stored == ["1", "2", "3", "4", "9"]
    assert ModelVersion.objects.filter(model=v1.model, is_active=True).count() == 1


@pytest.mark.django_db
def test_a_save_the_service_refuses_after_the_form_passed_shows_the_form_again(
    admin_client: Client, register_iris: Callable[..., ModelVersion], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The form validates outside any transaction, so a concurrent save can take the version number between the
    form's check and the service's: the service's refusal is shown on the form (200), not a 500."""
    from django.core.exceptions import ValidationError

    from predictions import services

    # given
    v1 = register_iris(version="1")

    def refuse(**kwargs: Any) -> ModelVersion:
        raise ValidationError({"version": ["Model version with this Model and Version already exists."]})

    monkeypatch.setattr(services, "model_version_save_checked", refuse)
    form = add_form(
        model=v1.model, data=artifacts.constant_artifact(), schema=IRIS_SCHEMA, labels=artifacts.IRIS_CLASSES
    )
    # when
    response = admin_client.post(ADD_URL, form)
    # then
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["version"] == ["Model version with this Model and Version already exists."]
    assert list(ModelVersion.objects.filter(model=v1.model).values_list("version", flat=True)) == ["1"]


def model_change_url(model: MLModel) -> str:
    return f"/admin/predictions/mlmodel/{model.pk}/change/"


def model_form(*, model: MLModel, is_default: bool, description: str = "") -> dict[str, Any]:
    """The model change form's fields (a model without versions: the versions inline sends an empty formset)."""
    form = {
        "name": model.name,
        "description": description,
        "is_enabled": "on",
        "versions-TOTAL_FORMS": "0",
        "versions-INITIAL_FORMS": "0",
        "versions-MIN_NUM_FORMS": "0",
        "versions-MAX_NUM_FORMS": "1000",
        "_save": "Save",
    }
    return {**form, "is_default": "on"} if is_default else form


@pytest.mark.django_db
def test_ticking_default_on_a_model_page_takes_the_default_from_the_other_model(admin_client: Client) -> None:
    """Ticking "is default" on a model's page while another model is the default makes this one the default (the
    other loses it), as the "make default" action does; the form refused it ("Constraint one_default_model is
    violated")."""
    # given
    MLModel.objects.create(name="first", is_default=True)
    second = MLModel.objects.create(name="second")
    # when
    response = admin_client.post(model_change_url(second), model_form(model=second, is_default=True))
    # then
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else response
    assert list(MLModel.objects.filter(is_default=True)) == [second]
    # when: a new model added as the default
    third = MLModel(name="third")
    response = admin_client.post("/admin/predictions/mlmodel/add/", model_form(model=third, is_default=True))
    # then
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else response
    assert list(MLModel.objects.filter(is_default=True).values_list("name", flat=True)) == ["third"]


def test_a_model_page_opened_before_another_admin_made_it_default_saves_without_undoing_that(
    admin_client: Client,
) -> None:
    """An admin opens a model's page (not the default); meanwhile another admin makes it the default; the first saves
    a description edit with the box unticked, as the page showed it. The description is saved and the model stays
    the default: the save compared the box with the row at save time and wrote "not default", leaving no default
    model (/predict answered 404). Unticking on a page that showed the box ticked still removes the default."""
    # given
    MLModel.objects.create(name="first", is_default=True)
    second = MLModel.objects.create(name="second")
    page = admin_client.get(model_change_url(second)).content.decode()
    assert 'name="initial-is_default"' in page
    services.model_set_default(model=second)
    # when
    form = {**model_form(model=second, is_default=False, description="edited"), "initial-is_default": "False"}
    response = admin_client.post(model_change_url(second), form)
    # then
    assert response.status_code == 302
    second.refresh_from_db()
    assert second.description == "edited" and second.is_default
    # when: the page showed the box ticked and the admin unticked it
    form = {**model_form(model=second, is_default=False, description="edited"), "initial-is_default": "True"}
    response = admin_client.post(model_change_url(second), form, follow=True)
    # then: no default, and the page says what that means
    assert not MLModel.objects.filter(is_default=True).exists()
    assert "No model is the default now: /predict and /drift answer 404 until one is." in [
        str(m) for m in response.context["messages"]
    ]


def test_the_flag_boxes_are_not_restored_by_the_browser(
    admin_client: Client, register_iris: Callable[..., ModelVersion]
) -> None:
    """The "is default" and "is active" boxes carry autocomplete="off": going Back to a page, Chromium refetched it
    but put the box back as the user had left it, beside the fresh hidden value, so a save undid another admin's
    change of the flag (a browser trial)."""
    from demo.iris import iris_reference_csv
    from drift.services import reference_dataset_upload
    from tests.conftest import iris_demo

    # given
    version = register_iris(version="1")
    data = iris_reference_csv(iris_demo().x_train)
    reference = reference_dataset_upload(model_version=version, file=data, filename="r.csv")
    pages = [
        ("is_default", f"/admin/predictions/mlmodel/{version.model.pk}/change/"),
        ("is_active", f"/admin/predictions/modelversion/{version.pk}/change/"),
        ("is_active", f"/admin/drift/referencedataset/{reference.pk}/change/"),
    ]
    # when
    boxes = [
        re.search(rf'<input type="checkbox" name="{name}"[^>]*>', admin_client.get(url).content.decode())
        for name, url in pages
    ]
    # then
    for (_, url), box in zip(pages, boxes, strict=True):
        assert box is not None and 'autocomplete="off"' in box.group(0), url


def test_the_activate_action_with_two_versions_of_one_model_changes_nothing_and_says_why(
    admin_client: Client, register_iris: Callable[..., ModelVersion]
) -> None:
    """Two versions of one model selected for "make active": the action activated both in turn, left the last one
    active and said "Activated 2 version(s)"; it now refuses with a message and changes nothing."""
    # given
    first = register_iris(version="1")
    second = register_iris(version="2", activate=False)
    # when
    response = admin_client.post(
        "/admin/predictions/modelversion/",
        {"action": "activate", "_selected_action": [first.pk, second.pk]},
        follow=True,
    )
    # then
    assert [str(m) for m in response.context["messages"]] == [
        "Select one version per model: a model has one active version."
    ]
    assert list(ModelVersion.objects.filter(is_active=True).values_list("version", flat=True)) == ["1"]


def test_make_default_with_several_models_selected_changes_nothing_and_says_why(admin_client: Client) -> None:
    """The "make default" action on two selected models made the first one (in the list's order) the default and
    said nothing of the other; it now refuses with a message and leaves the default where it was."""
    # given
    first = MLModel.objects.create(name="first", is_default=True)
    second = MLModel.objects.create(name="second")
    third = MLModel.objects.create(name="third")
    # when
    response = admin_client.post(
        "/admin/predictions/mlmodel/",
        {"action": "make_default", "_selected_action": [second.pk, third.pk]},
        follow=True,
    )
    # then
    assert response.status_code == 200
    assert [str(m) for m in response.context["messages"]] == ["Select one model: there is only one default model."]
    assert list(MLModel.objects.filter(is_default=True)) == [first]
    # when: one selected
    response = admin_client.post(
        "/admin/predictions/mlmodel/", {"action": "make_default", "_selected_action": [third.pk]}, follow=True
    )
    # then
    assert list(MLModel.objects.filter(is_default=True)) == [third]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("race", ["two-pages", "page-and-action"])
def test_concurrent_default_changes_in_the_admin_do_not_deadlock(
    admin_client: Client, admin_user: Any, race: str
) -> None:
    """Two admins change the default model at once: both tick "is default" on two models' pages (no default yet), or
    one saves the default model's page while the other runs the "make default" action on another model. The page's
    save updated its row and then locked every model's row in key order, the action only the latter: on PostgreSQL
    the two transactions deadlocked and one admin got a 503. Every model's row is now locked before the page's
    update: both saves succeed, one after the other, and one model is the default."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("SQLite runs write transactions one at a time (transaction_mode IMMEDIATE): there is no race")
    # given
    other_client = Client()
    other_client.force_login(admin_user)
    first = MLModel.objects.create(name="first")
    second = MLModel.objects.create(name="second", is_default=race == "page-and-action")
    if race == "two-pages":
        requests = [
            (admin_client, model_change_url(first), model_form(model=first, is_default=True)),
            (other_client, model_change_url(second), model_form(model=second, is_default=True)),
        ]
    else:
        requests = [
            (admin_client, model_change_url(second), model_form(model=second, is_default=True, description="edited")),
            (other_client, "/admin/predictions/mlmodel/", {"action": "make_default", "_selected_action": [first.pk]}),
        ]
    # when
    responses, errors = together_at_first_write([partial(client.post, url, data) for client, url, data in requests])
    # then
    assert errors == []
    assert [response.status_code if response else None for response in responses] == [302, 302]
    assert MLModel.objects.filter(is_default=True).count() == 1
