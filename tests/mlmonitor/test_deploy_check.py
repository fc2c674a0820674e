"""`manage.py check --deploy` with the production environment README.md documents: no warning at all; without it,
the HTTPS warnings are there (so the test can fail)."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def documented_deploy_env() -> dict[str, str]:
    """The variables of README.md's `deploy-env` block, a generated secret key for the placeholder."""
    readme = (ROOT / "README.md").read_text()
    match = re.search(r"<!-- deploy-env -->\s*```sh\n(.*?)```\s*<!-- /deploy-env -->", readme, re.S)
    assert match, "README.md has no deploy-env block"
    env = {}
    for line in match.group(1).splitlines():
        name, _, value = line.partition("=")
        env[name.strip()] = value.strip()
    assert env["SECRET_KEY"].startswith("<")
    env["SECRET_KEY"] = secrets.token_urlsafe(50)
    return env


def deploy_check(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run `manage.py check --deploy --fail-level WARNING` with the base settings and exactly this environment (plus
    PATH, and the suite's database so the database checks see the real engine)."""
    base = {"PATH": os.environ.get("PATH", ""), "DJANGO_SETTINGS_MODULE": "mlmonitor.settings.base"}
    if os.environ.get("DATABASE_URL"):
        base["DATABASE_URL"] = os.environ["DATABASE_URL"]
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_documented_production_environment_passes_check_deploy() -> None:
    """The README's production lines: `check --deploy` exits 0 and reports no issue."""
    result = deploy_check(documented_deploy_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout, result.stdout + result.stderr


def test_without_the_https_settings_check_deploy_warns() -> None:
    """Only a secret key and debug off: HSTS, the SSL redirect and the secure cookies are reported."""
    result = deploy_check({"SECRET_KEY": secrets.token_urlsafe(50), "ALLOWED_HOSTS": "example.com"})
    assert result.returncode != 0
    for check in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert check in result.stdout + result.stderr, check
