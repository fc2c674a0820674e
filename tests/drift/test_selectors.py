"""Which models are due for drift, defined once (drift.selectors.drift_due_models): the schedule lists exactly the
models whose run can read its inputs, and a run of any other model says why it cannot be computed."""

from __future__ import annotations

from typing import Any

import pytest

from drift.models import DriftSettings, ReferenceDataset
from drift.selectors import drift_due_models, drift_inputs_get
from mlmonitor.errors import ApplicationError
from predictions.models import ModelVersion


def model_disabled(reference: ReferenceDataset) -> None:
    reference.model_version.model.is_enabled = False
    reference.model_version.model.save()


def drift_switched_off(reference: ReferenceDataset) -> None:
    DriftSettings.objects.filter(model=reference.model_version.model).update(enabled=False)


def no_active_version(reference: ReferenceDataset) -> None:
    ModelVersion.objects.filter(pk=reference.model_version.pk).update(is_active=False)


def no_reference(reference: ReferenceDataset) -> None:
    ReferenceDataset.objects.filter(pk=reference.pk).update(is_active=False)


def settings_never_saved(reference: ReferenceDataset) -> None:
    DriftSettings.objects.filter(model=reference.model_version.model).delete()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "code"),
    [
        (None, None),
        (settings_never_saved, None),
        (model_disabled, "model_disabled"),
        (drift_switched_off, "drift_disabled"),
        (no_active_version, "no_active_version"),
        (no_reference, "no_reference"),
    ],
    ids=["due", "default-settings", "model-disabled", "drift-switched-off", "no-active-version", "no-reference"],
)
def test_the_schedule_and_a_run_agree_on_which_models_are_due(
    iris_reference: Any, change: Any, code: str | None
) -> None:
    """A model is on the schedule exactly when a run can load its inputs; otherwise the run's 409 names the reason."""
    # given
    model = iris_reference.model_version.model
    if change is not None:
        change(iris_reference)
    # when
    due = list(drift_due_models())
    try:
        inputs = drift_inputs_get(model_id=model.pk)
        refused = None
    except ApplicationError as exc:
        refused = exc
    # then
    if code is None:
        assert due == [model] and refused is None
        assert inputs.version == iris_reference.model_version and inputs.reference == iris_reference
    else:
        assert due == [] and refused is not None
        assert (refused.code, refused.status) == (code, 409)


@pytest.mark.django_db
def test_an_unknown_model_is_a_404() -> None:
    """A run of a model id that does not exist is a 404, not a 409."""
    with pytest.raises(ApplicationError) as refused:
        drift_inputs_get(model_id=123456)
    assert refused.value.status == 404
