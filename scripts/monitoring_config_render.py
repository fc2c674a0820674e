#!/usr/bin/env python3
"""Render a loopback copy of the compose Prometheus config for `make run` and the tests.

monitoring/prometheus/prometheus.yml names compose services (web:8000, prometheus:9090, alertmanager:9093); on one
machine the same config must point at 127.0.0.1 ports. Scrape jobs and Alertmanagers whose targets are not mapped (a
piece that is not running here) are dropped, so Prometheus does not scrape or alert into the void. (Alertmanager's
config is rendered by the app itself: `manage.py publish_alerting`, or `--bootstrap` before anything is published.)

    python scripts/monitoring_config_render.py prometheus --target web:8000=127.0.0.1:8000[,127.0.0.1:8001] \
        --target prometheus:9090=127.0.0.1:9090 --rules-dir monitoring/generated/rules --out .run/prometheus.yml
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: the project's modules are importable too
    sys.path.insert(0, str(ROOT))

from mlmonitor.files import file_write_atomic  # noqa: E402 - after the path is set

PROMETHEUS_SOURCE = ROOT / "monitoring" / "prometheus" / "prometheus.yml"
RULES_GLOB = "*.rules.yml"
SERVICE_JOB = "mlmonitor"  # the job that scrapes the service's /metrics
HEADER = "# Rendered by scripts/monitoring_config_render.py from {source}; edit the source, not this copy.\n"


def _static_targets_map(static_configs: list[dict[str, Any]], targets: dict[str, str]) -> list[dict[str, Any]]:
    """Map every target through `targets` (a value may list several, comma-separated: one service, several
    instances), dropping the unmapped ones and the groups left empty."""
    mapped = []
    for group in static_configs:
        kept = [one for target in group.get("targets", []) if target in targets for one in targets[target].split(",")]
        if kept:
            mapped.append({**group, "targets": kept})
    return mapped


def _dns_as_static(job: dict[str, Any]) -> list[dict[str, Any]]:
    """A job's DNS service discovery (compose: one A record per replica) as the static targets name:port, for mapping
    to loopback addresses where there is no such DNS."""
    groups = list(job.get("static_configs", []))
    for sd in job.get("dns_sd_configs", []):
        groups.append({"targets": [f"{name}:{sd['port']}" for name in sd.get("names", [])]})
    return groups


def prometheus_config_render(
    source: dict[str, Any],
    *,
    targets: dict[str, str],
    rules_dir: Path,
    scrape_interval: str | None = None,
    metrics_token_file: Path | None = None,
) -> dict[str, Any]:
    """The Prometheus config with compose targets mapped to `targets` and rules loaded from `rules_dir`; with
    `metrics_token_file`, the service's job sends that file's token (METRICS_AUTH_TOKEN) as a bearer token."""
    config = copy.deepcopy(source)
    if scrape_interval:
        config.setdefault("global", {})["scrape_interval"] = scrape_interval
        config["global"]["evaluation_interval"] = scrape_interval
    config["rule_files"] = [str(rules_dir / RULES_GLOB)]
    jobs = []
    for job in config.get("scrape_configs", []):
        static_configs = _static_targets_map(_dns_as_static(job), targets)
        if static_configs:
            job = {key: value for key, value in job.items() if key != "dns_sd_configs"}
            job["static_configs"] = static_configs
            if scrape_interval:  # a job's own interval would override the global one asked for
                job.pop("scrape_interval", None)
            if "authorization" in job or (metrics_token_file is not None and job.get("job_name") == SERVICE_JOB):
                job.pop("authorization", None)  # compose's token file path means nothing here
                if metrics_token_file is not None:
                    job["authorization"] = {"type": "Bearer", "credentials_file": str(metrics_token_file)}
            jobs.append(job)
    config["scrape_configs"] = jobs
    managers = []
    for manager in config.get("alerting", {}).get("alertmanagers", []):
        static_configs = _static_targets_map(manager.get("static_configs", []), targets)
        if static_configs:
            managers.append({**manager, "static_configs": static_configs})
    if managers:
        config["alerting"] = {**config["alerting"], "alertmanagers": managers}
    else:
        config.pop("alerting", None)
    return config


def config_write(config: dict[str, Any], *, out: Path, source: Path) -> None:
    """Write the config as YAML, atomically, with a header naming its source."""
    shown = source.relative_to(ROOT) if source.is_relative_to(ROOT) else source
    text = HEADER.format(source=shown) + yaml.safe_dump(config, sort_keys=False)
    file_write_atomic(out, text, mode=0o644)


def _targets_parse(pairs: list[str]) -> dict[str, str]:
    """Parse `from=to` pairs."""
    targets = {}
    for pair in pairs:
        source, sep, target = pair.partition("=")
        if not sep or not source or not target:
            raise SystemExit(f"--target wants SERVICE:PORT=HOST:PORT[,HOST:PORT...], got {pair!r}")
        targets[source] = target
    return targets


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="kind", required=True)
    prom = sub.add_parser("prometheus", help="render prometheus.yml")
    prom.add_argument("--source", type=Path, default=PROMETHEUS_SOURCE)
    prom.add_argument("--rules-dir", type=Path, required=True)
    prom.add_argument("--scrape-interval")
    prom.add_argument(
        "--target", action="append", default=[], help="SERVICE:PORT=HOST:PORT[,HOST:PORT...] (repeatable)"
    )
    prom.add_argument("--metrics-token-file", type=Path, help="the service's job sends this file's bearer token")
    prom.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    source = args.source.resolve()
    rendered = prometheus_config_render(
        yaml.safe_load(source.read_text()),
        targets=_targets_parse(args.target),
        rules_dir=args.rules_dir.resolve(),
        scrape_interval=args.scrape_interval,
        metrics_token_file=args.metrics_token_file.resolve() if args.metrics_token_file else None,
    )
    config_write(rendered, out=args.out, source=source)
    return 0


if __name__ == "__main__":
    sys.exit(main())
