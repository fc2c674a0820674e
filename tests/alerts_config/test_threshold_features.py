"""A feature-drift threshold names a feature the model has: the admin offers the models' features, and a misspelt
name is refused (by the form and by the model's own check, so the service refuses it too) before anything is
saved or published."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from alerts_config import services
from alerts_config.models import Threshold

from .test_thresholds_admin import ADD_URL, form


@pytest.mark.django_db
def test_the_admin_offers_the_models_features(admin_client: Client, iris_version: Any) -> None:
    """The add form's feature field is a list of the registered models' features (and "every feature")."""
    page = admin_client.get(ADD_URL).content.decode()
    select = page.split('name="feature_name"', 1)[1].split("</select>", 1)[0]
    for name in ("sepal_length", "sepal_width", "petal_length", "petal_width"):
        assert f'value="{name}"' in select
    assert 'value=""' in select


@pytest.mark.django_db
def test_a_misspelt_feature_is_refused_in_the_admin(admin_client: Client, iris_version: Any) -> None:
    """petal_lenght for iris: the form says the feature is unknown and lists the model's; nothing is stored."""
    # when
    response = admin_client.post(
        ADD_URL, form(kind="feature_drift", model=str(iris_version.model_id), feature_name="petal_lenght", value="0.2")
    )
    # then
    assert response.status_code == 200
    assert "petal_lenght" in response.content.decode() and "has no feature" in response.content.decode()
    assert not Threshold.objects.filter(feature_name="petal_lenght").exists()


@pytest.mark.django_db
def test_the_service_refuses_unknown_features(iris_version: Any) -> None:
    """Through the service: unknown for the named model, or unknown to every model when none is named."""
    with pytest.raises(ValidationError, match="has no feature"):
        services.threshold_create(
            kind="feature_drift", model=iris_version.model, feature_name="petal_lenght", value=0.2
        )
    with pytest.raises(ValidationError, match="No registered model has a feature"):
        services.threshold_create(kind="feature_drift", model=None, feature_name="nope", value=0.2)
    assert not Threshold.objects.filter(kind="feature_drift").exclude(feature_name="").exists()


@pytest.mark.django_db
def test_a_known_feature_is_accepted(iris_version: Any, settings: Any, tmp_path: Any) -> None:
    """petal_length for iris is stored."""
    settings.ALERT_RULES_DIR = tmp_path / "rules"
    settings.ALERTMANAGER_CONFIG_PATH = tmp_path / "alertmanager.yml"
    threshold = services.threshold_create(
        kind="feature_drift", model=iris_version.model, feature_name="petal_length", value=0.2
    )
    assert threshold.pk is not None
