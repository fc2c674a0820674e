"""`make run` (scripts/run.sh) as an operator uses it: it starts the stack, a second start in the same checkout
refuses and changes nothing, the banner says where the admin password is without printing it, the stack has its own
Redis queue and key prefix, and Ctrl-C stops everything and exits 0 (no "make: *** Error 130")."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.servers import LOOPBACK, free_port

ROOT = Path(__file__).resolve().parents[2]
VENV = Path(sys.executable).parent.parent
START_TIMEOUT = 240.0


def run_env(tmp_path: Path) -> dict[str, str]:
    """run.sh's environment for a test: its state, database, generated files and ports of the test's own."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(
            ("DJANGO_", "GUNICORN_", "WEB_", "GRANIAN_", "PROMETHEUS_", "DATABASE_", "ALERT", "REDIS_KEY", "CELERY_Q")
        )
    }
    env.update(
        {
            "VENV": str(VENV),
            "MLMONITOR_RUN_DIR": str(tmp_path / "run"),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
            "MEDIA_ROOT": str(tmp_path / "media"),
            "STATIC_ROOT": str(tmp_path / "static"),
            "ALERT_RULES_DIR": str(tmp_path / "generated" / "rules"),
            "ALERTMANAGER_CONFIG_PATH": str(tmp_path / "generated" / "alertmanager.yml"),
            "ALERTMANAGER_SECRETS_DIR": str(tmp_path / "generated" / "secrets"),
            "ALERT_WEBHOOK_TOKEN_FILE": str(tmp_path / "generated" / "secrets" / "webhook_token"),
            "WEB_BIND": f"{LOOPBACK}:{free_port()}",
            "GPU_METRICS_ENABLED": "0",
        }
    )
    return env


def snapshot(directory: Path) -> dict[str, tuple[int, int]]:
    """Every file under a directory with its size and modification time (logs excluded: the services write them)."""
    return {
        str(path.relative_to(directory)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in sorted(directory.rglob("*"))
        if path.is_file()
        and "logs" not in path.parts
        and not path.name.startswith(("prometheus", "alertmanager"))
        and path.parent.name not in {"prometheus-multiproc", "prometheus", "alertmanager", "redis"}
    }


def output_wait(process: subprocess.Popen[str], pattern: str, timeout: float, seen: list[str]) -> None:
    """Read the process' output until a line holds `pattern`; fail with the output so far otherwise."""
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    os.set_blocking(process.stdout.fileno(), False)
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if line:
            seen.append(line)
            if pattern in line:
                return
            continue
        if process.poll() is not None:
            break
        time.sleep(0.1)
    pytest.fail(f"{pattern!r} not printed within {timeout}s (status {process.poll()}):\n{''.join(seen)[-6000:]}")


@pytest.mark.slow
def test_a_second_start_refuses_and_changes_nothing_and_ctrl_c_exits_0(tmp_path: Path) -> None:
    """The first `run.sh` starts and prints its banner; a second one in the same checkout exits 1 with "already
    running (pid <first>)" and leaves the first one's files, logs and web server as they were; Ctrl-C then stops
    the first, which exits 0 and leaves no process behind."""
    # given: a running stack
    env = run_env(tmp_path)
    seen: list[str] = []
    first = subprocess.Popen(
        ["bash", "scripts/run.sh"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output_wait(first, "Ctrl-C stops everything", START_TIMEOUT, seen)
        output_wait(first, "Other shell", 30, seen)
        run_dir = tmp_path / "run"
        before = snapshot(run_dir)
        web_log = run_dir / "logs" / "web.log"
        web_log_size = web_log.stat().st_size
        assert web_log_size > 0
        # when
        second = subprocess.run(
            ["bash", "scripts/run.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
        )
        # then: refused, nothing touched
        assert second.returncode == 1, second.stdout + second.stderr
        assert f"already running in this checkout (pid {first.pid}" in second.stderr
        assert snapshot(run_dir) == before
        assert web_log.stat().st_size >= web_log_size  # not truncated
        assert first.poll() is None
        banner = "".join(seen)
        password = (run_dir / "admin_password").read_text().strip()
        assert password and password not in banner
        assert "admin_password" in banner
        assert "API only in the Debian package" in banner or "prometheus-alertmanager' is not installed" in banner
        exported = (run_dir / "env").read_text()
        assert "REDIS_KEY_PREFIX=mlmonitor-" in exported and "CELERY_QUEUE=mlmonitor-" in exported
    finally:
        # when: Ctrl-C (SIGINT to the foreground process group, as a terminal sends it)
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGINT)
        try:
            rest, _ = first.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(first.pid, signal.SIGKILL)
            raise
    seen.append(rest)
    # then
    assert first.returncode == 0, "".join(seen)[-4000:]
    assert "Stopped; logs are in" in rest
    listing = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    assert str(tmp_path / "run") not in listing, listing
