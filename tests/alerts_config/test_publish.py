"""Publishing: validate, swap in atomically, reload; an invalid result never replaces the last good file and the
error is kept for the operator; publishes run after commit and one at a time."""

from __future__ import annotations

import io
import os
import shutil
import stat
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.core.management import CommandError, call_command
from django.db import connection

from alerts_config import services
from alerts_config.models import PublishState
from alerts_config.services import RULES_FILENAME, alerting_publish

from .conftest import ReloadRecorder, needs_amtool, needs_promtool, seed_threshold

pytestmark = [pytest.mark.django_db, needs_promtool, needs_amtool]

BROKEN_RULES = "groups:\n- name: x\n  rules:\n  - alert: Broken\n    expr: ml_feature_drift_score >>> 1\n"


def files(settings: Any) -> tuple[Path, Path]:
    """The generated rules file and alertmanager.yml."""
    return Path(settings.ALERT_RULES_DIR) / RULES_FILENAME, Path(settings.ALERTMANAGER_CONFIG_PATH)


def leftovers(directory: Path) -> list[str]:
    """Temporary files a publish might have left behind."""
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_publish_writes_validated_files_and_reloads_both_servers(settings: Any, reloads: ReloadRecorder) -> None:
    """Rules and alertmanager.yml land in place (world-readable), the webhook token file is created (private),
    both servers get POST /-/reload, and the state says so."""
    # when
    result = alerting_publish()
    # then
    rules, config = files(settings)
    assert result.ok and result.rules_changed and result.alertmanager_changed, result.summary()
    assert "DataDriftDetected" in rules.read_text() and "mlmonitor-webhook" in config.read_text()
    assert stat.S_IMODE(rules.stat().st_mode) == 0o644
    token_file = Path(settings.ALERT_WEBHOOK_TOKEN_FILE)
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600 and len(token_file.read_text()) == 40
    assert sorted(reloads.calls) == ["/alertmanager/-/reload", "/prometheus/-/reload"]
    assert "validated with promtool check rules" in result.summary()
    state = PublishState.objects.get()
    assert state.ok and state.last_success_at is not None and state.rules_sha256 == result.rules_sha256
    assert leftovers(rules.parent) == [] and leftovers(config.parent) == []
    assert [p.name for p in rules.parent.glob("*.rules.yml")] == [RULES_FILENAME]


def test_publishing_again_changes_nothing_but_still_reloads(settings: Any, reloads: ReloadRecorder) -> None:
    """Idempotent: same database, same bytes; the reload still happens (a server may have missed the last one)."""
    alerting_publish()
    rules, _ = files(settings)
    before = rules.stat().st_mtime_ns
    result = alerting_publish()
    assert result.ok and not result.rules_changed and not result.alertmanager_changed
    assert rules.stat().st_mtime_ns == before and len(reloads.calls) == 4


def test_an_invalid_rules_file_never_replaces_the_last_good_one(
    settings: Any, reloads: ReloadRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """promtool refuses the new rules: the old file stays byte-identical, Prometheus is not reloaded, the error is
    recorded with its time; Alertmanager's valid config still goes out."""
    # given
    alerting_publish()
    rules, _ = files(settings)
    good = rules.read_bytes()
    reloads.calls.clear()
    monkeypatch.setattr(services, "alert_rules_render", lambda *a, **k: BROKEN_RULES)
    # when
    result = alerting_publish()
    # then
    assert not result.ok
    assert rules.read_bytes() == good
    assert reloads.calls == ["/alertmanager/-/reload"]
    state = PublishState.objects.get()
    assert not state.ok and "promtool check rules refused" in state.last_error and state.last_error_at is not None
    assert "previous file stays in place" in state.last_error
    assert leftovers(rules.parent) == []


def test_an_invalid_alertmanager_config_never_replaces_the_last_good_one(
    settings: Any, reloads: ReloadRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """amtool refuses the new config: the old alertmanager.yml stays byte-identical and the error is recorded."""
    # given
    alerting_publish()
    _, config = files(settings)
    good = config.read_bytes()
    monkeypatch.setattr(services, "alertmanager_config_render", lambda *a, **k: "route:\n  receiver: nobody\n")
    # when
    result = alerting_publish()
    # then
    assert not result.ok and config.read_bytes() == good
    assert "amtool check-config refused" in PublishState.objects.get().last_error


def test_missing_tools_are_reported_not_fatal(settings: Any, reloads: ReloadRecorder) -> None:
    """Without promtool and amtool the files are still written, and the result says they were not validated."""
    settings.PROMTOOL_PATH = "/nonexistent/promtool"
    settings.AMTOOL_PATH = ""
    result = alerting_publish()
    assert result.ok and files(settings)[0].exists()
    assert "promtool check rules not found (/nonexistent/promtool): not validated" in result.summary()
    assert "amtool check-config not found (unset): not validated" in result.summary()


@pytest.mark.parametrize("status", [403, 500])
def test_a_refused_reload_is_a_failed_publish(settings: Any, reloads: ReloadRecorder, status: int) -> None:
    """Prometheus refusing the reload (403: started without --web.enable-lifecycle; 500: bad config) leaves the files
    in place for its next start, but the publish is not ok: the state says why and the command exits non-zero."""
    # given
    reloads.status = status
    # when
    result = alerting_publish()
    # then
    assert result.valid and not result.ok and files(settings)[0].exists()
    assert any(f"Prometheus reload failed: HTTP {status}" in e for e in result.reload_errors)
    state = PublishState.objects.get()
    assert not state.ok and f"Prometheus reload failed: HTTP {status}" in state.last_error
    assert state.last_error_at is not None
    with pytest.raises(CommandError, match=f"Prometheus reload failed: HTTP {status}"):
        call_command("publish_alerting")


def test_nobody_listening_is_a_failed_publish(settings: Any) -> None:
    """No server at PROMETHEUS_URL / ALERTMANAGER_URL: both reload failures are recorded."""
    result = alerting_publish()
    assert not result.ok and len(result.reload_errors) == 2
    assert "Alertmanager reload failed" in PublishState.objects.get().last_error


def test_a_reload_that_does_not_take_is_a_failed_publish(
    settings: Any, reloads: ReloadRecorder, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    """A reload answered 200 while the server keeps running the old rules (single-file mount) is caught by reading
    the live rules back from /api/v1/rules."""
    # given: a first publish that took
    assert alerting_publish().ok
    reloads.applies = False
    # when: a threshold changes
    with django_capture_on_commit_callbacks(execute=True):
        services.threshold_update(threshold=seed_threshold("feature_drift"), value=0.3)
    # then
    state = PublishState.objects.get()
    assert not state.ok and "does not run the rules just written" in state.last_error


def test_a_reload_of_alertmanager_that_does_not_take_is_a_failed_publish(
    settings: Any, reloads: ReloadRecorder, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    """Alertmanager answering 200 to the reload but still routing to the old receivers is caught as well."""
    assert alerting_publish().ok
    reloads.applies = False
    with django_capture_on_commit_callbacks(execute=True):
        services.notification_channel_create(name="ops", kind="webhook", webhook_url="http://127.0.0.1:9/hook")
    state = PublishState.objects.get()
    assert not state.ok and "Alertmanager reloaded, but it does not run the config just written" in state.last_error


def test_the_retry_publishes_again_until_it_takes_and_then_rests(settings: Any, reloads: ReloadRecorder) -> None:
    """alerting_publish_retry republishes while the last publish is not live and does nothing once it is."""
    # given: a publish that failed to reload
    reloads.status = 403
    assert not alerting_publish().ok
    reloads.calls.clear()
    # when: Prometheus is back with reloads enabled
    reloads.status = 200
    retried = services.alerting_publish_retry()
    # then
    assert retried is not None and retried.ok, retried.summary() if retried else None
    assert PublishState.objects.get().ok
    assert sorted(reloads.calls) == ["/alertmanager/-/reload", "/prometheus/-/reload"]
    # when: nothing is pending any more
    reloads.calls.clear()
    assert services.alerting_publish_retry() is None
    assert reloads.calls == []


def test_no_reload_writes_the_files_and_leaves_the_servers_alone(settings: Any, reloads: ReloadRecorder) -> None:
    """`publish_alerting --no-reload` (before the servers start) writes valid files, calls nobody, exits 0."""
    call_command("publish_alerting", "--no-reload")
    assert files(settings)[0].exists() and files(settings)[1].exists() and reloads.calls == []
    assert PublishState.objects.get().ok


def test_check_only_writes_nothing(settings: Any, reloads: ReloadRecorder) -> None:
    """`publish_alerting --check` validates and leaves files, servers and state alone."""
    call_command("publish_alerting", "--check")
    rules, config = files(settings)
    assert not rules.exists() and not config.exists() and reloads.calls == []
    assert PublishState.objects.get().last_attempt_at is None


def test_the_command_fails_loudly_on_an_invalid_result(
    settings: Any, reloads: ReloadRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`publish_alerting` exits non-zero with promtool's message."""
    monkeypatch.setattr(services, "alert_rules_render", lambda *a, **k: BROKEN_RULES)
    with pytest.raises(CommandError, match="promtool check rules refused"):
        call_command("publish_alerting")


def test_a_saved_threshold_is_published_after_commit(
    settings: Any, reloads: ReloadRecorder, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    """Saving through the service publishes once the transaction commits, with the new value in the rule."""
    # given
    threshold = seed_threshold("feature_drift")
    # when
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        services.threshold_update(threshold=threshold, value=0.25)
    # then
    assert len(callbacks) == 1
    assert "(ml_feature_drift_score) > 0.25 and" in files(settings)[0].read_text()


def test_channel_secrets_are_written_privately_and_removed_with_their_channel(
    settings: Any, reloads: ReloadRecorder, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    """A Slack URL lives in a 0600 file under ALERTMANAGER_SECRETS_DIR; deleting the channel removes the file."""
    # given
    with django_capture_on_commit_callbacks(execute=True):
        channel = services.notification_channel_create(
            name="ops", kind="slack", slack_webhook_url="https://hooks.slack.com/services/T/B/s3cr3t"
        )
    secret = Path(settings.ALERTMANAGER_SECRETS_DIR) / f"channel-{channel.pk}-slack_api_url"
    assert secret.read_text() == "https://hooks.slack.com/services/T/B/s3cr3t"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert "s3cr3t" not in files(settings)[1].read_text()
    # when
    with django_capture_on_commit_callbacks(execute=True):
        services.notification_channel_delete(channels=[channel])
    # then
    assert not secret.exists() and "ops" not in files(settings)[1].read_text()
    assert Path(settings.ALERT_WEBHOOK_TOKEN_FILE).exists()  # not a channel secret: kept


@pytest.mark.django_db(transaction=True)
def test_concurrent_publishes_run_one_at_a_time(
    settings: Any, reloads: ReloadRecorder, monkeypatch: pytest.MonkeyPatch, seeded_thresholds: None
) -> None:
    """Four publishes at once (as from four gunicorn threads) never overlap and leave one consistent file."""
    # given
    active, overlaps, errors = [0], [0], []
    lock = threading.Lock()
    real_check = services.rules_file_check

    def slow_check(path: Path) -> Any:
        with lock:
            active[0] += 1
            overlaps[0] = max(overlaps[0], active[0])
        time.sleep(0.1)
        try:
            return real_check(path)
        finally:
            with lock:
                active[0] -= 1

    monkeypatch.setattr(services, "rules_file_check", slow_check)

    def publish() -> None:
        try:
            assert alerting_publish().ok
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=publish) for _ in range(4)]
    # when
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    # then
    assert errors == [] and overlaps[0] == 1
    rules, _ = files(settings)
    assert leftovers(rules.parent) == [] and "DataDriftDetected" in rules.read_text()
    assert os.path.getsize(rules) > 0


def test_bootstrap_sends_every_alert_to_the_local_webhook_and_passes_amtool(settings: Any) -> None:
    """`publish_alerting --bootstrap` where nothing was published: an alertmanager.yml that amtool accepts, whose
    only receiver posts to ALERT_WEBHOOK_URL with the token file it creates; run again (the web port changed), it is
    rendered anew."""
    # given
    settings.ALERT_WEBHOOK_URL = "http://127.0.0.1:8001/api/v1/alerts/webhook"
    _, config = files(settings)
    # when
    call_command("publish_alerting", "--bootstrap", stdout=io.StringIO())
    # then
    bootstrap = yaml.safe_load(config.read_text())
    assert bootstrap["route"]["receiver"] == "mlmonitor-webhook" and "routes" not in bootstrap["route"]
    (receiver,) = bootstrap["receivers"]
    (webhook,) = receiver["webhook_configs"]
    assert webhook["url"] == "http://127.0.0.1:8001/api/v1/alerts/webhook"
    token_file = Path(settings.ALERT_WEBHOOK_TOKEN_FILE)
    assert webhook["http_config"]["authorization"] == {"type": "Bearer", "credentials_file": str(token_file)}
    assert len(token_file.read_text()) == 40
    done = subprocess.run([shutil.which("amtool") or "amtool", "check-config", str(config)], capture_output=True)
    assert done.returncode == 0, done.stdout + done.stderr
    # when: the web port changed
    settings.ALERT_WEBHOOK_URL = "http://127.0.0.1:8002/api/v1/alerts/webhook"
    call_command("publish_alerting", "--bootstrap", stdout=io.StringIO())
    # then
    assert "127.0.0.1:8002" in config.read_text()


def test_bootstrap_leaves_a_published_config_alone(settings: Any, reloads: ReloadRecorder) -> None:
    """Once the database was published, --bootstrap (run when a later publish fails) keeps that config."""
    # given
    alerting_publish()
    _, config = files(settings)
    published = config.read_text()
    # when
    out = io.StringIO()
    call_command("publish_alerting", "--bootstrap", stdout=out)
    # then
    assert config.read_text() == published
    assert "kept" in out.getvalue()
