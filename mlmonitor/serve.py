"""The web server: `python -m mlmonitor.serve [server arguments]` runs the WSGI app (mlmonitor.wsgi) under granian,
or under gunicorn with WEB_SERVER=gunicorn.

granian is the default: its HTTP server is written in Rust and calls the app from a pool of Python threads per
worker process; on the predict benchmark it spent 0.45 ms of CPU per request against gunicorn gthread's 0.77 ms, at
1.6x the requests per second and a third of the p99 (docs/benchmarks.md, "WSGI server"). gunicorn stays supported
(`mlmonitor/gunicorn.conf.py`), for its worker timeout and control socket (`gunicornc`; without --control-socket, a
path of the server's own, named after its address and logged at start).

Both read the same variables: WEB_BIND (host:port, default 127.0.0.1:8000), WEB_WORKERS (processes, 2),
WEB_THREADS (threads per process, 8), WEB_LOGLEVEL (info) and WEB_ACCESSLOG (granian: any value turns its access
log on; gunicorn: a path, `-` for stdout). Arguments after the command go to the server as they are (granian's
GRANIAN_* variables work too).

Multiprocess metrics (client_python "multiprocess" docs): every worker is a process of its own, so without
PROMETHEUS_MULTIPROC_DIR each scrape would show only the counts of the worker that answered it; where it is unset the
launcher sets it to a new private directory under the system's temporary directory, one per start
(`multiprocess_directory_default`). A directory that was set is emptied here before any worker starts, so a restart
does not resurrect the counters of dead processes; the live gauges of a worker that died are dropped by the scrape
(mlmonitor.metrics.dead_processes_forget), whichever server runs.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from mlmonitor.environment import environ_or, environ_value

SERVERS = ("granian", "gunicorn")
# Seconds a worker may take to stop after SIGTERM (finishing its requests) before it is killed: gunicorn's
# graceful_timeout (mlmonitor/gunicorn.conf.py) and granian's --workers-kill-timeout, without which granian waits for
# its workers without limit (a worker respawned after a kill once took more than 90 s to stop, in a full test run).
GRACEFUL_SECONDS = 20
WSGI_APP = "mlmonitor.wsgi:application"


def multiprocess_directory_reset(environ: Mapping[str, str] = os.environ) -> None:
    """Empty (or create) PROMETHEUS_MULTIPROC_DIR when it is set; nothing otherwise."""
    directory = environ_value("PROMETHEUS_MULTIPROC_DIR", environ)
    if directory is not None:
        path = Path(directory)
        if path.exists():
            shutil.rmtree(path)
        path.mkdir(parents=True, exist_ok=True)


def multiprocess_directory_default(environ: Mapping[str, str]) -> str:
    """PROMETHEUS_MULTIPROC_DIR where set, else a new private directory (mode 0700, a name no one can predict) under
    the temporary directory: each start its own, so a second start on the same address or port cannot empty or mix a
    running server's counts. It outlives the server (the launcher replaces itself with it): the system's cleaning of
    the temporary directory removes it."""
    return environ_value("PROMETHEUS_MULTIPROC_DIR", environ) or tempfile.mkdtemp(prefix="mlmonitor-prometheus-")


def bind_split(bind: str) -> tuple[str, str]:
    """`host:port` (IPv6 hosts in brackets) -> (host, port); ValueError for anything else."""
    host, separator, port = bind.rpartition(":")
    if not separator or not host or not port.isdigit():
        raise ValueError(f"WEB_BIND must be host:port, got {bind!r}")
    return host.strip("[]"), port


def server_command(environ: Mapping[str, str], arguments: Sequence[str] = ()) -> list[str]:
    """The command line of the server WEB_SERVER names, from the WEB_* variables; ValueError for an unknown server
    or a malformed WEB_BIND."""
    server = environ_or("WEB_SERVER", "granian", environ)
    if server not in SERVERS:
        raise ValueError(f"WEB_SERVER must be one of {', '.join(SERVERS)}, got {server!r}")
    if server == "gunicorn":  # mlmonitor/gunicorn.conf.py reads the WEB_* variables itself
        return [sys.executable, "-m", "gunicorn", "-c", "mlmonitor/gunicorn.conf.py", *arguments]
    host, port = bind_split(environ_or("WEB_BIND", "127.0.0.1:8000", environ))
    command = [
        sys.executable,
        "-m",
        "granian",
        "--interface",
        "wsgi",
        "--host",
        host,
        "--port",
        port,
        "--workers",
        environ_or("WEB_WORKERS", "2", environ),
        "--blocking-threads",
        environ_or("WEB_THREADS", "8", environ),
        "--no-ws",
        "--log-level",
        environ_or("WEB_LOGLEVEL", "info", environ),
        "--respawn-failed-workers",
        "--workers-kill-timeout",
        str(GRACEFUL_SECONDS),
    ]
    if environ_value("WEB_ACCESSLOG", environ) is not None:
        command.append("--access-log")
    return [*command, *arguments, WSGI_APP]


def main(argv: Sequence[str] | None = None) -> None:
    """Set (where unset) and reset the metrics directory, and replace this process with the server (signals then
    reach it directly)."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    try:
        command = server_command(os.environ, arguments)
    except ValueError as exc:
        sys.exit(f"mlmonitor.serve: {exc}")
    if environ_value("PROMETHEUS_MULTIPROC_DIR") is not None:
        try:
            multiprocess_directory_reset()
        except OSError as exc:  # a file, a link, no permission: say which setting, not a traceback
            sys.exit(f"mlmonitor.serve: PROMETHEUS_MULTIPROC_DIR cannot be emptied: {exc}")
    else:  # a new directory, empty and private: nothing to reset
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = multiprocess_directory_default(os.environ)
    os.execv(command[0], command)  # noqa: S606 - the arguments are a list, never a shell line


if __name__ == "__main__":
    main()
