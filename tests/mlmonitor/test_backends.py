"""The database backends of mlmonitor/backends: django-prometheus' django_db_* series, one cursor class per kind."""

from __future__ import annotations

import pytest
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections, transaction
from prometheus_client import REGISTRY

pytestmark = pytest.mark.django_db


def series() -> dict[str, float]:
    labels = {"alias": "default", "vendor": connection.vendor}
    return {
        name: REGISTRY.get_sample_value(name, labels) or 0.0
        for name in (
            "django_db_execute_total",
            "django_db_execute_many_total",
            "django_db_query_duration_seconds_count",
        )
    }


def test_statements_are_counted_as_django_prometheus_counts_them() -> None:
    """execute: 1 execution and 1 duration; executemany (an iterator of 3 parameter sets): 3 executions, 3 of them
    "many", 1 duration; a failed statement: counted with the driver's exception type, and still an execution."""
    # given
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE backend_series (x integer)")
    before = series()
    error_labels = {"alias": "default", "vendor": connection.vendor}
    errors_before = {
        sample.labels["type"]: sample.value
        for metric in REGISTRY.collect()
        if metric.name == "django_db_errors"
        for sample in metric.samples
        if sample.name == "django_db_errors_total" and all(sample.labels[k] == v for k, v in error_labels.items())
    }
    # when
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.executemany("INSERT INTO backend_series (x) VALUES (%s)", iter([(1,), (2,), (3,)]))
        cursor.execute("SELECT COUNT(*) FROM backend_series")
        (count,) = cursor.fetchone()
    after = series()
    with transaction.atomic():  # a savepoint: its own statements are counted outside the two snapshots
        with pytest.raises(DatabaseError), connection.cursor() as cursor:
            cursor.execute("SELECT * FROM no_such_table_here")
        failed = series()
        transaction.set_rollback(True)
    # then
    assert count == 3
    assert after["django_db_execute_total"] - before["django_db_execute_total"] == 1 + 3 + 1
    assert after["django_db_execute_many_total"] - before["django_db_execute_many_total"] == 3
    assert after["django_db_query_duration_seconds_count"] - before["django_db_query_duration_seconds_count"] == 3
    assert failed["django_db_execute_total"] - after["django_db_execute_total"] == 1 + 1  # SAVEPOINT, the statement
    assert failed["django_db_query_duration_seconds_count"] - after["django_db_query_duration_seconds_count"] == 2
    driver_error = "UndefinedTable" if connection.vendor == "postgresql" else "OperationalError"
    labels = {**error_labels, "type": driver_error}
    assert REGISTRY.get_sample_value("django_db_errors_total", labels) == errors_before.get(driver_error, 0.0) + 1


def test_cursors_share_one_class_made_once() -> None:
    """django-prometheus' SQLite backend builds a class per cursor; here every cursor of a kind has the same one."""
    # when
    with connection.cursor() as first, connection.cursor() as second:
        kinds = {type(first.cursor), type(second.cursor)}
    other = connections.create_connection(DEFAULT_DB_ALIAS)  # a second connection of the same alias
    try:
        with other.cursor() as third:
            kinds.add(type(third.cursor))
    finally:
        other.close()
    # then
    assert len(kinds) == 1
    (kind,) = kinds
    assert kind.__name__.startswith("Exporting")
