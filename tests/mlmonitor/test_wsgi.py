"""The WSGI entry point (mlmonitor/wsgi.py)."""

from __future__ import annotations

import gc
import importlib
import sqlite3
import threading
from typing import Any

import pytest
from django.db import DEFAULT_DB_ALIAS, connection, connections

import mlmonitor.wsgi


def test_wsgi_module_freezes_the_startup_objects() -> None:
    """Loading the WSGI application moves the objects of Django's setup out of the collector's generations, so full
    collections during requests do not walk them again; the collector itself stays on."""
    # given: nothing frozen
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    # when
    importlib.reload(mlmonitor.wsgi)
    # then
    assert gc.get_freeze_count() > 10_000
    assert gc.isenabled()
    assert callable(mlmonitor.wsgi.application)


@pytest.mark.django_db(transaction=True)
def test_a_threads_database_connection_is_closed_when_the_thread_ends() -> None:
    """granian ends idle worker threads; the connection such a thread opened is closed as the thread ends (before,
    it stayed open until a full garbage collection freed Django's connection object, and the server's connection
    count grew with every idle period: 16, 22, 26 on PostgreSQL over three bursts of 400 requests)."""
    # given: the receiver of mlmonitor.wsgi, and a thread that opens its own connection and ends
    assert mlmonitor.wsgi.thread_connections_close_at_exit is not None
    opened: list[Any] = []

    def work() -> None:
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            cursor.execute("SELECT 1")
        opened.append(connections[DEFAULT_DB_ALIAS].connection)

    # when
    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    del thread
    # then: the driver connection is closed, without any garbage collection
    (driver_connection,) = opened
    if connection.vendor == "postgresql":
        assert driver_connection.closed
    else:
        with pytest.raises(sqlite3.ProgrammingError, match="closed"):
            driver_connection.execute("SELECT 1")
