"""Run calls at once, each in its own thread (its own database connection), lined up at their first write or lock
of a registry row (a model's or a model version's): the start of a race between two changes of the registry."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

_T = TypeVar("_T")


def together_at_first_write(
    calls: list[Callable[[], _T]], tables: tuple[str, ...] = ("predictions_mlmodel",)
) -> tuple[list[_T | None], list[BaseException]]:
    """Run each call in its own thread; each waits for the others just before its first UPDATE of a row or
    SELECT ... FOR [NO KEY] UPDATE of rows of one of `tables` (inside its transaction; models by default). Their results
    (None where one raised), in the order of `calls`, and what they raised."""
    from django.db import connection, connections

    barrier = threading.Barrier(len(calls), timeout=30)
    results: list[_T | None] = [None] * len(calls)
    errors: list[BaseException] = []

    def run(index: int, call: Callable[[], _T]) -> None:
        waited = False

        def line_up(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
            nonlocal waited
            writes = sql.lstrip().startswith("UPDATE") or "FOR UPDATE" in sql or "FOR NO KEY UPDATE" in sql
            if not waited and writes and any(f'"{table}"' in sql for table in tables):
                waited = True
                barrier.wait()
            return execute(sql, params, many, context)

        try:
            with connection.execute_wrapper(line_up):
                results[index] = call()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(index, call)) for index, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results, errors
