"""A drift run whose worker dies: the lock does not outlive its owner for long, a skipped request says so, and a
real Celery worker killed with SIGKILL mid-run has its run delivered again, landed, and the loss counted."""

from __future__ import annotations

import os
import signal
import sqlite3
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis

from drift.models import DriftRun
from drift.tasks import _lock, drift_lock_held, drift_run_compute, drift_run_running
from mlmonitor.celery import app
from tests.monitoring.test_several_hosts import shared_database
from tests.servers import ServerProcess, command_run, process_start

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def redis_client() -> redis.Redis:
    return redis.Redis.from_url(app.conf.broker_url, socket_connect_timeout=1)


def test_the_task_is_redelivered_when_its_worker_is_lost() -> None:
    """acks_late with reject_on_worker_lost: a killed pool process puts the message back at once."""
    assert drift_run_compute.acks_late is True
    assert drift_run_compute.reject_on_worker_lost is True


def test_a_dead_owners_lock_expires_within_its_short_ttl(settings: Any, db: None, iris_reference: Any) -> None:
    """A lock left by an owner that died (never renewed, never released) stops blocking after DRIFT_LOCK_TTL_SECONDS:
    the next run computes instead of skipping."""
    # given: a dead owner's lock
    settings.DRIFT_LOCK_TTL_SECONDS = 1
    model_id = iris_reference.model_version.model_id
    assert _lock(model_id).acquire(blocking=False, token="dead-task")
    assert drift_run_compute(model_id)["skipped"] == "already running"
    # when
    time.sleep(1.3)
    outcome = drift_run_compute(model_id)
    # then
    assert "run_id" in outcome, outcome
    assert DriftRun.objects.count() == 1


def test_a_running_owner_keeps_its_lock_past_the_ttl(settings: Any) -> None:
    """While its task runs, the owner renews the lock (TTL 1 s, held 2.5 s); on exit it is released."""
    # given
    settings.DRIFT_LOCK_TTL_SECONDS = 1
    lock = _lock(987654)
    # when
    with drift_lock_held(lock, owner="task-a") as held:
        assert held
        time.sleep(2.5)
        # then
        assert drift_run_running(model_id=987654) == "task-a"
        with drift_lock_held(_lock(987654), owner="task-b") as other:
            assert not other
    assert drift_run_running(model_id=987654) is None


def test_drift_run_while_one_runs_says_skipped_with_the_running_task(
    token_client: Any, db: None, iris_reference: Any
) -> None:
    """POST drift/run while the model's lock is held answers 409 already_running naming the running task, and
    queues nothing."""
    # given
    lock = _lock(iris_reference.model_version.model_id)
    assert lock.acquire(blocking=False, token="the-running-task")
    try:
        # when
        response = token_client.post("/api/v1/models/iris/drift/run")
    finally:
        lock.release()
    # then
    assert response.status_code == 409, response.content
    error = response.json()["error"]
    assert error["code"] == "already_running"
    assert "skipped: already running" in error["message"]
    assert error["details"] == {"skipped": "already running", "running_task_id": "the-running-task"}


def pool_children(pid: int) -> list[int]:
    """The child processes of a process (Linux /proc)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(child) for child in children]


def wait_for(check: Callable[[], Any], *, what: str, worker: ServerProcess, timeout: float = 60) -> Any:
    """Poll until check() is truthy; fail with the worker's log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        worker.check_alive()
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what} did not happen within {timeout}s\n--- worker log ---\n{worker.log_tail()}")


class TableBlocker:
    """Another client of the shared database that holds writes to the drift run table until released (PostgreSQL:
    LOCK TABLE; SQLite: an exclusive transaction, which the run's insert waits on for its busy timeout)."""

    def __init__(self, database_url: str) -> None:
        self.url = database_url
        if database_url.startswith("postgres"):
            self.connection: Any = psycopg.connect(database_url)
        else:
            self.connection = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)

    def hold(self) -> None:
        if isinstance(self.connection, sqlite3.Connection):
            self.connection.execute("BEGIN EXCLUSIVE")
        else:
            self.connection.execute("LOCK TABLE drift_driftrun IN ACCESS EXCLUSIVE MODE")

    def release(self) -> None:
        self.connection.rollback() if not isinstance(self.connection, sqlite3.Connection) else self.connection.execute(
            "ROLLBACK"
        )

    def counts(self) -> tuple[int, int]:
        """(drift runs, failed drift jobs) as the database has them now."""
        if isinstance(self.connection, sqlite3.Connection):
            runs = self.connection.execute("SELECT count(*) FROM drift_driftrun").fetchone()[0]
            failures = self.connection.execute("SELECT coalesce(sum(failures), 0) FROM drift_driftjobstats").fetchone()
            return int(runs), int(failures[0])
        with psycopg.connect(self.url) as connection:
            runs = connection.execute("SELECT count(*) FROM drift_driftrun").fetchone()
            failures = connection.execute("SELECT coalesce(sum(failures), 0) FROM drift_driftjobstats").fetchone()
        assert runs is not None and failures is not None
        return int(runs[0]), int(failures[0])

    def close(self) -> None:
        self.connection.close()


@pytest.mark.slow
def test_a_worker_killed_mid_run_loses_nothing(tmp_path: Path) -> None:
    """A real prefork worker (one pool process) runs a drift task; while the run waits on the drift run table, the
    pool process is killed with SIGKILL. The message comes back at once (not after the visibility timeout), the new
    attempt takes over its own lock, the run lands once, the lost attempt is counted in the failure totals, and the
    lock is gone afterwards."""
    with shared_database(tmp_path) as database_url:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "METRICS_", "GPU_"))}
        env.update(
            DJANGO_SETTINGS_MODULE="mlmonitor.settings.base",
            SECRET_KEY="worker-loss-test",
            DATABASE_URL=database_url,
            CELERY_BROKER_URL=app.conf.broker_url,
            REDIS_URL=app.conf.broker_url,
            MEDIA_ROOT=str(tmp_path / "media"),
            GPU_METRICS_ENABLED="0",
            LOG_LEVEL="INFO",
        )
        python = sys.executable
        command_run([python, "manage.py", "migrate", "--noinput", "-v", "0"], env=env, cwd=REPO)
        setup = (
            "from django.core.management import call_command\n"
            "from predictions.models import MLModel\n"
            "call_command('load_demo', verbosity=0)\n"
            "print(MLModel.objects.get(name='iris').pk)\n"
        )
        model_id = int(command_run([python, "manage.py", "shell", "-c", setup], env=env, cwd=REPO).split()[-1])
        command_run([str(BIN / "celery"), "-A", "mlmonitor", "purge", "-f"], env=env, cwd=REPO)
        worker_args = [str(BIN / "celery"), "-A", "mlmonitor", "worker", "-l", "info", "--pool", "prefork"]
        worker_args += ["--concurrency", "1", "--without-gossip", "--without-mingle", "-n", f"loss-{os.getpid()}@%h"]
        worker = process_start(worker_args, name="worker", log_path=tmp_path / "worker.log", env=env, cwd=REPO)
        blocker = TableBlocker(database_url)
        try:
            wait_for(lambda: "ready." in worker.log_tail(20000), what="worker start", worker=worker)
            # given: a run in progress, waiting on the drift run table
            blocker.hold()
            task = drift_run_compute.apply_async(args=(model_id,))
            wait_for(lambda: drift_run_running(model_id=model_id) == task.id, what="the run's lock", worker=worker)
            time.sleep(0.5)
            (child,) = pool_children(worker.pid)
            # when
            os.kill(child, signal.SIGKILL)
            wait_for(
                lambda: "WorkerLostError" in worker.log_tail(50000), what="the lost process noticed", worker=worker
            )
            blocker.release()
            # then
            runs, failures = wait_for(
                lambda: (counts := blocker.counts())[0] >= 1 and counts, what="the run landing", worker=worker
            )
            assert runs == 1
            assert failures == 1
            wait_for(lambda: drift_run_running(model_id=model_id) is None, what="the lock released", worker=worker)
        finally:
            blocker.close()
            worker.stop()
            redis_client().delete(_lock(model_id).name)
