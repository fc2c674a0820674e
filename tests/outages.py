"""Real outages for tests: the database pointed at a closed port (PostgreSQL) or an unopenable file (SQLite), and a
Redis URL on a closed port. Nothing of ours is mocked: the driver fails as it does in production."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from django.db import connection

from tests.servers import free_port


@contextlib.contextmanager
def database_unreachable() -> Iterator[None]:
    """Inside the block every new connection of the default database fails (connection refused / unable to open);
    the open connection is closed first, so the next query reconnects and fails. Restored on exit.

    Needs a transactional test (`django_db(transaction=True)`): a test wrapped in one transaction cannot drop its
    connection."""
    saved = dict(connection.settings_dict)
    kept = None
    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        # close() keeps an in-memory test database open (closing would drop it): set its connection aside instead
        kept, connection.connection = connection.connection, None
    else:
        connection.close()
    if connection.vendor == "postgresql":
        connection.settings_dict.update({"HOST": "127.0.0.1", "PORT": str(free_port())})
    else:
        connection.settings_dict["NAME"] = "/nonexistent-mlmonitor-dir/db.sqlite3"
    try:
        yield
    finally:
        if kept is not None:
            if connection.connection is not None:
                connection.connection.close()
            connection.connection = kept
        else:
            connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)


def redis_url_unreachable() -> str:
    """A Redis URL on a loopback port nothing listens on (connection refused at once)."""
    return f"redis://127.0.0.1:{free_port()}/0"


@contextlib.contextmanager
def celery_redis_unreachable() -> Iterator[str]:
    """Inside the block the Celery app's broker and result backend point at a Redis URL nothing listens on: its
    connection pools and backend are dropped so the next publish connects anew, and put back on exit."""
    from mlmonitor.celery import app

    url = redis_url_unreachable()
    saved = {"broker_url": app.conf.broker_url, "result_backend": app.conf.result_backend}

    def reset() -> None:
        app._pool = None
        app.amqp._producer_pool = None
        app._backend_cache = None
        if hasattr(app._local, "backend"):
            del app._local.backend

    app.conf.update(broker_url=url, result_backend=url)
    reset()
    try:
        yield url
    finally:
        app.conf.update(saved)
        reset()
