"""Django's SQLite backend with the django_db_* series (mlmonitor/backends/__init__.py)."""

from __future__ import annotations

from typing import Any

from django_prometheus.db.backends.sqlite3 import base

from mlmonitor.backends import exporting_cursor_class


class DatabaseWrapper(base.DatabaseWrapper):  # type: ignore[misc]  # django-prometheus has no type hints
    """django-prometheus' SQLite wrapper whose cursors are of one class made once (exporting_cursor_class)."""

    def create_cursor(self, name: str | None = None) -> Any:
        """A cursor of Django's SQLite cursor class that records each statement."""
        return self.connection.cursor(factory=exporting_cursor_class(self.CURSOR_CLASS, self.alias, self.vendor))
