"""System checks of the alerting configuration (alerts_config/checks.py): directories the publish cannot write are
errors at start, missing validators are warnings; `manage.py check` fails on the errors."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from django.core.checks import run_checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from alerts_config.checks import TAG

# A directory nobody may write, root included (procfs refuses creating files there).
UNWRITABLE = Path("/proc/sys")


def alerting_messages() -> list[tuple[str, str]]:
    """(id, message) of every alerting check that reports something."""
    return [(message.id or "", message.msg) for message in run_checks(tags=[TAG])]


def test_writable_directories_and_installed_validators_pass(alerting_paths: Path) -> None:
    """Per-test directories that do not exist yet (the publish creates them) and promtool/amtool on PATH: no message."""
    # then
    assert not (alerting_paths / "rules").exists()
    assert alerting_messages() == []


@pytest.mark.parametrize(
    ("setting", "check_id"),
    [
        ("ALERT_RULES_DIR", "alerts_config.E001"),
        ("ALERTMANAGER_CONFIG_PATH", "alerts_config.E002"),
        ("ALERTMANAGER_SECRETS_DIR", "alerts_config.E003"),
        ("ALERT_WEBHOOK_TOKEN_FILE", "alerts_config.E004"),
    ],
)
def test_a_directory_that_cannot_be_written_is_an_error(settings: Any, setting: str, check_id: str) -> None:
    """A generated-file location below a directory this process cannot write is reported, naming the setting."""
    # given
    assert not os.access(UNWRITABLE, os.W_OK), "the test needs a directory nobody may write"
    setattr(settings, setting, UNWRITABLE / "mlmonitor" / "generated")
    # when
    messages = alerting_messages()
    # then
    assert [check for check, _ in messages] == [check_id]
    assert setting in messages[0][1] and "is not writable" in messages[0][1]


def test_a_file_where_the_directory_should_be_is_an_error(settings: Any, tmp_path: Path) -> None:
    """ALERT_RULES_DIR below a plain file (a single-file mount, say) cannot hold the rules: an error saying so."""
    # given
    blocker = tmp_path / "rules.yml"
    blocker.write_text("")
    settings.ALERT_RULES_DIR = blocker / "rules"
    # when
    messages = alerting_messages()
    # then
    assert messages == [
        (
            "alerts_config.E001",
            f"Generated alerting files cannot be written to ALERT_RULES_DIR ({blocker / 'rules'}): "
            f"{blocker} is not a directory.",
        )
    ]


def test_missing_validators_are_warnings_and_manage_check_fails_only_on_errors(settings: Any) -> None:
    """promtool and amtool not found: two warnings, and `manage.py check` passes; an unwritable rules directory on
    top makes it fail."""
    # given
    settings.PROMTOOL_PATH = "no-such-promtool"
    settings.AMTOOL_PATH = ""
    # when
    messages = alerting_messages()
    # then
    assert [check for check, _ in messages] == ["alerts_config.W001", "alerts_config.W002"]
    call_command("check", tags=[TAG])
    settings.ALERT_RULES_DIR = UNWRITABLE / "rules"
    with pytest.raises(SystemCheckError, match=r"alerts_config\.E001"):
        call_command("check", tags=[TAG])
