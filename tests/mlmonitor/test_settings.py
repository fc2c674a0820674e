"""Settings come from the environment: production refuses to start without SECRET_KEY; bad numbers fail loudly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def load_settings(**env: str) -> subprocess.CompletedProcess[str]:
    """Import the base settings in a fresh interpreter with exactly these variables (plus PATH)."""
    return subprocess.run(
        [sys.executable, "-c", "import mlmonitor.settings.base as s; print(s.DEBUG, s.DATABASES['default']['ENGINE'])"],
        cwd=ROOT,
        env={"PATH": os.environ.get("PATH", ""), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_refuses_to_start_without_a_secret_key() -> None:
    """With debug off and no SECRET_KEY, loading the settings fails naming SECRET_KEY."""
    result = load_settings()
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_a_secret_key_or_debug_lets_it_start_with_sqlite_by_default() -> None:
    """A SECRET_KEY (or debug mode) is enough; the default database is SQLite."""
    for env in ({"SECRET_KEY": "from-the-environment"}, {"DJANGO_DEBUG": "1"}):
        result = load_settings(**env)
        assert result.returncode == 0, result.stderr
        assert "sqlite3" in result.stdout


def test_a_malformed_number_fails_loudly() -> None:
    """PREDICTION_MAX_BATCH_SIZE=lots is a configuration error that names the variable."""
    result = load_settings(SECRET_KEY="x", PREDICTION_MAX_BATCH_SIZE="lots")
    assert result.returncode != 0
    assert "PREDICTION_MAX_BATCH_SIZE must be an integer" in result.stderr


def test_celery_keys_and_queue_are_the_deployments_own_by_default() -> None:
    """On a shared Redis the stack neither consumes other programs' tasks (Celery's shared "celery" queue) nor
    collides with their keys: every broker and result key starts with REDIS_KEY_PREFIX; both can be set."""
    code = (
        "import mlmonitor.settings.base as s; print(s.CELERY_TASK_DEFAULT_QUEUE, "
        "s.CELERY_BROKER_TRANSPORT_OPTIONS['global_keyprefix'], "
        "s.CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS['global_keyprefix'])"
    )
    for env, expected in (
        ({}, "mlmonitor mlmonitor: mlmonitor:"),
        ({"REDIS_KEY_PREFIX": "stack-b:", "CELERY_QUEUE": "stack-b"}, "stack-b stack-b: stack-b:"),
    ):
        result = subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env={"PATH": os.environ.get("PATH", ""), "SECRET_KEY": "x", **env},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.split() == expected.split()


def test_a_multiprocess_metrics_directory_not_made_yet_is_made(tmp_path: Path) -> None:
    """PROMETHEUS_MULTIPROC_DIR exported for every process: a management command in a fresh interpreter runs (it
    creates metrics, whose files go there) instead of failing on the missing directory."""
    directory = tmp_path / "not" / "made"
    env = {
        **os.environ,
        "DJANGO_DEBUG": "1",
        "PROMETHEUS_MULTIPROC_DIR": str(directory),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    # when: migrate runs statements, which the database series count
    result = subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    # then
    assert result.returncode == 0, result.stderr
    assert directory.is_dir() and any(directory.glob("*.db"))


@pytest.mark.parametrize("blank", ["", " \t"])
def test_a_variable_set_but_blank_takes_its_default(blank: str) -> None:
    """`DATABASE_URL=` or `DATABASE_URL= ` (a blank line in an env file) is SQLite by default, not a crash, and so is
    every string setting with a default; where empty has a meaning of its own (an unlimited throttle rate, no key
    prefix) a blank value is that empty string. Integers and booleans take their defaults too."""
    code = (
        "import mlmonitor.settings.base as s; print(s.DATABASES['default']['ENGINE'], s.REDIS_URL, s.STATIC_ROOT.name, "
        "s.PROMETHEUS_URL, repr(s.API_THROTTLE_RATES['writes']), repr(s.REDIS_KEY_PREFIX), repr(s.SECRET_KEY), "
        "s.FEEDBACK_WINDOW, s.DEBUG, s.METRICS_COLLECTOR_CACHE_SECONDS)"
    )
    empty = (
        "DATABASE_URL",
        "REDIS_URL",
        "STATIC_ROOT",
        "PROMETHEUS_URL",
        "API_THROTTLE_WRITE_RATE",
        "REDIS_KEY_PREFIX",
        "FEEDBACK_WINDOW",
        "METRICS_COLLECTOR_CACHE_SECONDS",
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={
            "PATH": os.environ.get("PATH", ""),
            "SECRET_KEY": "x",
            "DJANGO_DEBUG": blank,
            **dict.fromkeys(empty, blank),
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    engine, *rest = result.stdout.split()
    assert engine.endswith(".sqlite3"), result.stdout  # Django's, or its metrics subclass (METRICS_ENABLED)
    assert rest == [
        "redis://127.0.0.1:6379/0",
        "staticfiles",
        "http://127.0.0.1:9090",
        "''",
        "''",
        "'x'",
        "1000",
        "False",
        "5.0",
    ]


def test_a_blank_secret_key_is_refused_in_production() -> None:
    """`SECRET_KEY= ` (blanks only) is no key: production refuses to start, as without one."""
    result = subprocess.run(
        [sys.executable, "-c", "import mlmonitor.settings.base"],
        cwd=ROOT,
        env={"PATH": os.environ.get("PATH", ""), "SECRET_KEY": "   "},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


@pytest.mark.parametrize("blank", ["", "  "])
def test_a_list_variable_set_but_blank_takes_its_default(blank: str) -> None:
    """`ALLOWED_HOSTS=` or `ALLOWED_HOSTS= ` is the default hosts, not none (every request a 400 DisallowedHost)."""
    code = "import mlmonitor.settings.base as s; print(','.join(s.ALLOWED_HOSTS), len(s.MODEL_TRUSTED_TYPES) > 0)"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={
            "PATH": os.environ.get("PATH", ""),
            "SECRET_KEY": "x",
            "ALLOWED_HOSTS": blank,
            "MODEL_TRUSTED_TYPES": blank,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["localhost,127.0.0.1,[::1]", "True"]


@pytest.mark.parametrize("blank", ["", " "])
def test_a_blank_multiprocess_directory_variable_is_single_process_mode(tmp_path: Path, blank: str) -> None:
    """prometheus_client goes multiprocess on PROMETHEUS_MULTIPROC_DIR's presence alone: set but empty, it wrote its
    files into the working directory and each worker's scrape showed only its own counts (set to a blank, into a
    directory named by the blank). Blank counts as unset."""
    code = (
        "import django; django.setup(); import predictions.metrics as m; from prometheus_client import values; "
        "m.PREDICTION_ROWS.labels('iris', '1').inc(); print(getattr(values.ValueClass, '_multiprocess', False))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": str(ROOT),
            "SECRET_KEY": "x",
            "DJANGO_SETTINGS_MODULE": "mlmonitor.settings.base",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
            "PROMETHEUS_MULTIPROC_DIR": blank,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False"]
    assert list(tmp_path.iterdir()) == []  # no metrics files, no directory named by the blank


def test_postgresql_sessions_get_a_lock_timeout_added_to_the_urls_options() -> None:
    """DATABASE_LOCK_TIMEOUT_SECONDS becomes PostgreSQL's lock_timeout in every session (20 s by default), added to
    any options the URL carries; 0 leaves it out."""
    code = "import mlmonitor.settings.base as s; print(s.DATABASES['default']['OPTIONS'].get('options'))"

    def options(url: str, **env: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env={"PATH": os.environ.get("PATH", ""), "DJANGO_DEBUG": "1", "DATABASE_URL": url, **env},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    assert options("postgresql://u@127.0.0.1:1/db") == "-c lock_timeout=20000"
    assert (
        options("postgresql://u@127.0.0.1:1/db?options=-c%20work_mem%3D8MB") == "-c work_mem=8MB -c lock_timeout=20000"
    )
    assert options("postgresql://u@127.0.0.1:1/db", DATABASE_LOCK_TIMEOUT_SECONDS="2.5") == "-c lock_timeout=2500"
    assert options("postgresql://u@127.0.0.1:1/db", DATABASE_LOCK_TIMEOUT_SECONDS="0") == "None"
    assert options("sqlite:///x.sqlite3") == "None"


@pytest.mark.parametrize(
    ("value", "blank"), [(" \t\r\n\v\f", True), ("\u00a0", False), ("\x1c", False), (" x ", False)]
)
def test_blanks_are_the_shell_scripts_blanks(value: str, blank: bool) -> None:
    """A value counts as blank where the shell scripts' blank_unset also unsets it (POSIX [:space:]): ASCII spaces,
    tabs and line and form feeds. A no-break space or a separator control is a value in both (Python's str.strip()
    took them for blanks, so the scripts exported a SECRET_KEY that the settings then refused)."""
    from mlmonitor.environment import environ_value

    assert (environ_value("X", {"X": value}) is None) is blank
