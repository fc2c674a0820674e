"""Thresholds in the admin: out-of-range values are refused with a clear message; a good save goes through the
service and the operator sees how the publish went."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.test import Client

from alerts_config import services
from alerts_config.models import Threshold
from alerts_config.services import RULES_FILENAME

from .conftest import ReloadRecorder, needs_promtool, seed_threshold

ADD_URL = "/admin/alerts_config/threshold/add/"


@pytest.fixture(autouse=True)
def _no_seeded_f1_threshold(db: None) -> None:
    """These tests add an all-models F1 threshold through the admin: the seeded one (0008_seed_remaining_kinds) of
    the same scope is removed first."""
    Threshold.objects.filter(kind="f1_below", model=None, feature_name="").delete()


def form(**fields: Any) -> dict[str, Any]:
    """An admin add-form body for a threshold."""
    data = {
        "kind": "error_rate",
        "model": "",
        "feature_name": "",
        "value": "0.1",
        "for_duration": "5m",
        "severity": "warning",
        "summary": "",
        "description": "",
        "enabled": "on",
    }
    data.update(fields)
    return data


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"kind": "error_rate", "value": "1.5"}, "must lie in 0..1, not 1.5"),
        ({"kind": "feature_drift", "value": "-0.1"}, "must lie in 0..1, not -0.1"),
        ({"kind": "accuracy_below", "value": "2"}, "must lie in 0..1"),
        ({"kind": "latency_p95", "value": "0"}, "must be greater than 0, not 0.0"),
        ({"kind": "drift_stale", "value": "-60"}, "must be greater than 0"),
        ({"for_duration": "5 minutes"}, "is not a Prometheus duration"),
        ({"for_duration": ""}, "This field is required"),
        (
            {"kind": "latency_p95", "value": "0.5", "feature_name": "x"},
            "Only feature-drift and data-quality thresholds name a feature",
        ),
        ({"kind": "feature_missing_rate", "value": "1.5"}, "must lie in 0..1"),
        ({"value": "nan"}, "Enter a number"),
    ],
)
def test_the_admin_refuses_out_of_range_values_with_a_clear_message(
    admin_client: Client, fields: dict[str, Any], message: str
) -> None:
    """Rates and drift scores in 0..1, latencies and ages > 0, durations in Prometheus syntax."""
    # given
    before = Threshold.objects.count()
    # when
    response = admin_client.post(ADD_URL, form(**fields))
    # then
    assert response.status_code == 200  # the form again, with the error
    assert message in response.content.decode().replace("&#x27;", "'")
    assert Threshold.objects.count() == before


@pytest.mark.django_db
def test_a_duplicate_scope_is_refused_not_a_500(admin_client: Client) -> None:
    """One threshold per kind, model and feature (the seed already holds the global error rate)."""
    response = admin_client.post(ADD_URL, form(kind="error_rate", value="0.2"))
    assert response.status_code == 200
    assert "already exists" in response.content.decode()


@pytest.mark.django_db
@needs_promtool
def test_the_admin_refuses_a_threshold_whose_rule_promtool_rejects(admin_client: Client) -> None:
    """A broken template in the description is shown as a form error; nothing is stored."""
    response = admin_client.post(ADD_URL, form(kind="f1_below", value="0.5", description="{{ $value | nosuchfunc }}"))
    assert response.status_code == 200
    assert "promtool check rules refused the file" in response.content.decode()
    assert not Threshold.objects.filter(kind="f1_below").exists()


@pytest.mark.django_db
def test_services_refuse_what_the_admin_refuses() -> None:
    """The same checks guard every other caller (shell, commands)."""
    with pytest.raises(ValidationError):
        services.threshold_create(kind="prediction_drift", value=3.0)
    with pytest.raises(ValidationError):
        services.threshold_create(kind="service_down", value=0, model=None, feature_name="petal_length")
    threshold = seed_threshold("latency_p95")
    with pytest.raises(ValidationError):
        services.threshold_update(threshold=threshold, value=-1)
    assert threshold.value == 0.5  # the instance is back to what is stored


@pytest.mark.django_db(transaction=True)
@needs_promtool
def test_a_good_save_publishes_and_tells_the_operator(settings: Any, reloads: ReloadRecorder) -> None:
    """Saved through the service after form validation; the message of the same save reports the publish."""
    # given
    get_user_model().objects.create_superuser("boss", "boss@example.org", "pw-for-tests")
    client = Client()
    client.login(username="boss", password="pw-for-tests")
    # when
    response = client.post(ADD_URL, form(kind="f1_below", value="0.5", for_duration="15m"), follow=True)
    # then
    assert response.status_code == 200
    texts = [str(m) for m in response.context["messages"]]
    assert any(t.startswith("Alerting config published:") for t in texts), texts
    rules = (Path(settings.ALERT_RULES_DIR) / RULES_FILENAME).read_text()
    assert "(ml_model_f1_score) < 0.5" in rules


@pytest.mark.django_db(transaction=True)
@needs_promtool
def test_a_failed_publish_is_shown_to_the_operator(settings: Any, tmp_path: Path) -> None:
    """When publishing fails after the save, the admin says the previous files stay in place, and why."""
    # given
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    settings.ALERT_RULES_DIR = blocker / "rules"
    get_user_model().objects.create_superuser("boss", "boss@example.org", "pw-for-tests")
    client = Client()
    client.login(username="boss", password="pw-for-tests")
    # when
    response = client.post(ADD_URL, form(kind="f1_below", value="0.5"), follow=True)
    # then
    texts = [str(m) for m in response.context["messages"]]
    assert any("NOT live" in t and "retried every minute" in t for t in texts), texts
    state_page = client.get("/admin/alerts_config/publishstate/")
    assert state_page.status_code == 200


@pytest.mark.django_db(transaction=True)
@needs_promtool
def test_a_save_whose_reload_is_refused_shows_an_error(settings: Any, reloads: ReloadRecorder) -> None:
    """Prometheus without --web.enable-lifecycle refuses the reload (403): the save's message is an error naming the
    refusal, not a green "published", and the publish state is not ok."""
    # given
    reloads.status = 403
    get_user_model().objects.create_superuser("boss", "boss@example.org", "pw-for-tests")
    client = Client()
    client.login(username="boss", password="pw-for-tests")
    # when
    response = client.post(ADD_URL, form(kind="f1_below", value="0.5"), follow=True)
    # then
    messages = [(m.level_tag, str(m)) for m in response.context["messages"]]
    errors = [text for level, text in messages if level == "error"]
    assert errors and "Prometheus reload failed: HTTP 403" in errors[0], messages
    assert not any(text.startswith("Alerting config published") for _, text in messages), messages
    assert not services.PublishState.objects.get().ok


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    [
        "/admin/alerts_config/threshold/",
        "/admin/alerts_config/threshold/add/",
        "/admin/alerts_config/notificationchannel/",
        "/admin/alerts_config/notificationchannel/add/",
        "/admin/alerts_config/publishstate/",
        "/admin/alerts_config/publishstate/1/change/",
        "/admin/alerts_config/alertevent/",
    ],
)
def test_the_alerting_admin_pages_render(admin_client: Client, path: str) -> None:
    """Every alerting admin page answers 200 for a superuser."""
    assert admin_client.get(path).status_code == 200


@pytest.mark.django_db
def test_publish_now_from_the_admin_reports_the_result(admin_client: Client, settings: Any) -> None:
    """The admin action publishes and says how it went (here: reloads fail, nobody listens: an error)."""
    response = admin_client.post(
        "/admin/alerts_config/publishstate/", {"action": "publish_now", "_selected_action": ["1"]}, follow=True
    )
    texts = [str(m) for m in response.context["messages"]]
    assert any(t.startswith("Publish failed:") and "reload failed" in t for t in texts), texts
    assert [m.level_tag for m in response.context["messages"]] == ["error"]
    assert (Path(settings.ALERT_RULES_DIR) / RULES_FILENAME).exists()


@pytest.mark.django_db
@needs_promtool
def test_a_threshold_saved_in_the_admin_runs_promtool_once(
    admin_client: Client,
    tool_runs: Callable[[str], Callable[[], list[str]]],
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    """The form's check, the service's check and the publish after commit all judge the same rendered rules: promtool
    runs once for the save, and the published file holds the new rule."""
    # given
    promtool_runs = tool_runs("promtool")
    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(ADD_URL, form(kind="f1_below", value="0.5"))
    # then
    assert response.status_code == 302
    assert "(ml_model_f1_score) < 0.5" in (Path(settings.ALERT_RULES_DIR) / RULES_FILENAME).read_text()
    assert promtool_runs() == ["check rules"]


@pytest.mark.django_db
@needs_promtool
def test_a_refused_threshold_runs_promtool_once_and_shows_its_error(
    admin_client: Client, tool_runs: Callable[[str], Callable[[], list[str]]]
) -> None:
    """A threshold whose rule promtool refuses is checked once and the form shows promtool's error."""
    # given
    promtool_runs = tool_runs("promtool")
    # when
    response = admin_client.post(ADD_URL, form(kind="f1_below", value="0.5", description="{{ $value | nosuchfunc }}"))
    # then
    assert response.status_code == 200
    assert "promtool check rules refused the file" in response.content.decode()
    assert promtool_runs() == ["check rules"]


@pytest.mark.django_db
@needs_promtool
@pytest.mark.parametrize("kind", ["feature_missing_rate", "feature_out_of_range_rate", "unseen_category_rate"])
def test_a_data_quality_threshold_may_name_a_feature(admin_client: Client, kind: str, iris_version: Any) -> None:
    """The data-quality kinds are scoped per feature as feature drift is (a feature some model has; a misspelt one
    is refused as for feature drift); the rule names the feature."""
    # when
    refused = admin_client.post(ADD_URL, form(kind=kind, value="0.3", feature_name="sepal_widht"))
    response = admin_client.post(ADD_URL, form(kind=kind, value="0.3", feature_name="sepal_width"))
    # then
    assert refused.status_code == 200 and "No registered model has a feature" in refused.content.decode()
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Threshold.objects.filter(kind=kind, feature_name="sepal_width", value=0.3).exists()
    assert not Threshold.objects.filter(feature_name="sepal_widht").exists()
