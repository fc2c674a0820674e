"""`python manage.py prune_history [--dry-run]`: remove predictions, drift runs and alert events past retention."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from mlmonitor.retention import history_prune


class Command(BaseCommand):
    help = (
        "Remove predictions, drift runs (the latest of each model is kept) and alert events older than "
        "PREDICTION_RETENTION_DAYS, DRIFT_RUN_RETENTION_DAYS and ALERT_EVENT_RETENTION_DAYS, in batches of "
        "PRUNE_BATCH_SIZE rows, each its own transaction. --dry-run says what it would remove, per table."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="count what would be removed; remove nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["verbosity"] >= 2:
            self.stdout.write(
                f"pruning in batches of {settings.PRUNE_BATCH_SIZE} rows, "
                f"{settings.PRUNE_BATCH_PAUSE_SECONDS} s apart{' (dry run)' if options['dry_run'] else ''}"
            )
            self.stdout.flush()
        for result in history_prune(dry_run=options["dry_run"]):
            self.stdout.write(result.describe())
