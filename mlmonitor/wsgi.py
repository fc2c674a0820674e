"""WSGI entry point for the web server (granian by default, or gunicorn: mlmonitor/serve.py).

Once Django is set up, the objects that exist (about 190,000: modules, classes, settings, the URL and middleware
machinery) live as long as the process; `gc.freeze()` moves them out of the collector's generations. Without it every
full collection walks all of them again, and a batch request, whose parsed rows and answer dicts survive a young
collection or two, brings a full collection every few dozen requests: measured, about half the CPU of a 1,000-row
batch (docs/benchmarks.md, "Batch path"). Objects created later are collected as before.

Database connections are per thread in Django. granian stops a worker thread that has been idle for a while and
starts a new one when requests come back; the old thread's connection would stay open until a full garbage
collection happened to free it (Django's connection objects hold reference cycles), so every idle period left a few
more server connections behind. `thread_connections_close_at_exit` closes a thread's connections when its
thread-local state is freed, which is when the thread ends.
"""

from __future__ import annotations

import gc
import os
import threading
from typing import Any

from django.core.wsgi import get_wsgi_application
from django.db.backends.signals import connection_created

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlmonitor.settings.base")


class _ClosedAtThreadExit:
    """Held only by one thread's local storage (no cycle), so it is freed as soon as that thread ends; it then
    closes the driver connections the thread opened. The driver's close() needs no particular thread (Django's own
    close() would refuse to run outside the thread that owns the connection)."""

    def __init__(self) -> None:
        self.wrappers: dict[str, Any] = {}

    def __del__(self) -> None:
        for wrapper in self.wrappers.values():
            driver_connection = getattr(wrapper, "connection", None)
            if driver_connection is not None:
                try:
                    driver_connection.close()
                except Exception:  # noqa: S110 - a connection the server already dropped: nothing left to close
                    pass


_thread_state = threading.local()


def thread_connections_close_at_exit(sender: Any, connection: Any, **kwargs: Any) -> None:
    """`connection_created` receiver: remember the new connection's wrapper in this thread's local storage."""
    closer = getattr(_thread_state, "closer", None)
    if closer is None:
        closer = _thread_state.closer = _ClosedAtThreadExit()
    closer.wrappers[connection.alias] = connection


connection_created.connect(thread_connections_close_at_exit, dispatch_uid="mlmonitor.wsgi.thread_connections")

application = get_wsgi_application()
gc.freeze()
