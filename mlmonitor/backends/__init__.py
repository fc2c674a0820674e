"""Database backends with django-prometheus' database series, recorded at less cost per statement.

METRICS_ENABLED puts these in place of Django's PostgreSQL and SQLite backends (mlmonitor/settings/base.py). They are
django-prometheus' backends (connections counted, django_db_* series under the same names and labels), with one
change: each statement is recorded by `statement_record` (one MetricWrites write, labelled children looked up once per
process) through a cursor class made once per (driver cursor class, alias, vendor). django-prometheus' own wrapper
builds a new cursor class for every SQLite cursor (about 10 us, and a class for the garbage collector to free) and
looks up its labelled children on every statement; measured on the SQLite predict path in docs/benchmarks.md
("Monitoring cost").
"""

from __future__ import annotations

import functools
import time
from typing import Any

from django_prometheus.db import errors_total, execute_many_total, execute_total, query_duration_seconds

from mlmonitor.metrics import MetricWrites, labelled


def statement_record(
    *,
    alias: str,
    vendor: str,
    seconds: float,
    error: BaseException | None,
    executions: int = 1,
    many: bool = False,
    writes: MetricWrites | None = None,
) -> None:
    """Record one statement as django-prometheus' cursor wrapper does: `executions` (the parameter sets of an
    executemany, else 1) in django_db_execute_total and, for executemany, django_db_execute_many_total; its duration
    (seconds) in django_db_query_duration_seconds; a failure in django_db_errors_total by exception type name. Into
    `writes` when given (the caller writes them), else written here."""
    executed, duration = _statement_children(alias, vendor)
    gathered = MetricWrites() if writes is None else writes
    gathered.inc(executed, executions)
    if many:
        gathered.inc(labelled(execute_many_total, alias, vendor), executions)
    gathered.observe(duration, seconds)
    if error is not None:
        gathered.inc(labelled(errors_total, alias, vendor, type(error).__name__))
    if writes is None:
        gathered.write()


@functools.cache
def _statement_children(alias: str, vendor: str) -> tuple[Any, Any]:
    """The execute and duration children of one (alias, vendor), the series every statement touches: looked up once
    per process, not once per statement."""
    return labelled(execute_total, alias, vendor), labelled(query_duration_seconds, alias, vendor)


@functools.cache
def exporting_cursor_class(cursor_class: type, alias: str, vendor: str) -> type:
    """`cursor_class` (a driver's cursor, or Django's SQLite cursor wrapper) recording each statement in the django_db_*
    series (statement_record); one class per argument triple, for the life of the process."""

    class ExportingCursor(cursor_class):  # type: ignore[misc]  # a class given at run time
        def execute(self, *args: Any, **kwargs: Any) -> Any:
            started, error = time.perf_counter(), None
            try:
                return super().execute(*args, **kwargs)
            except BaseException as exc:
                error = exc
                raise
            finally:
                statement_record(alias=alias, vendor=vendor, seconds=time.perf_counter() - started, error=error)

        def executemany(self, query: Any, param_list: Any, *args: Any, **kwargs: Any) -> Any:
            if not hasattr(param_list, "__len__"):  # Django may pass an iterator
                param_list = list(param_list)
            started, error = time.perf_counter(), None
            try:
                return super().executemany(query, param_list, *args, **kwargs)
            except BaseException as exc:
                error = exc
                raise
            finally:
                statement_record(
                    alias=alias,
                    vendor=vendor,
                    seconds=time.perf_counter() - started,
                    error=error,
                    executions=len(param_list),
                    many=True,
                )

    ExportingCursor.__qualname__ = ExportingCursor.__name__ = f"Exporting{cursor_class.__name__}"
    return ExportingCursor
