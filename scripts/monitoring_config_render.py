#!/usr/bin/env python3
"""Render loopback copies of the compose monitoring config for `make run` and the tests.

The files under monitoring/ name compose services (web:8000, prometheus:9090, alertmanager:9093); on one machine
the same config must point at 127.0.0.1 ports. Scrape jobs and Alertmanagers whose targets are not mapped (a piece
that is not running here) are dropped, so Prometheus does not scrape or alert into the void.

    python scripts/monitoring_config_render.py prometheus --target web:8000=127.0.0.1:8000[,127.0.0.1:8001] \
        --target prometheus:9090=127.0.0.1:9090 --rules-dir monitoring/generated/rules --out .run/prometheus.yml
    python scripts/monitoring_config_render.py alertmanager --target web:8000=127.0.0.1:8000 \
        --token-file .run/api_token --out monitoring/generated/alertmanager.yml
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import yaml

ROOT = Path(__file__).resolve().parent.parent
PROMETHEUS_SOURCE = ROOT / "monitoring" / "prometheus" / "prometheus.yml"
ALERTMANAGER_SOURCE = ROOT / "monitoring" / "alertmanager" / "alertmanager.yml"
RULES_GLOB = "*.rules.yml"
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
    source: dict[str, Any], *, targets: dict[str, str], rules_dir: Path, scrape_interval: str | None = None
) -> dict[str, Any]:
    """The Prometheus config with compose targets mapped to `targets` and rules loaded from `rules_dir`."""
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


def alertmanager_config_render(source: dict[str, Any], *, targets: dict[str, str], token_file: Path) -> dict[str, Any]:
    """The Alertmanager config with webhook hosts mapped to `targets` and their bearer token read from `token_file`."""
    config = copy.deepcopy(source)
    for receiver in config.get("receivers", []):
        for webhook in receiver.get("webhook_configs", []):
            url = urlsplit(webhook["url"])
            if url.netloc not in targets:
                continue
            webhook["url"] = urlunsplit(url._replace(netloc=targets[url.netloc]))
            authorization = webhook.setdefault("http_config", {}).setdefault("authorization", {"type": "Bearer"})
            authorization["credentials_file"] = str(token_file)
    return config


def config_write(config: dict[str, Any], *, out: Path, source: Path) -> None:
    """Write YAML atomically (temp file in the same directory, then rename)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    shown = source.relative_to(ROOT) if source.is_relative_to(ROOT) else source
    text = HEADER.format(source=shown) + yaml.safe_dump(config, sort_keys=False)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, out)


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
    am = sub.add_parser("alertmanager", help="render the bootstrap alertmanager.yml")
    am.add_argument("--source", type=Path, default=ALERTMANAGER_SOURCE)
    am.add_argument("--token-file", type=Path, required=True)
    for each in (prom, am):
        each.add_argument(
            "--target", action="append", default=[], help="SERVICE:PORT=HOST:PORT[,HOST:PORT...] (repeatable)"
        )
        each.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    source = args.source.resolve()
    loaded = yaml.safe_load(source.read_text())
    targets = _targets_parse(args.target)
    if args.kind == "prometheus":
        rendered = prometheus_config_render(
            loaded, targets=targets, rules_dir=args.rules_dir.resolve(), scrape_interval=args.scrape_interval
        )
    else:
        rendered = alertmanager_config_render(loaded, targets=targets, token_file=args.token_file.resolve())
    config_write(rendered, out=args.out, source=source)
    return 0


if __name__ == "__main__":
    sys.exit(main())
