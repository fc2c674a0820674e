"""Retention: predictions, drift runs and alert events older than their settings are removed in bounded batches.

Each app prunes its own table in its services (`prediction_prune`, `drift_run_prune`, `alert_event_prune`); this
module holds what they share (the result type, the batch loop for small tables) and `history_prune`, which runs all
three, for `manage.py prune_history` and the beat task `predictions.tasks.history_prune`. Many small deletes, each
its own short transaction, keep row locks brief and let autovacuum keep up (DESIGN-NOTES, "Keeping the prediction
log bounded").
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone


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


def primary_key_batches_delete(queryset: models.QuerySet, *, batch_size: int) -> tuple[int, int]:
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
    model: type[models.Model],
    retention_days: int,
    dry_run: bool,
    now: datetime | None,
    rows_old: Callable[[datetime], models.QuerySet],
    delete: Callable[[models.QuerySet], tuple[int, int]],
    note: str = "",
    dry_run_note: Callable[[models.QuerySet], str] | None = None,
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


def history_prune(*, dry_run: bool = False, now: datetime | None = None) -> list[PruneResult]:
    """Prune the prediction log, drift runs and alert events by their retention settings, one table after another."""
    from alerts_config.services import alert_event_prune
    from drift.services import drift_run_prune
    from predictions.services import prediction_prune

    steps: list[tuple[Callable[..., PruneResult], int]] = [
        (prediction_prune, settings.PREDICTION_RETENTION_DAYS),
        (drift_run_prune, settings.DRIFT_RUN_RETENTION_DAYS),
        (alert_event_prune, settings.ALERT_EVENT_RETENTION_DAYS),
    ]
    return [
        prune(retention_days=days, batch_size=settings.PRUNE_BATCH_SIZE, dry_run=dry_run, now=now)
        for prune, days in steps
    ]
