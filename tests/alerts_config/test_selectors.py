"""Threshold resolution for pages: per model and kind, with the precedence the alert rules and the drift engine use."""

from __future__ import annotations

import pytest

from alerts_config.models import Threshold
from alerts_config.selectors import feature_drift_thresholds_resolve, model_thresholds_resolve
from predictions.models import MLModel


@pytest.mark.django_db
def test_model_thresholds_follow_the_rules_precedence() -> None:
    """A model's own row beats the global one; a disabled row does not count; a kind without a row has no value;
    feature drift resolves exactly as the drift engine resolves it."""
    # given
    iris, other = MLModel.objects.create(name="iris"), MLModel.objects.create(name="other")
    Threshold.objects.filter(kind=Threshold.Kind.LOW_CONFIDENCE).update(enabled=False)
    Threshold.objects.create(kind=Threshold.Kind.LATENCY_P95, model=iris, value=0.2)
    Threshold.objects.create(kind=Threshold.Kind.ACCURACY_BELOW, model=other, value=0.9)
    Threshold.objects.create(kind=Threshold.Kind.FEATURE_DRIFT, model=iris, value=0.3)
    Threshold.objects.create(kind=Threshold.Kind.FEATURE_DRIFT, feature_name="petal_length", value=0.05)
    Threshold.objects.create(kind=Threshold.Kind.FEATURE_DRIFT, model=other, feature_name="petal_length", value=0.07)
    # when
    resolved = model_thresholds_resolve(model_ids=[iris.pk, other.pk])
    # then
    assert resolved[iris.pk].by_kind["latency_p95"] == 0.2
    assert resolved[other.pk].by_kind["latency_p95"] == 0.5  # the seeded global row
    assert "low_confidence" not in resolved[iris.pk].by_kind
    assert resolved[iris.pk].by_kind["accuracy_below"] == 0.8  # the seeded global row (0008_seed_remaining_kinds)
    assert resolved[other.pk].by_kind["accuracy_below"] == 0.9
    features = ["sepal_length", "petal_length"]
    for model in (iris, other):
        engine = feature_drift_thresholds_resolve(model=model, feature_names=features)
        assert {name: resolved[model.pk].feature_drift(name) for name in features} == engine
    assert resolved[iris.pk].feature_drift("petal_length") == 0.05
    assert resolved[other.pk].feature_drift("petal_length") == 0.07
    assert resolved[iris.pk].feature_drift("sepal_length") == 0.3


@pytest.mark.django_db
def test_the_data_quality_defaults_are_seeded_and_resolved_per_model() -> None:
    """Migration 0006's global defaults (10%, 5%, 5%) judge every model; a per-model row wins, a per-feature row
    does not change the model-wide value the dashboard draws."""
    # given
    import importlib

    from django.apps import apps

    importlib.import_module("alerts_config.migrations.0006_data_quality_threshold_kinds").seed(apps, None)
    iris, wine = MLModel.objects.create(name="iris"), MLModel.objects.create(name="wine")
    Threshold.objects.create(kind=Threshold.Kind.FEATURE_MISSING_RATE, model=wine, value=0.3)
    Threshold.objects.create(kind=Threshold.Kind.UNSEEN_CATEGORY_RATE, model=iris, feature_name="color", value=0.5)
    # when
    resolved = model_thresholds_resolve(model_ids=[iris.pk, wine.pk])
    # then
    kinds = ("feature_missing_rate", "feature_out_of_range_rate", "unseen_category_rate")
    assert [resolved[iris.pk].by_kind[k] for k in kinds] == [0.1, 0.05, 0.05]
    assert [resolved[wine.pk].by_kind[k] for k in kinds] == [0.3, 0.05, 0.05]
