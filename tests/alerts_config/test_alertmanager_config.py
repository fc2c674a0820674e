"""alertmanager.yml from the notification channels against the real amtool: valid, routed as configured, secrets
kept in files; and the channel checks the admin relies on."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from alerts_config import services
from alerts_config.models import NotificationChannel
from alerts_config.rendering import alertmanager_config_render
from alerts_config.selectors import alertmanager_options, channel_specs_list
from predictions.models import MLModel

from .conftest import needs_amtool

pytestmark = pytest.mark.django_db

WEIRD = 'we"ird\\model{x},y'


@pytest.fixture
def every_channel(settings: Any, model_factory: Callable[[str], MLModel], tmp_path: Path) -> None:
    """One channel of each kind, one scoped to a model with an awkward name, SMTP configured."""
    settings.ALERT_SMTP_SMARTHOST = "smtp.example.org:587"
    settings.ALERT_SMTP_FROM = "mlmonitor@example.org"
    settings.ALERT_SMTP_USERNAME = "mlmonitor"
    settings.ALERT_SMTP_PASSWORD_FILE = str(tmp_path / "smtp_password")
    services.notification_channel_create(
        name="ops-slack", kind="slack", slack_webhook_url="https://hooks.slack.com/services/T0/B0/s3cr3t"
    )
    services.notification_channel_create(
        name="oncall-mail", kind="email", min_severity="critical", email_to="oncall@example.org, lead@example.org"
    )
    services.notification_channel_create(
        name="weird-hook",
        kind="webhook",
        min_severity="info",
        model=model_factory(WEIRD),
        webhook_url="https://bot:hunter2@hooks.example.org/alerts",
    )
    services.notification_channel_create(
        name="token-hook", kind="webhook", webhook_url="https://hooks.example.org/in", webhook_bearer_token="t0ken"
    )


def rendered_config(tmp_path: Path) -> Path:
    """alertmanager.yml as the publish service renders it, in a temporary file."""
    path = tmp_path / "alertmanager.yml"
    path.write_text(alertmanager_config_render(channel_specs_list(), options=alertmanager_options()))
    return path


@needs_amtool
def test_every_kind_of_channel_gives_a_config_amtool_accepts(every_channel: None, tmp_path: Path) -> None:
    """Slack, email, basic-auth and bearer webhooks, model routing: `amtool check-config` passes; no secret inline."""
    # given
    path = rendered_config(tmp_path)
    # when
    checked = subprocess.run(["amtool", "check-config", str(path)], capture_output=True, text=True, check=False)
    # then
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "5 receivers" in checked.stdout
    text = path.read_text()
    for secret in ("s3cr3t", "hunter2", "t0ken"):
        assert secret not in text
    assert "api_url_file:" in text and "password_file:" in text and "credentials_file:" in text


@needs_amtool
@pytest.mark.parametrize(
    ("labels", "receivers"),
    [
        (["severity=warning", "model_name=iris"], "mlmonitor-webhook,ops-slack,token-hook"),
        (["severity=critical", "model_name=iris"], "mlmonitor-webhook,oncall-mail,ops-slack,token-hook"),
        (["severity=info", 'model_name="we\\"ird\\\\model{x},y"'], "mlmonitor-webhook,weird-hook"),
        (["severity=info", "model_name=other"], "mlmonitor-webhook"),
    ],
)
def test_alerts_reach_the_history_webhook_and_each_matching_channel(
    every_channel: None, tmp_path: Path, labels: list[str], receivers: str
) -> None:
    """Routing by minimum severity and by model (matched exactly, awkward name included), per amtool."""
    # given
    path = rendered_config(tmp_path)
    # when
    routed = subprocess.run(
        ["amtool", "config", "routes", "test", f"--config.file={path}", f"--verify.receivers={receivers}", *labels],
        capture_output=True,
        text=True,
        check=False,
    )
    # then
    assert routed.returncode == 0, routed.stdout + routed.stderr


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"kind": "slack"}, "slack_webhook_url", "needs its incoming webhook URL"),
        ({"kind": "slack", "slack_webhook_url": "ftp://x"}, "slack_webhook_url", "http(s)"),
        ({"kind": "email", "email_to": "oncall@example.org"}, "kind", "ALERT_SMTP_SMARTHOST"),
        ({"kind": "email", "email_to": "not-an-address"}, "email_to", "not an email address"),
        (
            {"kind": "webhook", "webhook_url": "https://a:b@x.org", "webhook_bearer_token": "t"},
            "webhook_bearer_token",
            "not both",
        ),
        ({"kind": "webhook", "webhook_url": "https://x.org", "name": "mlmonitor-webhook"}, "name", "own receiver"),
        ({"kind": "webhook", "webhook_url": "https://x.org", "name": "has space"}, "name", "letters, digits"),
    ],
)
def test_incomplete_channels_are_refused_with_a_message(fields: dict[str, Any], field: str, message: str) -> None:
    """Each kind needs its fields; the reserved and malformed receiver names are refused."""
    # given
    fields = {"name": "ch", **fields}
    # when
    with pytest.raises(ValidationError) as refused:
        services.notification_channel_create(**fields)
    # then
    assert message in " ".join(refused.value.message_dict[field])
    assert not NotificationChannel.objects.exists()


@pytest.mark.django_db
@needs_amtool
def test_a_channel_saved_in_the_admin_runs_amtool_once(
    admin_client: Any, tool_runs: Callable[[str], Callable[[], list[str]]], django_capture_on_commit_callbacks: Any
) -> None:
    """The form's check, the service's check and the publish after commit judge the same alertmanager.yml: amtool
    runs once for the save, and the published config routes to the new channel."""
    # given
    amtool_runs = tool_runs("amtool")
    form = {
        "name": "ops-hook",
        "kind": "webhook",
        "enabled": "on",
        "min_severity": "warning",
        "model": "",
        "send_resolved": "on",
        "slack_webhook_url": "",
        "slack_channel": "",
        "email_to": "",
        "webhook_url": "https://hooks.example.org/alerts",
        "webhook_bearer_token": "",
    }
    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post("/admin/alerts_config/notificationchannel/add/", form)
    # then
    assert response.status_code == 302
    published = Path(services.settings.ALERTMANAGER_CONFIG_PATH).read_text()
    assert "ops-hook" in published and "https://hooks.example.org/alerts" in published
    assert [run.split()[0] for run in amtool_runs()] == ["check-config"]
