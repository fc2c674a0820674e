"""Helpers for tests that start real servers (gunicorn, Celery workers, Prometheus): free ports, waiting for HTTP,
and processes whose output goes to a log file that is shown when the test fails.

Only loopback addresses are used; every process started here is stopped by its own id (and its own session).
"""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

LOOPBACK = "127.0.0.1"
ALLOW_MISSING_TOOLS = "MLMONITOR_ALLOW_MISSING_TOOLS"


class ServerError(RuntimeError):
    """A server that did not start, did not answer in time, or died."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def http_get(port: int, path: str, *, timeout: float = 10.0, host: str = LOOPBACK) -> tuple[int, bytes]:
    """GET a path from a loopback server; return (status, body)."""
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@dataclass
class ServerProcess:
    """A started process with its log file."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        """The process id."""
        return self.process.pid

    def log_tail(self, chars: int = 6000) -> str:
        """The end of the process' combined stdout/stderr."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError as exc:
            return f"(no log: {exc})"
        return text[-chars:]

    def check_alive(self) -> None:
        """Raise ServerError, with the log, if the process has exited."""
        code = self.process.poll()
        if code is not None:
            raise ServerError(f"{self.name} exited with status {code}.\n--- {self.name} log ---\n{self.log_tail()}")

    def stop(self, *, timeout: float = 15.0) -> int | None:
        """SIGTERM, wait; then SIGKILL the process' own session if it has not gone. Returns the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)  # its own session, started below: only its children
                self.process.wait(timeout=timeout)
        return self.process.returncode


def process_start(
    args: Sequence[str],
    *,
    name: str,
    log_path: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | str | None = None,
) -> ServerProcess:
    """Start a process in its own session, stdout and stderr to log_path."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            list(args),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
        )
    return ServerProcess(name=name, process=process, log_path=log_path)


@contextlib.contextmanager
def running(
    args: Sequence[str],
    *,
    name: str,
    log_path: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | str | None = None,
    stop_timeout: float = 15.0,
) -> Iterator[ServerProcess]:
    """Run a process for the duration of a block; it is always stopped, and a failure inside shows its log."""
    server = process_start(args, name=name, log_path=log_path, env=env, cwd=cwd)
    try:
        yield server
    except BaseException as exc:
        exc.add_note(f"--- {name} (pid {server.pid}) log, {log_path} ---\n{server.log_tail()}")
        raise
    finally:
        server.stop(timeout=stop_timeout)


def wait_for_http(
    port: int,
    path: str = "/",
    *,
    timeout: float = 30.0,
    expect_status: int = 200,
    server: ServerProcess | None = None,
    host: str = LOOPBACK,
) -> bytes:
    """Poll a loopback URL until it answers expect_status; raise ServerError (with the server's log) otherwise."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if server is not None:
            server.check_alive()
        try:
            status, body = http_get(port, path, timeout=2.0, host=host)
        except OSError as exc:
            last = f"{type(exc).__name__}: {exc}"
        else:
            if status == expect_status:
                return body
            last = f"status {status}: {body[:200]!r}"
        time.sleep(0.1)
    log = f"\n--- {server.name} log ---\n{server.log_tail()}" if server is not None else ""
    raise ServerError(f"http://{host}:{port}{path} did not answer {expect_status} within {timeout}s ({last}).{log}")


def command_run(
    args: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | str | None = None,
    timeout: float = 120.0,
) -> str:
    """Run a command to completion; raise ServerError with its output when it fails. Returns its output."""
    try:
        result = subprocess.run(
            list(args),
            env=dict(env) if env is not None else None,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ServerError(f"{' '.join(args)} did not finish within {timeout}s:\n{exc.output!r}") from exc
    output = result.stdout.decode(errors="replace")
    if result.returncode != 0:
        raise ServerError(f"{' '.join(args)} failed with status {result.returncode}:\n{output[-6000:]}")
    return output


def required_tool(name: str, *, package: str = "prometheus") -> str:
    """The path of an external program the test needs (a name on PATH, or an absolute path): a missing one fails the
    test, with how to get it, unless MLMONITOR_ALLOW_MISSING_TOOLS=1 is set, which skips it instead."""
    path = shutil.which(name)
    if path is not None:
        return path
    message = (
        f"{name} is not installed (Debian: apt-get install {package}, or `make test`, which installs it); "
        f"set {ALLOW_MISSING_TOOLS}=1 to skip the tests that need it."
    )
    if os.environ.get(ALLOW_MISSING_TOOLS) == "1":
        pytest.skip(message)
    pytest.fail(message)


def promtool_check_metrics(exposition: bytes) -> str:
    """Feed a Prometheus text exposition to `promtool check metrics` on stdin; fail the test with its complaints."""
    promtool = required_tool("promtool")
    result = subprocess.run(
        [promtool, "check", "metrics"], input=exposition, capture_output=True, timeout=30, check=False
    )
    output = (result.stdout + result.stderr).decode(errors="replace")
    if result.returncode != 0:
        pytest.fail(f"promtool check metrics failed (status {result.returncode}):\n{output}")
    return output
