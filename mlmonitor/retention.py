"""Retention: predictions, drift runs and alert events older than their settings are removed in bounded batches.

Each app prunes its own table in its services (`prediction_prune`, `drift_run_prune`, `alert_event_prune`); this
module holds what they share (the result type, the batch loop for small tables) and `history_prune`, which runs all
three (named in HISTORY_PRUNERS: this package imports no app), for `manage.py prune_history` and the beat task
`predictions.tasks.history_prune`. Many small deletes, each its own short transaction, keep row locks brief and let
autovacuum keep up (docs/benchmarks.md, "Pruning the prediction log").
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

_Row = TypeVar("_Row", bound=models.Model)


@dataclass(frozen=True)
class PruneResult:
    """What pruning one table did (or, with dry_run, would do): rows removed or matched, batches, seconds taken."""

    table: str
    retention_days: int
    cutoff: datetime | None
    rows: int
    batches: int = 0
    seconds: float = 0.0
    dry_run: bool = False
    note: str = ""

    def describe(self) -> str:
        """One line for the command and the task's log."""
        if self.cutoff is None:
            return f"{self.table}: kept forever (retention 0)"
        verb = "would remove" if self.dry_run else "removed"
        text = f"{self.table}: {verb} {self.rows} rows older than {self.cutoff:%Y-%m-%d %H:%M:%S} UTC"
        text += f" ({self.retention_days} days)"
        if not self.dry_run:
            text += f" in {self.batches} batches, {self.seconds:.1f} s"
        return text + (f"; {self.note}" if self.note else "")


def retention_cutoff(days: int, *, now: datetime | None = None) -> datetime | None:
    """The moment before which rows are removed; None when the retention is 0 (keep forever)."""
    if days <= 0:
        return None
    return (now or timezone.now()) - timedelta(days=days)


def batch_pause() -> None:
    """Leave the database to other work between two batches (PRUNE_BATCH_PAUSE_SECONDS)."""
    if settings.PRUNE_BATCH_PAUSE_SECONDS > 0:
        time.sleep(settings.PRUNE_BATCH_PAUSE_SECONDS)


def primary_key_batches_delete(queryset: models.QuerySet[_Row], *, batch_size: int) -> tuple[int, int]:
    """Delete the rows of `queryset` (cascades included) a batch of primary keys at a time, each batch its own
    transaction, lowest keys first. Returns (rows of the queryset's model deleted, batches)."""
    label = queryset.model._meta.label
    deleted = batches = 0
    while True:
        with transaction.atomic():
            keys = list(queryset.order_by("pk").values_list("pk", flat=True)[:batch_size])
            if not keys:
                return deleted, batches
            _, per_model = queryset.model._default_manager.filter(pk__in=keys).delete()
        deleted += per_model.get(label, 0)
        batches += 1
        batch_pause()


def table_prune(
    *,
    model: type[_Row],
    retention_days: int,
    dry_run: bool,
    now: datetime | None,
    rows_old: Callable[[datetime], models.QuerySet[_Row]],
    delete: Callable[[models.QuerySet[_Row]], tuple[int, int]],
    note: str = "",
    dry_run_note: Callable[[models.QuerySet[_Row]], str] | None = None,
) -> PruneResult:
    """The frame every table's pruning shares: the cutoff (none: keep forever), the rows before it (`rows_old`),
    counted for a dry run or removed by `delete` (which returns rows and batches), timed."""
    table = model._meta.db_table
    cutoff = retention_cutoff(retention_days, now=now)
    if cutoff is None:
        return PruneResult(table=table, retention_days=retention_days, cutoff=None, rows=0, dry_run=dry_run)
    old = rows_old(cutoff)
    if dry_run:
        notes = "; ".join(part for part in (note, dry_run_note(old) if dry_run_note else "") if part)
        return PruneResult(
            table=table, retention_days=retention_days, cutoff=cutoff, rows=old.count(), dry_run=True, note=notes
        )
    started = time.perf_counter()
    rows, batches = delete(old)
    return PruneResult(
        table=table,
        retention_days=retention_days,
        cutoff=cutoff,
        rows=rows,
        batches=batches,
        seconds=time.perf_counter() - started,
        note=note,
    )


class TablePruner(Protocol):
    """What each app's pruner is (`prediction_prune`, `drift_run_prune`, `alert_event_prune`)."""

    def __call__(
        self, *, retention_days: int, batch_size: int, dry_run: bool = False, now: datetime | None = None
    ) -> PruneResult: ...


def history_prune(*, dry_run: bool = False, now: datetime | None = None) -> list[PruneResult]:
    """Prune the prediction log, drift runs and alert events by their retention settings, one table after another:
    the pruners named in HISTORY_PRUNERS, imported by path."""
    results = []
    for path, retention_setting in settings.HISTORY_PRUNERS:
        prune: TablePruner = import_string(path)
        days = int(getattr(settings, retention_setting))
        results.append(prune(retention_days=days, batch_size=settings.PRUNE_BATCH_SIZE, dry_run=dry_run, now=now))
    return results
