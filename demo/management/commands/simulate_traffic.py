"""`python manage.py simulate_traffic`: realistic traffic against a running mlmonitor, with drift after a while.

Rows are sampled from the model's active reference dataset; after --drift-after seconds the named features are
shifted by --shift reference standard deviations. A share of predictions gets a true label posted back (the model's
answer, wrong in --error-rate of cases, more often once drift starts), so accuracy and F1 move too.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from drift.selectors import reference_dataset_active_get
from drift.services import reference_table_read
from mlmonitor.environment import environ_or, environ_value
from predictions.schema import CATEGORICAL
from predictions.selectors import model_version_resolve


def _post(url: str, body: Any, token: str | None, timeout: float = 5.0) -> tuple[int, Any]:
    """POST JSON, return (status, decoded body)."""
    if not url.startswith(("http://", "https://")):
        raise CommandError(f"--url must be http(s), not {url!r}")
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")  # noqa: S310 - checked
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - operator-given URL
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, None


class Command(BaseCommand):
    help = "Send predictions sampled from the reference data to a running service, shifting features after a delay."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--model", default="iris")
        parser.add_argument("--rate", type=float, default=20.0, help="predictions per second")
        parser.add_argument("--duration", type=float, default=300.0, help="seconds; the command stops by itself")
        parser.add_argument("--drift-after", type=float, default=None, help="seconds before the shift starts")
        parser.add_argument("--drift-features", default="", help="comma-separated feature names to shift")
        parser.add_argument("--shift", type=float, default=2.0, help="shift in reference standard deviations")
        parser.add_argument("--label-share", type=float, default=0.3, help="share of predictions that get a label")
        parser.add_argument("--error-rate", type=float, default=0.05, help="wrong labels before drift")
        parser.add_argument("--url", default=environ_or("MLMONITOR_URL", "http://127.0.0.1:8000"))
        parser.add_argument(
            "--token",
            default=environ_value("MLMONITOR_API_TOKEN"),
            help="API token for feedback (default: $MLMONITOR_API_TOKEN or .run/api_token)",
        )
        parser.add_argument("--seed", type=int, default=0)

    def handle(self, *args: Any, **options: Any) -> None:
        version = model_version_resolve(model_name=options["model"])
        reference = reference_dataset_active_get(model_version=version)
        if reference is None:
            raise CommandError(f"Model {options['model']} v{version.version} has no reference dataset to sample.")
        with reference.file.open("rb") as handle:
            table = reference_table_read(
                data=handle.read(),
                file_format=reference.file_format,
                model_version=version,
                label_column=reference.label_column or None,
            )
        schema = version.schema
        drift_features = [f for f in options["drift_features"].split(",") if f]
        unknown = [f for f in drift_features if f not in schema.names]
        if unknown:
            raise CommandError(f"Unknown features: {', '.join(unknown)} (the schema has {', '.join(schema.names)}).")
        token = options["token"]
        token_file = Path(settings.BASE_DIR) / ".run" / "api_token"
        if not token and token_file.exists():
            token = token_file.read_text().strip()
        rng = np.random.default_rng(options["seed"])
        std = np.nanstd(table.log_matrix, axis=0)
        shift_columns = [schema.index(name) for name in drift_features]
        classes = [str(c) for c in version.class_labels]
        predict_url = f"{options['url'].rstrip('/')}/api/v1/models/{options['model']}/predict"
        feedback_url = f"{options['url'].rstrip('/')}/api/v1/feedback"

        encoder = version.encoder()

        def row(drifting: bool) -> dict[str, Any]:
            values = table.log_matrix[rng.integers(0, table.row_count)].copy()
            if drifting:
                for column in shift_columns:
                    if schema.features[column].kind != CATEGORICAL:
                        values[column] += options["shift"] * (std[column] or 1.0)
            decoded = encoder.decode_vector(values)
            return {name: round(value, 4) if isinstance(value, float) else value for name, value in decoded.items()}

        total = int(options["rate"] * options["duration"])
        started = time.monotonic()
        sent = errors = labelled = 0
        pending_labels: list[dict[str, str]] = []
        last_flush = started
        self.stderr.write(f"sending {total} predictions to {predict_url} over {options['duration']:.0f} s")
        while sent < total:
            due = started + sent / options["rate"]
            now = time.monotonic()
            if due > now:
                time.sleep(due - now)
            elapsed = time.monotonic() - started
            drifting = options["drift_after"] is not None and elapsed >= options["drift_after"]
            status, body = _post(predict_url, {"features": row(drifting)}, None)
            sent += 1
            if status != 200:
                errors += 1
            elif token and rng.random() < options["label_share"]:
                error_rate = min(0.9, options["error_rate"] * (6 if drifting else 1))
                label = body["prediction"]
                if rng.random() < error_rate:
                    label = str(rng.choice([c for c in classes if c != label]))
                pending_labels.append({"prediction_id": body["prediction_id"], "label": label})
            if pending_labels and time.monotonic() - last_flush >= 1.0:
                status, _ = _post(feedback_url, pending_labels, token)
                labelled += len(pending_labels) if status == 200 else 0
                pending_labels, last_flush = [], time.monotonic()
            if sent % max(1, int(options["rate"])) == 0 or sent == total:
                done = sent / total
                bar = "#" * int(30 * done) + "-" * (30 - int(30 * done))
                phase = "drifting" if drifting else "normal"
                sys.stderr.write(
                    f"\r[{bar}] {sent}/{total} {elapsed:5.0f}s {phase:8} errors={errors} labels={labelled}"
                )
                sys.stderr.flush()
        if pending_labels and token:
            status, _ = _post(feedback_url, pending_labels, token)
            labelled += len(pending_labels) if status == 200 else 0
        sys.stderr.write("\n")
        self.stdout.write(f"sent {sent} predictions ({errors} errors), posted {labelled} labels")
