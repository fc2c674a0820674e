"""gunicorn settings: `WEB_SERVER=gunicorn python -m mlmonitor.serve`, or `gunicorn -c mlmonitor/gunicorn.conf.py`.

The WEB_* variables are the ones granian reads through mlmonitor/serve.py (the default server); GUNICORN_* are
gunicorn's own. Multiprocess Prometheus metrics (client_python "multiprocess" docs): PROMETHEUS_MULTIPROC_DIR must be
set in the environment before gunicorn starts; the directory is wiped here before the workers fork and a dead
worker's live gauges are dropped. Workers are never recycled (max_requests = 0): each recycled worker leaves files
behind.
"""

from __future__ import annotations

import hashlib
import os
import re
from typing import Any

from mlmonitor.environment import environ_or, environ_value
from mlmonitor.serve import GRACEFUL_SECONDS

# Blank counts as unset, as in the settings (mlmonitor.environment).
bind = environ_or("WEB_BIND", "127.0.0.1:8000")
# gthread: keep-alive connections and a thread pool that overlaps database waits; see docs/benchmarks.md.
worker_class = environ_or("GUNICORN_WORKER_CLASS", "gthread")
workers = int(environ_or("WEB_WORKERS", "2"))
threads = int(environ_or("WEB_THREADS", "8"))  # 8 measured 1.35x the req/s of 4 (docs/benchmarks.md)
keepalive = int(environ_or("GUNICORN_KEEPALIVE", "5"))
timeout = int(environ_or("GUNICORN_TIMEOUT", "60"))
graceful_timeout = GRACEFUL_SECONDS  # as granian's --workers-kill-timeout (mlmonitor/serve.py)
max_requests = 0
accesslog = environ_value("WEB_ACCESSLOG")
errorlog = "-"
loglevel = environ_or("WEB_LOGLEVEL", "info")
wsgi_app = "mlmonitor.wsgi:application"


def on_starting(server: Any) -> None:
    """Start from an empty metrics directory, so a restart does not resurrect old counters of dead processes."""
    from mlmonitor.serve import multiprocess_directory_reset

    multiprocess_directory_reset()


def when_ready(server: Any) -> None:
    """Give the control socket (`gunicornc`, gunicorn 25.1+) a path of this server's own, named after the addresses
    it listens on, unless --control-socket chose one: gunicorn's default is one path per user, so a second gunicorn
    started by the same user took it over (unlinking the first's socket), and stopping either removed it. Only one
    running server can listen on an address, so the name is unique among running servers; it is logged."""
    setting = server.cfg.settings["control_socket"]
    if server.cfg.control_socket_disable or server.cfg.control_socket != setting.default:
        return
    path = control_socket_path(os.path.dirname(setting.default), [str(listener) for listener in server.LISTENERS])
    server.cfg.set("control_socket", path)
    server.log.info("Control socket (gunicornc -s): %s", path)


def control_socket_path(directory: str, addresses: list[str]) -> str:
    """`<directory>/gunicorn-<addresses>-<digest>.ctl`: the addresses made safe for a file name, for the reader, and a
    digest of them as given, for uniqueness (`unix:/a_b.sock` and `unix:/a-b.sock` read the same once made safe); the
    digest alone where the name would pass the 108-byte limit of a Unix socket path."""
    given = "_".join(addresses)
    digest = hashlib.sha256(given.encode()).hexdigest()
    readable = re.sub(r"[^A-Za-z0-9.]+", "-", given).strip("-")
    name = f"{readable}-{digest[:8]}" if len(directory) + len(readable) <= 70 else digest[:20]
    return os.path.join(directory, f"gunicorn-{name}.ctl")


def child_exit(server: Any, worker: Any) -> None:
    """Drop the live gauges of a worker that exited."""
    if environ_value("PROMETHEUS_MULTIPROC_DIR") is not None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
