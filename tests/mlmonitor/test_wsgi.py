"""The WSGI entry point (mlmonitor/wsgi.py)."""

from __future__ import annotations

import gc
import importlib

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
