"""The generated rules against the real promtool: `check rules` in several database states, the committed
`promtool test rules` files, the drift engine's precedence, and user-given names with quotes, backslashes, braces."""

from __future__ import annotations

import importlib
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from alerts_config import services
from alerts_config.models import Threshold
from alerts_config.rendering import alert_rules_render, promql_number
from alerts_config.selectors import feature_drift_thresholds_resolve, threshold_specs_list
from predictions.models import MLModel

from .conftest import RULES_TESTS_DIR, needs_promtool, promtool_check, promtool_test, seed_threshold

pytestmark = [pytest.mark.django_db, needs_promtool]

WEIRD = 'we"ird\\model{x}'


def rules_from_db() -> str:
    """The rules text the publish service would write for the current database state."""
    return alert_rules_render(threshold_specs_list())


def state_seed(make: Callable[[str], MLModel]) -> None:
    """The migrated database: the seed's five thresholds."""


def state_all_kinds(make: Callable[[str], MLModel]) -> None:
    """The seed plus every other kind, a per-model and a per-feature override (see rules-tests/README.md)."""
    iris, big = make("iris"), make("big")
    # The seeded rows of the other kinds (0008_seed_remaining_kinds), set to the values the committed test uses; the
    # seeded all-models F1 row goes: there only iris has an F1 threshold.
    services.threshold_update(threshold=seed_threshold("accuracy_below"), value=0.8, for_duration="5m")
    services.threshold_delete(thresholds=[seed_threshold("f1_below")])
    services.threshold_create(kind="f1_below", value=0.7, for_duration="5m", model=iris)
    services.threshold_update(threshold=seed_threshold("drift_stale"), value=600, for_duration="0s")
    services.threshold_update(threshold=seed_threshold("service_down"), value=0, for_duration="1m", severity="critical")
    services.threshold_create(kind="latency_p95", value=2.0, for_duration="5m", model=big)
    # Stored directly: `iris` here is a bare model name without versions, so the service would refuse a feature it
    # does not know (alerts_config.selectors.threshold_feature_error).
    Threshold.objects.create(
        kind="feature_drift", value=0.5, for_duration="10m", model=iris, feature_name="petal_width"
    )


def state_data_quality(make: Callable[[str], MLModel]) -> None:
    """The data-quality defaults of migration 0006, a per-feature and a per-model override (rules-tests/README.md)."""
    from django.apps import apps

    importlib.import_module("alerts_config.migrations.0006_data_quality_threshold_kinds").seed(apps, None)
    iris, big = make("iris"), make("big")
    services.threshold_create(kind="feature_missing_rate", value=0.5, for_duration="10m", model=iris, feature_name="a")
    services.threshold_create(kind="feature_out_of_range_rate", value=0.2, for_duration="10m", model=big)


def state_performance_estimation(make: Callable[[str], MLModel]) -> None:
    """The migrated defaults of the estimated-performance and stale-label kinds, plus EstimatedAccuracyLow below 0.9
    for 5m for model iris (see rules-tests/README.md)."""
    iris = make("iris")
    services.threshold_create(kind="estimated_accuracy_below", value=0.9, for_duration="5m", model=iris)


def state_weird_names(make: Callable[[str], MLModel]) -> None:
    """Names with quotes, backslashes, braces, regex characters and a newline, at every scope."""
    weird, dotted = make(WEIRD), make("iris.*|x")
    services.threshold_create(kind="feature_drift", value=0.5, model=weird)
    # Stored directly: no registered model has these features (the service refuses such names); what is under test
    # is how the rules file quotes whatever a schema may call a feature.
    Threshold.objects.create(kind="feature_drift", value=0.6, feature_name='a"b\\c}')
    Threshold.objects.create(kind="feature_drift", value=0.7, model=dotted, feature_name="line\nbreak")
    services.threshold_create(kind="error_rate", value=0.2, model=weird)
    services.threshold_create(kind="prediction_drift", value=0.3, model=dotted)


def state_all_disabled(make: Callable[[str], MLModel]) -> None:
    """Every threshold switched off: an empty rule group."""
    Threshold.objects.update(enabled=False)


def state_templated_texts(make: Callable[[str], MLModel]) -> None:
    """Operators' summaries and descriptions with Prometheus templates."""
    services.threshold_update(
        threshold=seed_threshold("feature_drift"),
        summary="Drift of {{ $labels.feature_name }} in {{ $labels.model_name }}",
        description='score {{ $value | printf "%.3f" }} above {{ 0.15 }}: see the drift API',
    )


@pytest.mark.parametrize(
    "build",
    [
        state_seed,
        state_all_kinds,
        state_data_quality,
        state_performance_estimation,
        state_weird_names,
        state_all_disabled,
        state_templated_texts,
    ],
)
def test_every_generated_rules_file_passes_promtool_check_rules(
    build: Callable[[Callable[[str], MLModel]], None], model_factory: Callable[[str], MLModel], tmp_path: Path
) -> None:
    """Whatever the thresholds, the generated file passes `promtool check rules --lint-fatal`."""
    # given
    build(model_factory)
    path = tmp_path / "mlmonitor.rules.yml"
    # when
    path.write_text(rules_from_db())
    checked = promtool_check(path)
    # then
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout


@pytest.mark.parametrize(
    ("test_file", "build"),
    [
        ("default-rules.test.yml", state_seed),
        ("all-kinds.test.yml", state_all_kinds),
        ("data-quality.test.yml", state_data_quality),
        ("performance-estimation.test.yml", state_performance_estimation),
    ],
)
def test_committed_rules_tests_pass_against_the_generated_rules(
    test_file: str,
    build: Callable[[Callable[[str], MLModel]], None],
    model_factory: Callable[[str], MLModel],
    tmp_path: Path,
) -> None:
    """monitoring/rules-tests: each alert fires on its series after its `for` and stays silent on the other."""
    # given
    build(model_factory)
    shutil.copy(RULES_TESTS_DIR / test_file, tmp_path / "rules.test.yml")
    # when
    ran = promtool_test(
        rules_text=rules_from_db(), test_data=(tmp_path / "rules.test.yml").read_text(), directory=tmp_path
    )
    # then
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "SUCCESS" in ran.stdout


def test_feature_drift_alerts_follow_the_drift_engines_resolved_thresholds(
    model_factory: Callable[[str], MLModel], tmp_path: Path
) -> None:
    """For every (model, feature) the alert fires just above the threshold the drift engine resolves for it
    (feature_drift_thresholds_resolve) and not just below it: same rows, same precedence, exactly one rule."""
    # given: thresholds at every scope, at least 0.05 apart, one disabled
    iris, wine, weird = model_factory("iris"), model_factory("wine"), model_factory(WEIRD)
    services.threshold_update(threshold=seed_threshold("feature_drift"), for_duration="0s")
    for fields in (
        {"model": iris, "value": 0.3},
        {"feature_name": "b", "value": 0.4},
        {"model": iris, "feature_name": "c", "value": 0.5},
        {"model": wine, "feature_name": "b", "value": 0.6},
        {"model": wine, "feature_name": "c", "value": 0.25},  # a pair the global rule must leave out (`unless`)
        {"model": weird, "value": 0.7},
        {"model": weird, "feature_name": 'a"{1}', "value": 0.8},
        {"model": wine, "feature_name": "a", "value": 0.9, "enabled": False},
    ):
        services.threshold_create(kind="feature_drift", for_duration="0s", **fields)
    features = ["a", "b", "c", 'a"{1}']
    rows = {row.value: row for row in Threshold.objects.filter(kind="feature_drift")}
    series: list[dict[str, str]] = []
    expected: list[dict[str, Any]] = []
    for model in (iris, wine, weird):
        resolved = feature_drift_thresholds_resolve(model=model, feature_names=features)
        for feature, threshold in resolved.items():
            labels = f"{{model_name={_q(model.name)},feature_name={_q(feature)}}}"
            below, above = round(threshold - 0.02, 4), round(threshold + 0.02, 4)
            series.append({"series": "ml_feature_drift_score" + labels, "values": f"{below}x9 {above}x10"})
            series.append({"series": "ml_feature_drifted" + labels, "values": "1x20"})
            row = rows[threshold]
            expected.append(
                {
                    "exp_labels": {"severity": "warning", "model_name": model.name, "feature_name": feature},
                    "exp_annotations": {
                        "summary": row.summary or "Data drift detected",
                        "description": row.description or f"Feature drift score is above {promql_number(threshold)}",
                        "threshold": promql_number(threshold),
                        "value": f"{above:.4g}",  # the score at evaluation, as the notifications show it
                    },
                }
            )
    assert len({e["exp_annotations"]["threshold"] for e in expected}) == 8  # every scope is exercised
    test_data = {
        "rule_files": ["mlmonitor.rules.yml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": series,
                "alert_rule_test": [
                    {"eval_time": "5m", "alertname": "DataDriftDetected", "exp_alerts": []},
                    {"eval_time": "15m", "alertname": "DataDriftDetected", "exp_alerts": expected},
                ],
            }
        ],
    }
    # when
    ran = promtool_test(rules_text=rules_from_db(), test_data=test_data, directory=tmp_path)
    # then
    assert ran.returncode == 0, ran.stdout + ran.stderr


def _q(value: str) -> str:
    """A label value in promtool's series notation."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def test_names_with_quotes_backslashes_and_braces_match_exactly_their_own_series(
    model_factory: Callable[[str], MLModel], tmp_path: Path
) -> None:
    """A threshold for `we"ird\\model{x}` judges that model only, not `we"ird\\model{y}`; `iris.*` is not a regex."""
    # given
    weird, dotted = model_factory(WEIRD), model_factory("iris.*")
    services.threshold_update(threshold=seed_threshold("feature_drift"), for_duration="0s")
    services.threshold_create(kind="feature_drift", model=weird, value=0.5, for_duration="0s")
    services.threshold_create(kind="feature_drift", model=dotted, value=0.5, for_duration="0s")
    names = [WEIRD, 'we"ird\\model{y}', "iris.*", "iris"]
    series = []
    for name in names:
        series.append(
            {"series": f'ml_feature_drift_score{{model_name={_q(name)},feature_name="f"}}', "values": "0.3x5"}
        )
        series.append({"series": f'ml_feature_drifted{{model_name={_q(name)},feature_name="f"}}', "values": "1x5"})
    fired = [
        {
            "exp_labels": {"severity": "warning", "model_name": name, "feature_name": "f"},
            "exp_annotations": {
                "summary": "Data drift detected",
                "description": "Feature drift score is elevated",
                "threshold": "0.15",
                "value": "0.3",
            },
        }
        for name in ('we"ird\\model{y}', "iris")
    ]
    test_data = {
        "rule_files": ["mlmonitor.rules.yml"],
        "tests": [
            {
                "interval": "1m",
                "input_series": series,
                "alert_rule_test": [{"eval_time": "2m", "alertname": "DataDriftDetected", "exp_alerts": fired}],
            }
        ],
    }
    # when
    ran = promtool_test(rules_text=rules_from_db(), test_data=test_data, directory=tmp_path)
    # then
    assert ran.returncode == 0, ran.stdout + ran.stderr


def test_a_threshold_whose_rule_promtool_refuses_is_not_saved() -> None:
    """A broken template in a description never reaches the database (or the rules file)."""
    # given
    threshold = seed_threshold("feature_drift")
    # when
    with pytest.raises(ValidationError, match="promtool check rules refused"):
        services.threshold_update(threshold=threshold, description="{{ $value | nosuchfunction }}")
    # then
    threshold.refresh_from_db()
    assert threshold.description == "Feature drift score is elevated"
