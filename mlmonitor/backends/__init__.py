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

import bisect
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
    executed, bounds, buckets, duration_sum = _statement_values(alias, vendor)
    values = [executed, buckets[bisect.bisect_left(bounds, seconds)], duration_sum]
    amounts = [float(executions), 1.0, seconds]
    if many:
        values.append(labelled(execute_many_total, alias, vendor)._value)
        amounts.append(float(executions))
    if error is not None:
        values.append(labelled(errors_total, alias, vendor, type(error).__name__)._value)
        amounts.append(1.0)
    if writes is None:
        MetricWrites.write_values(values, amounts)
    else:
        writes.extend(values, amounts)


@functools.cache
def _statement_values(alias: str, vendor: str) -> tuple[Any, list[float], tuple[Any, ...], Any]:
    """The values every statement of one (alias, vendor) writes (MetricWrites.values_of), looked up once per process,
    not once per statement: the execute counter's; the duration histogram's bucket upper bounds, buckets and sum."""
    (executed,) = MetricWrites.values_of(labelled(execute_total, alias, vendor))
    duration = labelled(query_duration_seconds, alias, vendor)
    histogram = MetricWrites.values_of(duration)  # its buckets' values, then its sum's
    return executed, duration._upper_bounds, histogram[:-1], histogram[-1]


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
