"""gunicorn settings: `WEB_SERVER=gunicorn python -m mlmonitor.serve`, or `gunicorn -c mlmonitor/gunicorn.conf.py`.

The WEB_* variables are the ones granian reads through mlmonitor/serve.py (the default server); GUNICORN_* are
gunicorn's own. Multiprocess Prometheus metrics (client_python "multiprocess" docs): PROMETHEUS_MULTIPROC_DIR must be
set in the environment before gunicorn starts; the directory is wiped here before the workers fork and a dead
worker's live gauges are dropped. Workers are never recycled (max_requests = 0): each recycled worker leaves files
behind.
"""

from __future__ import annotations

import os
from typing import Any

bind = os.environ.get("WEB_BIND") or "127.0.0.1:8000"
# gthread: keep-alive connections and a thread pool that overlaps database waits; see docs/benchmarks.md.
worker_class = os.environ.get("GUNICORN_WORKER_CLASS") or "gthread"
workers = int(os.environ.get("WEB_WORKERS") or "2")
threads = int(os.environ.get("WEB_THREADS") or "8")  # 8 measured 1.35x the req/s of 4 (docs/benchmarks.md)
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE") or "5")
timeout = int(os.environ.get("GUNICORN_TIMEOUT") or "60")
graceful_timeout = 20
max_requests = 0
accesslog = os.environ.get("WEB_ACCESSLOG") or None
errorlog = "-"
loglevel = os.environ.get("WEB_LOGLEVEL") or "info"
wsgi_app = "mlmonitor.wsgi:application"


def on_starting(server: Any) -> None:
    """Start from an empty metrics directory, so a restart does not resurrect old counters of dead processes."""
    from mlmonitor.serve import multiprocess_directory_reset

    multiprocess_directory_reset()


def child_exit(server: Any, worker: Any) -> None:
    """Drop the live gauges of a worker that exited."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
