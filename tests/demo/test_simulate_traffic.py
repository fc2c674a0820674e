"""simulate_traffic: sampled traffic against a running server, shifted after a delay, with labels posted back."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from rest_framework.authtoken.models import Token

from demo.iris import iris_reference_csv
from drift.services import reference_dataset_upload
from predictions.models import Prediction
from tests.conftest import iris_demo


@pytest.mark.django_db(transaction=True)
def test_traffic_drifts_after_the_delay_and_labels_arrive(
    live_server: Any, register_iris: Any, django_user_model: Any
) -> None:
    """Rows sampled from the reference go out at the given rate; after --drift-after the named features shift by
    about --shift reference standard deviations; a share gets labels; the command stops by itself."""
    # given
    version = register_iris()
    reference_dataset_upload(model_version=version, file=iris_reference_csv(iris_demo().x_train), filename="r.csv")
    token = Token.objects.create(user=django_user_model.objects.create_user(username="sim", password="x-unused"))
    # when
    call_command(
        "simulate_traffic",
        model="iris",
        rate=40,
        duration=3,
        drift_after=1.5,
        drift_features="petal_length",
        shift=3.0,
        label_share=0.5,
        url=live_server.url,
        token=token.key,
        seed=1,
    )
    # then
    rows = sorted(Prediction.objects.filter(model_version=version), key=lambda p: p.id)
    assert len(rows) == 120
    petal = np.asarray([p.feature_values()["petal_length"] for p in rows])
    sepal = np.asarray([p.feature_values()["sepal_length"] for p in rows])
    std = iris_demo().x_train[:, 2].std()
    assert petal[70:].mean() - petal[:50].mean() == pytest.approx(3.0 * std, abs=1.2 * std)
    assert abs(sepal[70:].mean() - sepal[:50].mean()) < 0.5
    labelled = sum(1 for p in rows if p.label_index is not None)
    assert 30 <= labelled <= 90


@pytest.mark.django_db
def test_unknown_features_and_missing_reference_are_refused(register_iris: Any) -> None:
    """A feature not in the schema, or a model without reference data, stops the command with a message."""
    version = register_iris()
    with pytest.raises(CommandError, match="reference"):
        call_command("simulate_traffic", model="iris", duration=1)
    reference_dataset_upload(model_version=version, file=iris_reference_csv(iris_demo().x_train), filename="r.csv")
    with pytest.raises(CommandError, match="Unknown features: nope"):
        call_command("simulate_traffic", model="iris", duration=1, drift_features="nope")
