"""Django system checks of the alerting configuration (`manage.py check`, and every command that runs checks).

The generated rules, alertmanager.yml and its secret files are written at runtime into directories that are often
volumes shared with Prometheus and Alertmanager (docs/architecture.md): a directory this process cannot write is an
error found at start, not at the first save of a threshold. promtool and amtool are optional (files are then
published unvalidated, and the publish says so), so their absence is a warning.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Error, register
from django.core.checks import Warning as CheckWarning

TAG = "alerting"
VOLUME_HINT = (
    "Give this user write access to it; in docker compose, recreate a volume another container created with the "
    "wrong owner (docker compose down -v)."
)


def _not_writable_reason(directory: Path) -> str | None:
    """Why files cannot be created in `directory` (made when missing), or None when they can."""
    existing = directory
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is not a directory"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{existing} is not writable by uid {os.geteuid()}"
    return None


@register(TAG)
def generated_directories_check(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> list[CheckMessage]:
    """The directories the publish writes into exist or can be made, and this process can write them."""
    directories = [
        ("ALERT_RULES_DIR", Path(settings.ALERT_RULES_DIR), "alerts_config.E001"),
        ("ALERTMANAGER_CONFIG_PATH", Path(settings.ALERTMANAGER_CONFIG_PATH).parent, "alerts_config.E002"),
        ("ALERTMANAGER_SECRETS_DIR", Path(settings.ALERTMANAGER_SECRETS_DIR), "alerts_config.E003"),
    ]
    if settings.ALERT_WEBHOOK_TOKEN_FILE:
        token_directory = Path(settings.ALERT_WEBHOOK_TOKEN_FILE).parent
        directories.append(("ALERT_WEBHOOK_TOKEN_FILE", token_directory, "alerts_config.E004"))
    messages: list[CheckMessage] = []
    for setting, directory, check_id in directories:
        reason = _not_writable_reason(directory)
        if reason is not None:
            where = f"{setting} ({directory})" if setting.endswith("_DIR") else f"the directory of {setting}"
            messages.append(
                Error(
                    f"Generated alerting files cannot be written to {where}: {reason}.", hint=VOLUME_HINT, id=check_id
                )
            )
    return messages


@register(TAG)
def validators_check(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> list[CheckMessage]:
    """promtool and amtool are found (PROMTOOL_PATH, AMTOOL_PATH: a name on PATH or a path)."""
    messages: list[CheckMessage] = []
    for setting, configured, package, check_id in (
        ("PROMTOOL_PATH", settings.PROMTOOL_PATH, "prometheus", "alerts_config.W001"),
        ("AMTOOL_PATH", settings.AMTOOL_PATH, "prometheus-alertmanager", "alerts_config.W002"),
    ):
        if not configured or shutil.which(configured) is None:
            messages.append(
                CheckWarning(
                    f"{setting} ({configured or 'unset'}) is not found: generated alerting files are published "
                    "without validation.",
                    hint=f"Install Debian's {package} package (scripts/ensure_system.sh), or set {setting}.",
                    id=check_id,
                )
            )
    return messages
