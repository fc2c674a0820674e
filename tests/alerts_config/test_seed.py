"""Every threshold kind alerts out of the box: the data migrations leave an enabled all-models default of each."""

from __future__ import annotations

import pytest

from alerts_config.models import Threshold


@pytest.mark.django_db
def test_every_kind_has_a_seeded_all_models_default() -> None:
    """After migrate, each Threshold.Kind has one enabled row with no model and no feature, valid for its kind."""
    for kind in Threshold.Kind:
        row = Threshold.objects.get(kind=kind, model=None, feature_name="")
        assert row.enabled
        row.full_clean()
    assert Threshold.objects.get(kind="drift_stale", model=None).value == 1800
    assert Threshold.objects.get(kind="service_down", model=None).severity == "critical"
