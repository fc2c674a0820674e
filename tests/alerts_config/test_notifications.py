"""Notifications really delivered: Debian's Alertmanager (0.25) sends a firing alert and then its resolution to an SMTP
server and to a Slack incoming-webhook endpoint that the test runs on loopback; the channels are created through the
services the admin uses, and the Slack URL reaches Alertmanager only through the secret file the publish wrote.

Alerts are driven by POSTing them to Alertmanager's v2 API the way Prometheus sends them: the labels and annotations
of the generated DataDriftDetected rule, with its `value` annotation filled in as Prometheus' template does (that
Prometheus fills it in is checked by promtool in test_rules_promtool.py; the whole chain from a drift run through
Prometheus to the history, in test_end_to_end.py).
"""

from __future__ import annotations

import email
import email.policy
import json
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from django.core.management import call_command

from alerts_config import services
from alerts_config.models import PublishState
from alerts_config.rendering import alert_rules_data
from alerts_config.selectors import threshold_specs_list
from tests.servers import free_port, required_tool, running, wait_for_http

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

PUBLIC_URL = "http://mlmonitor.example:8000"
MODEL = "credit risk+"  # a space and a plus: the dashboard link must escape both as one path segment
DASHBOARD = f"{PUBLIC_URL}/dashboard/models/credit%20risk%2B/"
SLACK_PATH = "/services/T000/B000/s3cr3t-token"


class Inbox:
    """Messages an SMTP server received."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """Keep the message; accept it."""
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 OK"


@pytest.fixture
def smtp_server() -> Iterator[tuple[int, Inbox]]:
    """An SMTP server (aiosmtpd) on a free loopback port."""
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, inbox
    finally:
        controller.stop()


@pytest.fixture
def slack_server() -> Iterator[tuple[int, list[tuple[str, dict[str, Any]]]]]:
    """An endpoint that accepts Slack's incoming-webhook payload (JSON POST, answers "ok") and records (path, body)."""
    received: list[tuple[str, dict[str, Any]]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            received.append((self.path, json.loads(body)))
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], received
    finally:
        server.shutdown()
        server.server_close()


def wait_for(check: Callable[[], Any], *, what: str, timeout: float = 30.0) -> Any:
    """Poll until `check` returns something truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def alerts_post(port: int, alerts: list[dict[str, Any]]) -> None:
    """POST alerts to Alertmanager's v2 API, as Prometheus does."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v2/alerts",
        data=json.dumps(alerts).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200


def drift_alert(*, value: str, ends_at: datetime | None, starts_at: datetime) -> dict[str, Any]:
    """DataDriftDetected for (MODEL, petal_length) with the generated rule's labels and annotations."""
    (rule,) = [
        r for r in alert_rules_data(threshold_specs_list())["groups"][0]["rules"] if r["alert"] == "DataDriftDetected"
    ]
    annotations = {key: text.replace('{{ printf "%.4g" $value }}', value) for key, text in rule["annotations"].items()}
    alert: dict[str, Any] = {
        "labels": {
            "alertname": "DataDriftDetected",
            "model_name": MODEL,
            "feature_name": "petal_length",
            **rule["labels"],
        },
        "annotations": annotations,
        "startsAt": starts_at.isoformat(),
        "generatorURL": "http://127.0.0.1:9090/graph?g0.expr=ml_feature_drift_score",
    }
    if ends_at is not None:
        alert["endsAt"] = ends_at.isoformat()
    return alert


def body_text(message: EmailMessage, subtype: str) -> str:
    """The text/<subtype> part of an email."""
    part = message.get_body(preferencelist=(subtype,))
    assert part is not None, f"no text/{subtype} part"
    return part.get_content()


def test_email_and_slack_receive_the_firing_alert_and_its_resolution(
    settings: Any,
    tmp_path: Path,
    smtp_server: tuple[int, Inbox],
    slack_server: tuple[int, list[tuple[str, dict[str, Any]]]],
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    """A Slack channel and an email channel: each gets the firing alert and then the resolved one, with model,
    feature, value, threshold and a link to the model's dashboard page; Slack's payload names the channel; the Slack
    URL (with its token) is only in the secret file, from which Alertmanager reads it."""
    # given: the generated config (no channels yet) and Alertmanager started on it
    smtp_port, inbox = smtp_server
    slack_port, slack_posts = slack_server
    alertmanager = required_tool("prometheus-alertmanager")
    port = free_port()
    settings.ALERTMANAGER_URL = f"http://127.0.0.1:{port}"
    settings.ALERT_SMTP_SMARTHOST = f"127.0.0.1:{smtp_port}"
    settings.ALERT_SMTP_FROM = "mlmonitor@example.org"
    settings.ALERT_SMTP_REQUIRE_TLS = False
    settings.ALERT_GROUP_WAIT = settings.ALERT_GROUP_INTERVAL = "1s"
    settings.MLMONITOR_PUBLIC_URL = PUBLIC_URL
    settings.ALERT_WEBHOOK_URL = f"http://127.0.0.1:{slack_port}/history"  # the app's own receiver: not under test
    call_command("publish_alerting", "--no-reload")
    command = [
        alertmanager,
        f"--config.file={settings.ALERTMANAGER_CONFIG_PATH}",
        f"--storage.path={tmp_path / 'am'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
    ]
    with running(command, name="alertmanager", log_path=tmp_path / "am.log") as server:
        wait_for_http(port, "/-/ready", server=server)
        # when: the operator adds the two channels (each save publishes and reloads Alertmanager)
        with django_capture_on_commit_callbacks(execute=True):
            services.notification_channel_create(
                name="ml-slack",
                kind="slack",
                slack_webhook_url=f"http://127.0.0.1:{slack_port}{SLACK_PATH}",
                slack_channel="#ml-alerts",
            )
        with django_capture_on_commit_callbacks(execute=True):
            services.notification_channel_create(name="oncall-mail", kind="email", email_to="oncall@example.org")
        state = PublishState.objects.get()  # (no Prometheus here: its reload fails; Alertmanager's must take)
        assert "Alertmanager reloaded and runs the new config" in state.notes, state.notes
        assert "Alertmanager" not in state.last_error, state.last_error
        config = Path(settings.ALERTMANAGER_CONFIG_PATH).read_text()
        assert "s3cr3t-token" not in config and "api_url_file" in config
        started = datetime.now(UTC) - timedelta(seconds=5)
        alerts_post(port, [drift_alert(value="0.4321", ends_at=None, starts_at=started)])
        firing_slack = wait_for(lambda: [b for p, b in slack_posts if p == SLACK_PATH], what="the Slack message")[0]
        firing_mail = wait_for(lambda: list(inbox.messages), what="the email")[0]
        alerts_post(port, [drift_alert(value="0.4321", ends_at=datetime.now(UTC), starts_at=started)])
        resolved_slack = wait_for(
            lambda: [b for p, b in slack_posts if p == SLACK_PATH][1:], what="the resolved Slack message"
        )[0]
        resolved_mail = wait_for(lambda: inbox.messages[1:], what="the resolved email")[0]

    # then: Slack got the channel, a title naming alert, model and feature, and the details with the dashboard link
    for payload, status in ((firing_slack, "FIRING"), (resolved_slack, "RESOLVED")):
        assert payload["channel"] == "#ml-alerts"
        (attachment,) = payload["attachments"]
        assert attachment["title"] == f"[{status}] DataDriftDetected · model {MODEL} · feature petal_length"
        text = attachment["text"]
        assert text.startswith(f"{status}: Data drift detected\n"), text
        for line in (
            f"model: {MODEL}",
            "feature: petal_length",
            "value: 0.4321",
            "threshold: 0.15",
            "severity: warning",
        ):
            assert f"\n{line}\n" in text, (line, text)
        assert f"\ndashboard: {DASHBOARD}\n" in text, text
        assert "source: http://127.0.0.1:9090/graph?g0.expr=ml_feature_drift_score" in text
    assert ", resolved " in resolved_slack["attachments"][0]["text"]
    # then: the emails, to the channel's address, with the same in text and HTML
    for message, status in ((firing_mail, "FIRING"), (resolved_mail, "RESOLVED")):
        assert message["To"] == "oncall@example.org" and message["From"] == "mlmonitor@example.org"
        assert message["Subject"] == f"[{status}] DataDriftDetected · model {MODEL} · feature petal_length"
        plain, html = body_text(message, "plain"), body_text(message, "html")
        for needle in (f"{status}: Data drift detected", f"model: {MODEL}", "value: 0.4321", f"dashboard: {DASHBOARD}"):
            assert needle in plain, (needle, plain)
        assert f'<a href="{DASHBOARD}">Open the dashboard</a>' in html, html
        assert "<td>value</td><td>0.4321</td>" in html and "credit risk&#43;" in html
