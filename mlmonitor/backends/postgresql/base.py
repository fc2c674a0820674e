"""Django's PostgreSQL backend with the django_db_* series (mlmonitor/backends/__init__.py)."""

from __future__ import annotations

from typing import Any

from django.db.backends.postgresql import base as django_base
from django_prometheus.db.backends.postgresql import base

from mlmonitor.backends import exporting_cursor_class


class DatabaseWrapper(base.DatabaseWrapper):  # type: ignore[misc]  # django-prometheus has no type hints
    """django-prometheus' PostgreSQL wrapper whose connections make cursors of a class made once per cursor class
    (exporting_cursor_class) instead of one more class per connection. Cursors come from Django's own create_cursor,
    as django-prometheus' override only delegates there (one call fewer per cursor)."""

    def get_connection_params(self) -> dict[str, Any]:
        """Django's connection parameters, with the psycopg cursor factory that records each statement."""
        params: dict[str, Any] = django_base.DatabaseWrapper.get_connection_params(self)
        params["cursor_factory"] = exporting_cursor_class(params["cursor_factory"], self.alias, self.vendor)
        return params

    create_cursor = django_base.DatabaseWrapper.create_cursor
