"""Writes of the alerting app: thresholds and channels (validated against the rendered result before they are
stored), publishing the generated files (validate, swap atomically, reload), and the alert history webhook.

Publishing runs in the web process right after the commit that changed a threshold or channel, not in Celery: it
takes well under a second (render, promtool, amtool, two reload POSTs), the operator sees its outcome in the admin
message of the same save, and the admin keeps working when no worker runs. Publishes are serialized by a file lock
next to the generated rules (same host: gunicorn workers, manage.py) and by a row lock on PublishState
(PostgreSQL, any host); each one renders the full database state, so the last one always leaves the latest state.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, models, transaction
from django.utils import timezone

from mlmonitor.files import atomic_write, file_write_atomic
from mlmonitor.passed_checks import PassedChecks, content_digest
from mlmonitor.retention import PruneResult, primary_key_batches_delete, table_prune

from .models import AlertEvent, NotificationChannel, PublishState, Threshold
from .rendering import (
    BOOTSTRAP_HEADER,
    ChannelSpec,
    ThresholdSpec,
    alert_rules_render,
    alert_rules_signature,
    alertmanager_bootstrap_render,
    alertmanager_config_render,
    alertmanager_secrets_render,
)
from .selectors import alertmanager_options, channel_specs_list, threshold_specs_list

logger = logging.getLogger(__name__)

RULES_FILENAME = "mlmonitor.rules.yml"  # Prometheus loads <ALERT_RULES_DIR>/*.rules.yml
LOCK_FILENAME = ".mlmonitor-publish.lock"
SECRET_PREFIX = "channel-"  # noqa: S105 - a file name prefix
TOOL_TIMEOUT_SECONDS = 30


# --- validation with the real tools ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ToolCheck:
    """The outcome of one promtool/amtool run: `error` is empty when the file passed (or was not checked)."""

    validated: bool
    error: str = ""
    note: str = ""


def _tool_path(configured: str) -> str | None:
    """The executable for a PROMTOOL_PATH/AMTOOL_PATH setting (a name on PATH or a path), None when missing."""
    return shutil.which(configured) if configured else None


# promtool's and amtool's verdicts on content they passed, by (tool, its mtime, arguments, content digest): the
# admin form, the service and the publish after commit check the same rendered text (mlmonitor/passed_checks.py).
_passed_tool_checks: PassedChecks[ToolCheck] = PassedChecks()


def _tool_run(configured: str, args: Sequence[str], path: Path, label: str) -> ToolCheck:
    """Run `<tool> <args> <path>` unless this tool already passed this content; a missing tool is not an error, but
    it is said."""
    tool = _tool_path(configured)
    if tool is None:
        return ToolCheck(validated=False, note=f"{label} not found ({configured or 'unset'}): not validated")
    try:
        key = (tool, os.stat(tool).st_mtime_ns, tuple(args), content_digest(path.read_bytes()))
    except OSError as exc:
        return ToolCheck(validated=False, error=f"{label} could not run: {exc}")
    passed = _passed_tool_checks.get(key)
    if passed is not None:
        return passed
    try:
        completed = subprocess.run(
            [tool, *args, str(path)], capture_output=True, text=True, timeout=TOOL_TIMEOUT_SECONDS, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return ToolCheck(validated=False, error=f"{label} could not run: {exc}")
    if completed.returncode != 0:
        output = (completed.stdout + completed.stderr).replace(str(path), path.name).strip()
        return ToolCheck(validated=True, error=f"{label} refused the file: {output}")
    outcome = ToolCheck(validated=True, note=f"validated with {label}")
    _passed_tool_checks.add(key, outcome)
    return outcome


def rules_file_check(path: Path) -> ToolCheck:
    """`promtool check rules` on a rules file."""
    try:
        yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        return ToolCheck(validated=False, error=f"not YAML: {exc}")
    return _tool_run(settings.PROMTOOL_PATH, ["check", "rules", "--lint-fatal"], path, "promtool check rules")


def alertmanager_file_check(path: Path) -> ToolCheck:
    """`amtool check-config` on an Alertmanager config file."""
    try:
        yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        return ToolCheck(validated=False, error=f"not YAML: {exc}")
    return _tool_run(settings.AMTOOL_PATH, ["check-config"], path, "amtool check-config")


def _text_check(text: str, filename: str, check: Callable[[Path], ToolCheck]) -> ToolCheck:
    with tempfile.TemporaryDirectory(prefix="mlmonitor-check-") as directory:
        path = Path(directory) / filename
        path.write_text(text)
        return check(path)


def alert_rules_validate(*, thresholds: Sequence[ThresholdSpec]) -> None:
    """Raise ValidationError when the rules rendered from these thresholds would not pass promtool."""
    text = alert_rules_render(thresholds, service_job=settings.ALERT_SERVICE_JOB)
    outcome = _text_check(text, RULES_FILENAME, rules_file_check)
    if outcome.error:
        raise ValidationError(f"The alert rules would be invalid, so nothing was saved. {outcome.error}")


def alertmanager_config_validate(*, channels: Sequence[ChannelSpec]) -> None:
    """Raise ValidationError when alertmanager.yml rendered from these channels would not pass amtool."""
    text = alertmanager_config_render(channels, options=alertmanager_options())
    outcome = _text_check(text, "alertmanager.yml", alertmanager_file_check)
    if outcome.error:
        raise ValidationError(f"The Alertmanager config would be invalid, so nothing was saved. {outcome.error}")


# --- thresholds and channels -------------------------------------------------------------------------------------


def threshold_save(*, threshold: Threshold) -> Threshold:
    """Validate (ranges, uniqueness, and the rules it would produce), store, and publish after commit."""
    threshold.full_clean()
    alert_rules_validate(thresholds=threshold_specs_list(replacing=threshold))
    with transaction.atomic():
        threshold.save()
        alerting_publish_on_commit()
    return threshold


def threshold_create(**fields: Any) -> Threshold:
    """Create a threshold (see threshold_save)."""
    return threshold_save(threshold=Threshold(**fields))


def threshold_update(*, threshold: Threshold, **fields: Any) -> Threshold:
    """Change fields of a threshold (see threshold_save); an invalid change leaves the stored row as it was."""
    for name, value in fields.items():
        setattr(threshold, name, value)
    try:
        return threshold_save(threshold=threshold)
    except ValidationError:
        threshold.refresh_from_db()
        raise


def threshold_delete(*, thresholds: Sequence[Threshold]) -> None:
    """Delete thresholds and publish once after commit."""
    with transaction.atomic():
        for threshold in thresholds:
            threshold.delete()
        alerting_publish_on_commit()


def notification_channel_save(*, channel: NotificationChannel) -> NotificationChannel:
    """Validate (fields and the Alertmanager config it would produce), store, and publish after commit."""
    channel.full_clean()
    alertmanager_config_validate(channels=channel_specs_list(replacing=channel))
    with transaction.atomic():
        channel.save()
        alerting_publish_on_commit()
    return channel


def notification_channel_create(**fields: Any) -> NotificationChannel:
    """Create a notification channel (see notification_channel_save)."""
    return notification_channel_save(channel=NotificationChannel(**fields))


def notification_channel_delete(*, channels: Sequence[NotificationChannel]) -> None:
    """Delete channels and publish once after commit (their secret files go with the next publish)."""
    with transaction.atomic():
        for channel in channels:
            channel.delete()
        alerting_publish_on_commit()


# --- publishing --------------------------------------------------------------------------------------------------


@dataclass
class PublishResult:
    """What one publish did: per file whether it was valid and replaced, whether both servers run it, plus notes and
    errors for the operator."""

    check_only: bool
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    reload_errors: list[str] = field(default_factory=list)
    rules_changed: bool = False
    alertmanager_changed: bool = False
    rules_sha256: str = ""
    alertmanager_sha256: str = ""

    @property
    def valid(self) -> bool:
        """True when every rendered file was valid (and, unless check_only, is in place)."""
        return not self.errors

    @property
    def ok(self) -> bool:
        """True when the files are valid and in place and Prometheus and Alertmanager were seen running them."""
        return not self.errors and not self.reload_errors

    def summary(self) -> str:
        """One paragraph for logs, the command and the admin."""
        parts = [*self.errors, *self.reload_errors, *self.notes]
        return "; ".join(parts) if parts else "nothing to report"


def alerting_publish_on_commit() -> None:
    """Publish once the current transaction commits (at once outside a transaction)."""
    transaction.on_commit(_publish_after_commit)


def _publish_after_commit() -> None:
    """After-commit hook: a failure is recorded for the admin, never raised into the request that committed."""
    try:
        result = alerting_publish()
    except Exception as exc:
        logger.exception("publishing the alerting config failed")
        _state_failure_record(f"publish crashed: {type(exc).__name__}: {exc}")
        return
    log = logger.info if result.ok else logger.error
    log("alerting config publish: %s", result.summary())


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive flock on `path` for the duration of the block (serializes publishes on one host)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _publish_transaction() -> contextlib.AbstractContextManager[Any]:
    """The transaction a publish runs in: on a database with row locks (PostgreSQL) one that holds PublishState's
    row, serializing publishes across hosts; on SQLite none, since a transaction there would hold the whole
    database's write lock through promtool, amtool and the reloads (every prediction would wait): one host, so the
    file lock already serializes, and the state is saved in its own short write."""
    return transaction.atomic() if connection.features.has_select_for_update else contextlib.nullcontext()


def _state_locked() -> PublishState:
    PublishState.objects.get_or_create(pk=PublishState.SINGLETON_ID)
    return PublishState.objects.select_for_update().get(pk=PublishState.SINGLETON_ID)


def _state_failure_record(message: str) -> None:
    with contextlib.suppress(Exception), transaction.atomic():
        state = _state_locked()
        now = timezone.now()
        state.ok, state.last_error, state.last_error_at, state.last_attempt_at = False, message, now, now
        state.save()


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _publish_file(
    *,
    text: str,
    path: Path,
    check: Callable[[Path], ToolCheck],
    label: str,
    check_only: bool,
    result: PublishResult,
    before_replace: Callable[[], None] | None = None,
) -> tuple[bool, bool]:
    """Write `text` beside `path` (mlmonitor.files.atomic_write: a name the `*.rules.yml` glob does not match),
    validate it, and swap it into place. Returns (valid, changed); an invalid file never replaces the last good one."""
    # Read by Prometheus/Alertmanager, possibly as another user; these files hold no secrets.
    with atomic_write(path, text, mode=0o644) as pending:
        outcome = check(pending.temporary)
        if outcome.error:
            result.errors.append(f"{label}: {outcome.error}; the previous file stays in place")
            return False, False
        if outcome.note:
            result.notes.append(f"{label} {outcome.note}")
        if check_only:
            return True, False
        if path.exists() and path.read_bytes() == text.encode():
            return True, False
        if before_replace is not None:
            before_replace()
        pending.replace()
        return True, True


def _secrets_write(secrets: dict[str, str]) -> None:
    mode = int(settings.ALERT_SECRET_FILE_MODE, 8)
    for path, content in secrets.items():
        file_write_atomic(Path(path), content, mode=mode)


def _secrets_prune(secrets: dict[str, str]) -> None:
    """Remove channel secret files that the published config no longer references (deleted or changed channels)."""
    directory = Path(settings.ALERTMANAGER_SECRETS_DIR)
    if not directory.is_dir():
        return
    keep = {Path(p).name for p in secrets}
    for path in directory.glob(f"{SECRET_PREFIX}*"):
        if path.is_file() and path.name not in keep:
            path.unlink(missing_ok=True)


def webhook_token_file_ensure() -> bool:
    """Write the webhook's bearer token file when it is missing: a DRF token of ALERT_WEBHOOK_USERNAME (a user
    without password or staff rights). Returns True when it wrote the file."""
    from rest_framework.authtoken.models import Token

    configured = settings.ALERT_WEBHOOK_TOKEN_FILE
    if not configured or Path(configured).exists():
        return False
    user_model = get_user_model()
    user, created = user_model.objects.get_or_create(username=settings.ALERT_WEBHOOK_USERNAME)
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    token, _ = Token.objects.get_or_create(user=user)
    file_write_atomic(Path(configured), token.key, mode=int(settings.ALERT_SECRET_FILE_MODE, 8))
    return True


def alertmanager_bootstrap_write() -> bool:
    """Write the bootstrap alertmanager.yml (no channels: every alert to the service's webhook) where nothing was
    published yet, then the webhook token file when it is missing. A published config is left alone; an earlier
    bootstrap is rendered anew (the webhook URL may have changed). Returns True when it wrote the config."""
    path = Path(settings.ALERTMANAGER_CONFIG_PATH)
    published = path.is_file() and path.stat().st_size > 0 and not path.read_text().startswith(BOOTSTRAP_HEADER)
    wrote = False
    if not published:
        wrote = file_write_atomic(path, alertmanager_bootstrap_render(options=alertmanager_options()), mode=0o644)
    webhook_token_file_ensure()
    return wrote


def _http(method: str, url: str) -> bytes:
    """One request to Prometheus or Alertmanager; raises urllib's errors (HTTPError for non-2xx answers)."""
    request = urllib.request.Request(url, data=b"" if method == "POST" else None, method=method)  # noqa: S310
    with urllib.request.urlopen(request, timeout=settings.ALERT_RELOAD_TIMEOUT_SECONDS) as response:  # noqa: S310
        body: bytes = response.read()
    return body


def _http_error(exc: Exception) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        body = exc.read().decode(errors="replace").strip()[:300]
        return f"HTTP {exc.code} {body}".strip()
    return str(getattr(exc, "reason", None) or exc)


def _reload(base_url: str, label: str, result: PublishResult) -> bool:
    """POST <base_url>/-/reload; a refusal or no answer is a reload error (the files stay for the next start and the
    next retry). Prometheus without --web.enable-lifecycle answers 403 here."""
    try:
        _http("POST", base_url.rstrip("/") + "/-/reload")
    except (OSError, ValueError) as exc:
        result.reload_errors.append(f"{label} reload failed: {_http_error(exc)}")
        return False
    return True


def _prometheus_rules_verify(base_url: str, rules_text: str, result: PublishResult) -> None:
    """After a reload, Prometheus' /api/v1/rules must list the rules just written: a reload answers 200 even when it
    re-read an old file (a single-file bind mount keeps the old inode, prometheus#2544)."""
    expected = alert_rules_signature(yaml.safe_load(rules_text)["groups"])
    try:
        answer = json.loads(_http("GET", base_url.rstrip("/") + "/api/v1/rules?type=alert"))
        groups = [
            group for group in answer["data"]["groups"] if Path(str(group.get("file", ""))).name == RULES_FILENAME
        ]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        result.reload_errors.append(f"Prometheus reloaded, but its rules could not be read back: {_http_error(exc)}")
        return
    if alert_rules_signature(groups) != expected:
        result.reload_errors.append(
            f"Prometheus reloaded, but it does not run the rules just written ({len(alert_rules_signature(groups))} "
            f"live, {len(expected)} written): does it load {settings.ALERT_RULES_DIR}/*.rules.yml from a mounted "
            "directory (not a single-file mount)?"
        )
        return
    result.notes.append(f"Prometheus reloaded and runs the {len(expected)} rules")


def _alertmanager_routing(config: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Receiver names and the route tree's receivers (depth first): what a reload that took must show. Alertmanager
    answers its config re-marshalled (defaults filled in, webhook URLs as <secret>), so only these are compared."""
    routes: list[str] = []

    def walk(route: dict[str, Any]) -> None:
        routes.append(str(route.get("receiver", "")))
        for child in route.get("routes") or []:
            walk(child)

    walk(config.get("route") or {})
    return [str(r.get("name", "")) for r in config.get("receivers") or []], routes


def _alertmanager_config_verify(base_url: str, config_text: str, result: PublishResult) -> None:
    """After a reload, Alertmanager's /api/v2/status must show the receivers and routes just written."""
    try:
        answer = json.loads(_http("GET", base_url.rstrip("/") + "/api/v2/status"))
        live = yaml.safe_load(answer["config"]["original"])
    except (OSError, ValueError, KeyError, TypeError, yaml.YAMLError) as exc:
        result.reload_errors.append(f"Alertmanager reloaded, but its config could not be read back: {_http_error(exc)}")
        return
    if not isinstance(live, dict) or _alertmanager_routing(live) != _alertmanager_routing(yaml.safe_load(config_text)):
        result.reload_errors.append(
            "Alertmanager reloaded, but it does not run the config just written: does it read "
            f"{settings.ALERTMANAGER_CONFIG_PATH} from a mounted directory?"
        )
        return
    result.notes.append("Alertmanager reloaded and runs the new config")


def alerting_publish(*, check_only: bool = False, reload: bool = True) -> PublishResult:
    """Render the rules and alertmanager.yml from the full database state, validate them with promtool and amtool,
    swap them in atomically, reload both servers and check that they run the new files. With check_only, render and
    validate only; with reload=False, write without reloading (before the servers start, which then load the files).
    A reload that fails or does not take leaves the state not ok; `alerting_publish_retry` tries again."""
    result = PublishResult(check_only=check_only)
    rules_path = Path(settings.ALERT_RULES_DIR) / RULES_FILENAME
    config_path = Path(settings.ALERTMANAGER_CONFIG_PATH)
    with _file_lock(Path(settings.ALERT_RULES_DIR) / LOCK_FILENAME), _publish_transaction():
        state = None if check_only else _state_locked()
        rules_text = alert_rules_render(threshold_specs_list(), service_job=settings.ALERT_SERVICE_JOB)
        channels = channel_specs_list()
        options = alertmanager_options()
        config_text = alertmanager_config_render(channels, options=options)
        secrets = alertmanager_secrets_render(channels, secrets_dir=options.secrets_dir)
        result.rules_sha256, result.alertmanager_sha256 = _sha256(rules_text), _sha256(config_text)
        try:
            rules_ok, result.rules_changed = _publish_file(
                text=rules_text,
                path=rules_path,
                check=rules_file_check,
                label="rules",
                check_only=check_only,
                result=result,
            )
            if not check_only and webhook_token_file_ensure():
                result.notes.append(f"wrote the webhook token file {options.webhook_token_file}")
            config_ok, result.alertmanager_changed = _publish_file(
                text=config_text,
                path=config_path,
                check=alertmanager_file_check,
                label="alertmanager.yml",
                check_only=check_only,
                result=result,
                before_replace=lambda: _secrets_write(secrets),
            )
        except OSError as exc:
            result.errors.append(f"writing the generated files failed: {exc}")
            rules_ok = config_ok = False
        if check_only:
            return result
        if config_ok:
            _secrets_write(secrets)  # unchanged config: secrets may still have changed (same paths, new content)
            _secrets_prune(secrets)
        if not reload:
            result.notes.append("not reloaded (asked not to): the servers load these files when they start")
        if reload and rules_ok and _reload(settings.PROMETHEUS_URL, "Prometheus", result):
            _prometheus_rules_verify(settings.PROMETHEUS_URL, rules_text, result)
        if reload and config_ok and _reload(settings.ALERTMANAGER_URL, "Alertmanager", result):
            _alertmanager_config_verify(settings.ALERTMANAGER_URL, config_text, result)
        assert state is not None
        now = timezone.now()
        state.last_attempt_at = now
        state.ok = result.ok
        state.notes = "; ".join(result.notes)
        if result.ok:
            state.last_success_at = now
        else:
            state.last_error, state.last_error_at = "; ".join([*result.errors, *result.reload_errors]), now
        if rules_ok:
            state.rules_sha256 = result.rules_sha256
        if config_ok:
            state.alertmanager_sha256 = result.alertmanager_sha256
        state.save()
    return result


def alerting_publish_retry() -> PublishResult | None:
    """Publish again when the last publish did not go live (a server was down or refused the reload); None when the
    last one did. Beat runs this every minute (alerts_config.tasks.alerting_publish_retry)."""
    if PublishState.objects.filter(pk=PublishState.SINGLETON_ID, ok=False).exists():
        return alerting_publish()
    return None


# --- alert history -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertIngestResult:
    """How many alerts of one webhook call were new, changed, or repeats."""

    created: int
    updated: int
    unchanged: int


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def alert_text_clean(value: str) -> str:
    """`value` with NUL characters and lone surrogates (valid in JSON, refused by PostgreSQL and UTF-8) as U+FFFD."""
    return _UNSTORABLE.sub("\ufffd", value)


def _mapping_clean(mapping: dict[str, Any]) -> dict[str, str]:
    """Labels or annotations with storable keys and values."""
    return {alert_text_clean(str(key)): alert_text_clean(str(value)) for key, value in mapping.items()}


def _column_fit(field_name: str, value: str) -> str:
    """`value` cut to the length of an indexed AlertEvent column (the full value stays in `labels`)."""
    field = AlertEvent._meta.get_field(field_name)
    limit = field.max_length if isinstance(field, models.Field) else None
    return value[:limit] if limit is not None else value


def _fingerprint_fit(value: str) -> str:
    """Alertmanager's fingerprints are 16 hex digits; a longer one is stored as its SHA-256 (64 hex digits), so two
    long fingerprints that share a prefix stay two episodes and a repeat finds its episode again."""
    limit = AlertEvent._meta.get_field("fingerprint").max_length or 64
    return value if len(value) <= limit else hashlib.sha256(value.encode()).hexdigest()


def _episode_apply(event: AlertEvent, alert: dict[str, Any], receiver: str) -> bool:
    """Fold a repeat notification into a stored episode; a late "firing" never reopens a resolved one."""
    resolved = event.status == AlertEvent.STATUS_RESOLVED
    changed = False
    if not resolved and alert["status"] == AlertEvent.STATUS_RESOLVED:
        event.status = AlertEvent.STATUS_RESOLVED
        event.ends_at = alert["endsAt"]
        changed = True
    if not resolved and (event.labels != alert["labels"] or event.annotations != alert["annotations"]):
        event.labels, event.annotations = alert["labels"], alert["annotations"]
        changed = True
    event.notifications += 1
    event.receiver = receiver or event.receiver
    event.save()
    return changed


def alert_events_ingest(*, receiver: str, alerts: Sequence[dict[str, Any]]) -> AlertIngestResult:
    """Store the alerts of one Alertmanager webhook call: one row per (fingerprint, startsAt), updated on resolve.

    Each alert is a dict with status, labels, annotations, startsAt, endsAt (None for the zero time), generatorURL
    and fingerprint, as the webhook serializer returns it.
    """
    created = updated = unchanged = 0
    receiver = _column_fit("receiver", alert_text_clean(receiver))
    for raw in alerts:
        alert = {
            **raw,
            "labels": _mapping_clean(raw["labels"]),
            "annotations": _mapping_clean(raw.get("annotations") or {}),
        }
        key = {"fingerprint": _fingerprint_fit(alert_text_clean(alert["fingerprint"])), "starts_at": alert["startsAt"]}
        labels = alert["labels"]
        resolved = alert["status"] == AlertEvent.STATUS_RESOLVED
        with transaction.atomic():
            # Insert first, read only on conflict: the transaction's first statement is a write, so SQLite takes
            # the write lock at once (waiting its busy timeout) instead of failing to upgrade a stale read
            # snapshot when another gunicorn thread writes at the same time; PostgreSQL waits on the row.
            try:
                with transaction.atomic():
                    AlertEvent.objects.create(
                        **key,
                        alertname=_column_fit("alertname", labels.get("alertname", "")),
                        status=alert["status"],
                        severity=_column_fit("severity", labels.get("severity", "")),
                        model_name=_column_fit("model_name", labels.get("model_name", "")),
                        labels=labels,
                        annotations=alert["annotations"],
                        ends_at=alert["endsAt"] if resolved else None,
                        generator_url=_column_fit("generator_url", alert_text_clean(alert.get("generatorURL", ""))),
                        receiver=receiver,
                    )
                created += 1
                continue
            except IntegrityError:  # a repeat (or the same episode arriving concurrently)
                pass
            event = AlertEvent.objects.select_for_update().get(**key)
            if _episode_apply(event, alert, receiver):
                updated += 1
            else:
                unchanged += 1
    return AlertIngestResult(created=created, updated=updated, unchanged=unchanged)


def alert_time_parse(value: datetime | None) -> datetime | None:
    """Alertmanager writes "no time" as 0001-01-01T00:00:00Z."""
    if value is None or value.year <= 1:
        return None
    return value


def alert_event_prune(
    *, retention_days: int, batch_size: int, dry_run: bool = False, now: datetime | None = None
) -> PruneResult:
    """Remove alert events that Alertmanager last posted before the retention, in batches. An alert still firing is
    posted again every repeat interval (which refreshes `updated_at`): its episode is not removed while it fires."""
    return table_prune(
        model=AlertEvent,
        retention_days=retention_days,
        dry_run=dry_run,
        now=now,
        rows_old=lambda cutoff: AlertEvent.objects.filter(updated_at__lt=cutoff),
        delete=lambda old: primary_key_batches_delete(old, batch_size=batch_size),
    )
