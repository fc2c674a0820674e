"""`python manage.py publish_alerting [--check | --no-reload | --bootstrap]`: render, validate, swap in and reload
the alerting config (exits non-zero when a file is invalid or a server did not take the new files); or, when that
cannot be done, give Alertmanager a config to start with."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from alerts_config.services import RULES_FILENAME, alerting_publish, alertmanager_bootstrap_write


class Command(BaseCommand):
    help = (
        "Render the Prometheus rules and alertmanager.yml from the database, validate them with promtool and "
        "amtool, replace the files atomically, reload Prometheus and Alertmanager and check that they run the new "
        "files. --check only validates; --no-reload writes without reloading (before the servers start); --bootstrap "
        "writes a config that sends every alert to the service's webhook where none was published. Exits non-zero "
        "when a file is invalid or a reload failed or did not take."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--check", action="store_true", help="render and validate only; write nothing")
        mode.add_argument(
            "--no-reload", action="store_true", help="write the files without reloading (the servers are not up yet)"
        )
        mode.add_argument(
            "--bootstrap",
            action="store_true",
            help="where no config was published yet: every alert to the service's webhook, and its token file",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["bootstrap"]:
            wrote = alertmanager_bootstrap_write()
            where = settings.ALERTMANAGER_CONFIG_PATH
            self.stdout.write(f"Bootstrap {where}: {'written' if wrote else 'a published config is in place, kept'}.")
            return
        result = alerting_publish(check_only=options["check"], reload=not options["no_reload"])
        rules = settings.ALERT_RULES_DIR / RULES_FILENAME
        for note in result.notes:
            self.stdout.write(f"  {note}")
        if not result.ok:
            raise CommandError("; ".join([*result.errors, *result.reload_errors]))
        if options["check"]:
            self.stdout.write(self.style.SUCCESS("The generated rules and Alertmanager config are valid."))
            return
        self.stdout.write(
            self.style.SUCCESS(
                f"Published {rules} ({'changed' if result.rules_changed else 'unchanged'}) and "
                f"{settings.ALERTMANAGER_CONFIG_PATH} ({'changed' if result.alertmanager_changed else 'unchanged'})."
            )
        )
