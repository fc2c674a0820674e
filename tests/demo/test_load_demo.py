"""`manage.py load_demo`: registers the iris demo model once, however often it runs."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import call_command

from predictions.models import MLModel, ModelVersion


@pytest.mark.django_db
def test_load_demo_is_idempotent(api_client: Any) -> None:
    """Two runs leave one model `iris` with one version 1, active and default, that answers the seed's /predict."""
    # given
    first, second = io.StringIO(), io.StringIO()
    # when
    call_command("load_demo", stdout=first)
    call_command("load_demo", stdout=second)
    # then
    assert "Registered" in first.getvalue() and "already registered" in second.getvalue()
    assert list(MLModel.objects.values_list("name", "is_default")) == [("iris", True)]
    assert list(ModelVersion.objects.values_list("version", "is_active")) == [("1", True)]
    response = api_client.post("/predict", {"features": [5.1, 3.5, 1.4, 0.2]}, format="json")
    assert response.status_code == 200
    assert response.json()["prediction"] == "setosa"


@pytest.mark.django_db
def test_the_demo_reference_carries_its_labels_so_performance_is_estimated() -> None:
    """The uploaded training split names its species column: the CBPE state is fitted at upload."""
    from drift.models import ReferenceDataset

    # when
    call_command("load_demo", stdout=io.StringIO())
    # then
    reference = ReferenceDataset.objects.get(is_active=True)
    assert reference.label_column == "species" and reference.cbpe_reference is not None
