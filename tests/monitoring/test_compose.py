"""docker-compose.yml, the Dockerfile and the monitoring config agree with each other and with the app.

No Docker engine runs here: the compose file is read with PyYAML and checked for consistency; the Prometheus and
Alertmanager files are checked with Debian's promtool and amtool (the versions the generated files must suit).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
PROMETHEUS_CONFIG = ROOT / "monitoring" / "prometheus" / "prometheus.yml"
GRAFANA_PROVISIONING = ROOT / "monitoring" / "grafana" / "provisioning"
APP_SERVICES = ("web", "worker", "beat")
LONG_RUNNING = ("postgres", "redis", "web", "worker", "beat", "prometheus", "alertmanager", "grafana")

# A rule file the way the app names them (`*.rules.yml`), for checking that the rule_files glob picks it up.
SAMPLE_RULES = """groups:
  - name: sample
    rules:
      - alert: DataDriftDetected
        expr: ml_feature_drift_score > 0.15
        for: 10m
"""


def compose() -> dict[str, Any]:
    """docker-compose.yml, YAML anchors and merge keys resolved."""
    return yaml.safe_load(COMPOSE.read_text())


def services() -> dict[str, dict[str, Any]]:
    """The compose services."""
    return compose()["services"]


def mounts(service: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(source, target, read_only) of every short-syntax volume entry."""
    found = []
    for entry in service.get("volumes", []):
        assert isinstance(entry, str), f"use the short volume syntax: {entry!r}"
        source, target, *mode = entry.split(":")
        found.append((source, target, "ro" in (mode[0].split(",") if mode else [])))
    return found


def mount_source(service: dict[str, Any], target: str) -> str | None:
    """The source mounted exactly at `target`, if any."""
    return next((source for source, mounted, _ in mounts(service) if mounted == target), None)


def container_ports(service: dict[str, Any]) -> set[int]:
    """Ports the service's container listens on, from `expose` and the container side of `ports`."""
    ports = {int(port) for port in service.get("expose", [])}
    ports |= {int(str(mapping).rsplit(":", 1)[-1].split("/")[0]) for mapping in service.get("ports", [])}
    return ports


def host_port(address: str) -> tuple[str, int]:
    """Split host:port."""
    host, port = address.rsplit(":", 1)
    return host, int(port)


def prometheus_config() -> dict[str, Any]:
    """The compose Prometheus config."""
    return yaml.safe_load(PROMETHEUS_CONFIG.read_text())


def render_module() -> Any:
    """scripts/monitoring_config_render.py, imported by path."""
    path = ROOT / "scripts" / "monitoring_config_render.py"
    spec = importlib.util.spec_from_file_location("monitoring_config_render", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def compose_bootstrap() -> str:
    """The bootstrap alertmanager.yml web writes (publish_alerting --bootstrap), rendered with compose's settings."""
    from alerts_config.rendering import AlertmanagerOptions, alertmanager_bootstrap_render

    environment = services()["web"]["environment"]
    options = AlertmanagerOptions(
        webhook_url=environment["ALERT_WEBHOOK_URL"],
        webhook_token_file=environment["ALERT_WEBHOOK_TOKEN_FILE"],
        secrets_dir=environment["ALERTMANAGER_SECRETS_DIR"],
    )
    return alertmanager_bootstrap_render(options=options)


def tool(name: str) -> str:
    """A Debian monitoring binary, or skip saying how to get it."""
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (scripts/ensure_system.sh installs it)")
    return path


# ----------------------------------------------------------------------------------------------- compose file
def test_compose_runs_every_service_of_the_stack() -> None:
    """PostgreSQL, Redis, web, worker, beat, Prometheus, Alertmanager and Grafana, each with a healthcheck."""
    # given
    found = services()
    # then
    assert set(found) == set(LONG_RUNNING)
    for name in LONG_RUNNING:
        test = found[name].get("healthcheck", {}).get("test")
        assert test and test[0] in ("CMD", "CMD-SHELL"), name


def test_every_prometheus_scrape_target_is_a_service_listening_on_that_port() -> None:
    """Each static target and Alertmanager of prometheus.yml (and Grafana's datasources) is host:port of a
    service whose container listens on that port."""
    # given
    found = services()
    config = prometheus_config()
    addresses = [
        target
        for job in config["scrape_configs"]
        for group in job.get("static_configs", [])
        for target in group["targets"]
    ]
    addresses += [
        f"{name}:{sd['port']}"
        for job in config["scrape_configs"]
        for sd in job.get("dns_sd_configs", [])
        for name in sd["names"]
    ]
    addresses += [
        target
        for manager in config["alerting"]["alertmanagers"]
        for group in manager["static_configs"]
        for target in group["targets"]
    ]
    datasources = yaml.safe_load((GRAFANA_PROVISIONING / "datasources" / "prometheus.yml").read_text())["datasources"]
    addresses += [re.sub(r"^https?://", "", source["url"]).rstrip("/") for source in datasources]
    # then
    assert {job["job_name"] for job in config["scrape_configs"]} == {"mlmonitor", "prometheus", "alertmanager"}
    for address in addresses:
        host, port = host_port(address)
        assert host in found, f"{address}: no service {host!r}"
        assert port in container_ports(found[host]), f"{address}: {host} does not listen on {port}"


def test_the_web_port_agrees_with_gunicorn_prometheus_and_allowed_hosts() -> None:
    """WEB_BIND, the published port and the scrape target use one port, and Django accepts the Host header
    Prometheus sends (the service name), or every scrape would answer 400."""
    # given
    web = services()["web"]
    environment = web["environment"]
    ((sd,),) = [
        job["dns_sd_configs"] for job in prometheus_config()["scrape_configs"] if job["job_name"] == "mlmonitor"
    ]
    (host,), port = sd["names"], sd["port"]
    # then
    bind_host, bind_port = host_port(environment["WEB_BIND"])
    assert bind_host == "0.0.0.0" and bind_port == port
    assert web["ports"] == [f"127.0.0.1:{port}-{port + 9}:{port}"]
    assert host in environment["ALLOWED_HOSTS"].split(",")
    assert "web" in environment["ALERT_WEBHOOK_URL"] and f":{port}/" in environment["ALERT_WEBHOOK_URL"]


def test_every_web_replica_is_scraped_and_can_start_next_to_the_others() -> None:
    """`docker compose up --scale web=3`: Prometheus finds each replica by DNS (type A on the service name) so every
    one is its own target; the replicas publish ports from a range instead of all claiming one; none has a fixed
    container name; their start-up (migrate, demo model, alerting config) runs one at a time under a lock."""
    # given
    web = services()["web"]
    (job,) = [job for job in prometheus_config()["scrape_configs"] if job["job_name"] == "mlmonitor"]
    entrypoint = (ROOT / "scripts" / "docker-entrypoint.sh").read_text()
    # then
    assert "static_configs" not in job
    assert job["dns_sd_configs"] == [{"names": ["web"], "type": "A", "port": 8000, "refresh_interval": "15s"}]
    (published,) = web["ports"]
    first, last = (int(port) for port in published.split(":")[1].split("-"))
    assert last - first + 1 >= 3
    assert "container_name" not in web
    assert re.search(r'flock "\$MEDIA_ROOT/[^"]+" "\$0" web-setup', entrypoint)
    assert "python manage.py migrate" in entrypoint.split("web-setup)")[1]


def test_links_in_alerts_point_at_published_addresses() -> None:
    """Prometheus and Alertmanager run with --web.external-url at their published loopback ports (overridable), so
    a notification's source link does not name the container; the app gets its public URL for dashboard links."""
    found = services()
    assert "--web.external-url=${PROMETHEUS_PUBLIC_URL:-http://127.0.0.1:9090}" in found["prometheus"]["command"]
    assert "--web.external-url=${ALERTMANAGER_PUBLIC_URL:-http://127.0.0.1:9093}" in found["alertmanager"]["command"]
    assert found["web"]["environment"]["MLMONITOR_PUBLIC_URL"] == "${MLMONITOR_PUBLIC_URL:-http://127.0.0.1:8000}"
    run = (ROOT / "scripts" / "run.sh").read_text()
    assert '--web.external-url="http://127.0.0.1:$PROMETHEUS_PORT/"' in run
    assert '--web.external-url="http://127.0.0.1:$ALERTMANAGER_PORT/"' in run


def test_published_ports_bind_only_loopback() -> None:
    """Nothing is reachable from other machines: every published port is bound to 127.0.0.1."""
    for name, service in services().items():
        for mapping in service.get("ports", []):
            assert str(mapping).startswith("127.0.0.1:"), (name, mapping)


def test_every_bind_mounted_host_path_exists_in_the_repository() -> None:
    """A relative bind mount names a path committed in the repository; other sources are declared named volumes."""
    # given
    declared = set(compose()["volumes"])
    # then
    for name, service in services().items():
        for source, target, _ in mounts(service):
            if source.startswith((".", "/")):
                assert (ROOT / source).exists(), f"{name}: {source} does not exist"
                assert not source.startswith("/"), f"{name}: absolute host path {source}"
            else:
                assert source in declared, f"{name}: volume {source!r} is not declared"
            assert target.startswith("/"), (name, target)


def test_the_rules_directory_is_shared_between_web_and_prometheus_as_a_directory() -> None:
    """web writes ALERT_RULES_DIR and Prometheus reads rule_files from the same named volume, mounted as a
    directory at that very path (read-only for Prometheus); never a single-file mount (prometheus#2544)."""
    # given
    found = services()
    rules_dir = found["web"]["environment"]["ALERT_RULES_DIR"]
    (rule_glob,) = prometheus_config()["rule_files"]
    # then
    assert rule_glob == f"{rules_dir}/*.rules.yml"
    volume = mount_source(found["web"], rules_dir)
    assert volume in compose()["volumes"]
    assert (volume, rules_dir, True) in mounts(found["prometheus"])
    for service in found.values():
        for source, target, _ in mounts(service):
            assert not target.endswith((".yml", ".yaml")), f"single-file mount {source}:{target}"


def test_alertmanager_reads_the_generated_config_and_secrets_at_the_paths_web_writes_them() -> None:
    """ALERTMANAGER_CONFIG_PATH, ALERTMANAGER_SECRETS_DIR and the webhook token lie in one volume that Alertmanager
    mounts read-only at the same path, and it is started on the generated config with clustering off."""
    # given
    found = services()
    environment = found["web"]["environment"]
    config_dir = str(Path(environment["ALERTMANAGER_CONFIG_PATH"]).parent)
    volume = mount_source(found["web"], config_dir)
    # then
    assert volume in compose()["volumes"]
    assert (volume, config_dir, True) in mounts(found["alertmanager"])
    for key in ("ALERTMANAGER_SECRETS_DIR", "ALERT_WEBHOOK_TOKEN_FILE"):
        assert environment[key].startswith(config_dir + "/"), key
    command = found["alertmanager"]["command"]
    assert f"--config.file={environment['ALERTMANAGER_CONFIG_PATH']}" in command
    assert "--cluster.listen-address=" in command
    assert "--web.enable-lifecycle" in found["prometheus"]["command"]
    assert environment["PROMETHEUS_URL"] == "http://prometheus:9090"
    assert environment["ALERTMANAGER_URL"] == "http://alertmanager:9093"
    # the bootstrap config sends the token file that web writes
    bootstrap = yaml.safe_load(compose_bootstrap())
    (webhook,) = bootstrap["receivers"][0]["webhook_configs"]
    assert webhook["url"] == environment["ALERT_WEBHOOK_URL"]
    assert webhook["http_config"]["authorization"]["credentials_file"] == environment["ALERT_WEBHOOK_TOKEN_FILE"]


def test_app_services_share_one_configuration_and_worker_and_beat_wait_for_migrations() -> None:
    """web, worker and beat run the same image with the same settings; worker and beat start once web (which
    migrates) is healthy."""
    # given
    found = services()
    # then
    images = {found[name]["image"] for name in APP_SERVICES}
    assert len(images) == 1
    for name in APP_SERVICES:
        assert found[name]["build"] == "."
        environment = found[name]["environment"]
        assert (
            environment["DATABASE_URL"].startswith("postgresql://") and "@postgres:5432/" in environment["DATABASE_URL"]
        )
        assert environment["REDIS_URL"] == environment["CELERY_BROKER_URL"] == "redis://redis:6379/0"
        assert environment["DJANGO_DEBUG"] == "0"
    for name in ("worker", "beat"):
        assert found[name]["depends_on"]["web"]["condition"] == "service_healthy"
    assert found["web"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_web_runs_the_system_checks_before_it_migrates() -> None:
    """The container's web start (web, then web-setup under the replicas' lock) runs `manage.py check` (unwritable
    volumes for the generated alerting files are errors there: alerts_config/checks.py) before migrate, and has no
    shell checks of its own for those directories."""
    # given
    entrypoint = (ROOT / "scripts" / "docker-entrypoint.sh").read_text()
    web = entrypoint[entrypoint.index("  web)") : entrypoint.index("  worker)")]
    # then
    assert web.index("python manage.py check") < web.index("flock") < web.index("python manage.py migrate")
    assert "[ -w" not in web
    assert not [line for line in web.splitlines() if "mkdir" in line and ("ALERT" in line or "dirname" in line)]


def test_exactly_one_beat_with_the_database_scheduler() -> None:
    """One service runs beat, with one replica and `-S django`; no worker embeds a beat (`--beat`/`-B`)."""
    # given
    found = services()
    entrypoint = (ROOT / "scripts" / "docker-entrypoint.sh").read_text()
    # then
    beats = [name for name, service in found.items() if service.get("command") == ["beat"]]
    assert beats == ["beat"]
    assert found["beat"].get("deploy", {}).get("replicas", 1) == 1
    assert "scale" not in found["beat"]
    assert re.search(r"celery -A mlmonitor beat .*-S django", entrypoint)
    assert not re.search(r"worker[^\n]*(--beat|\s-B\b)", entrypoint)


def test_multiprocess_metrics_directory_is_on_tmpfs_below_the_mount_point() -> None:
    """PROMETHEUS_MULTIPROC_DIR lives on a tmpfs of web, one level below the mount point (the web server's
    launcher, mlmonitor/serve.py, deletes and recreates the directory on start, which a mount point cannot survive)."""
    # given
    web = services()["web"]
    directory = Path(web["environment"]["PROMETHEUS_MULTIPROC_DIR"])
    tmpfs = [Path(entry.split(":")[0]) for entry in web.get("tmpfs", [])]
    # then
    assert directory.parent in tmpfs
    for name in ("worker", "beat"):
        assert "PROMETHEUS_MULTIPROC_DIR" not in services()[name]["environment"], name


def test_images_are_pinned_to_versions() -> None:
    """Every image carries a version tag (no `latest`, no bare name), the Dockerfile's base images too."""
    # given
    images = [service["image"] for service in services().values()]
    images += re.findall(r"^FROM\s+(\S+)", DOCKERFILE.read_text(), re.MULTILINE)
    images += re.findall(r"--from=(\S+)", DOCKERFILE.read_text())
    # then
    for image in images:
        name, _, tag = image.rpartition(":")
        assert name and "/" not in tag, f"{image}: no tag"
        assert tag != "latest" and re.match(r"v?\d+\.\d+", tag), f"{image}: not a version tag"


def test_prometheus_and_alertmanager_images_match_the_debian_config_generation() -> None:
    """The containers run Prometheus 2.x and Alertmanager 0.x releases no older than Debian's 2.42 and 0.25, so
    files valid for Debian's promtool and amtool load in them."""
    # given
    found = services()
    prometheus = tuple(int(part) for part in found["prometheus"]["image"].split(":v")[1].split(".")[:2])
    alertmanager = tuple(int(part) for part in found["alertmanager"]["image"].split(":v")[1].split(".")[:2])
    # then
    assert prometheus[0] == 2 and prometheus >= (2, 42)
    assert alertmanager[0] == 0 and alertmanager >= (0, 25)


def test_secrets_come_from_the_environment() -> None:
    """SECRET_KEY and the passwords are required from .env (documented in .env.example), never written here."""
    # given
    text = COMPOSE.read_text()
    example = (ROOT / ".env.example").read_text()
    # then
    for name in ("SECRET_KEY", "POSTGRES_PASSWORD", "GRAFANA_ADMIN_PASSWORD"):
        assert f"${{{name}:?" in text, name
        assert re.search(rf"^{name}=$", example, re.MULTILINE), name
    assert services()["web"]["environment"]["SECRET_KEY"].startswith("${SECRET_KEY:?")


def test_grafana_provisioning_and_dashboards_are_mounted_where_the_provider_reads_them() -> None:
    """The provisioning directory is mounted at /etc/grafana/provisioning and the dashboards directory at the
    path of the file provider."""
    # given
    grafana = services()["grafana"]
    providers = yaml.safe_load((GRAFANA_PROVISIONING / "dashboards" / "mlmonitor.yml").read_text())["providers"]
    (provider,) = providers
    # then
    assert ("./monitoring/grafana/provisioning", "/etc/grafana/provisioning", True) in mounts(grafana)
    assert ("./monitoring/grafana/dashboards", provider["options"]["path"], True) in mounts(grafana)
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (ROOT / "monitoring" / "grafana" / "dashboards" / Path(home).name).exists()


def test_dockerfile_runs_as_a_non_root_user_with_static_files_collected() -> None:
    """The image installs the pinned requirements, collects static files at build time and drops root; the
    volumes' mount points belong to that user."""
    # given
    text = DOCKERFILE.read_text()
    # then
    assert "pip install -r requirements.txt" in text
    assert "collectstatic --noinput" in text
    users = re.findall(r"^USER\s+(\S+)", text, re.MULTILINE)
    assert users and users[-1] not in ("root", "0")
    for target in ("/srv/mlmonitor/rules", "/srv/mlmonitor/alertmanager", "/srv/mlmonitor/media"):
        assert target in text
    assert (ROOT / ".dockerignore").exists()
    assert re.search(r"^\.venv$", (ROOT / ".dockerignore").read_text(), re.MULTILINE)


def test_compose_environment_names_are_read_by_the_app() -> None:
    """Every variable compose gives the app containers is read somewhere (settings, gunicorn config, entrypoint),
    so a misspelt name cannot silently fall back to a default."""
    # given
    readers = [ROOT / "mlmonitor" / name for name in ("settings/base.py", "gunicorn.conf.py", "serve.py")]
    read = " ".join(path.read_text() for path in readers) + (ROOT / "scripts" / "docker-entrypoint.sh").read_text()
    known_elsewhere = {"DJANGO_SETTINGS_MODULE", "PROMETHEUS_MULTIPROC_DIR"}  # read by Django and prometheus_client
    # then
    for name in APP_SERVICES:
        for key in services()[name]["environment"]:
            assert key in known_elsewhere or f'"{key}"' in read or f"${key}" in read or f"${{{key}" in read, (
                f"{name}: {key} is read by nothing"
            )


# ----------------------------------------------------------------------------------------------- promtool/amtool
def test_prometheus_config_passes_promtool(tmp_path: Path) -> None:
    """The compose prometheus.yml is valid for Debian's promtool (2.42); promtool also opens the files it names, so
    the metrics token file, which the prometheus container writes at start, is pointed at one here."""
    # given
    config = prometheus_config()
    (tmp_path / "metrics_token").write_text("")
    for job in config["scrape_configs"]:
        if "authorization" in job:
            job["authorization"]["credentials_file"] = str(tmp_path / "metrics_token")
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    # when
    done = subprocess.run(
        [tool("promtool"), "check", "config", str(tmp_path / "prometheus.yml")], capture_output=True, text=True
    )
    # then
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_rules_glob_loads_rule_files_named_like_the_generated_ones(tmp_path: Path) -> None:
    """With the rules directory pointed at a temporary one, promtool loads a `*.rules.yml` file from it and
    ignores other names (the app's temporary files)."""
    # given
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "iris.rules.yml").write_text(SAMPLE_RULES)
    (tmp_path / "rules" / ".iris.rules.yml.tmp").write_text("not: [yaml")
    render = render_module()
    config = render.prometheus_config_render(
        prometheus_config(), targets={"web:8000": "127.0.0.1:8000"}, rules_dir=tmp_path / "rules"
    )
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    # when
    done = subprocess.run(
        [tool("promtool"), "check", "config", str(tmp_path / "prometheus.yml")], capture_output=True, text=True
    )
    # then
    assert done.returncode == 0, done.stdout + done.stderr
    assert "iris.rules.yml" in done.stdout + done.stderr
    assert "1 rules found" in done.stdout + done.stderr


def test_loopback_render_for_make_run_maps_every_target_and_drops_missing_pieces(tmp_path: Path) -> None:
    """`make run`'s copy scrapes 127.0.0.1 ports, loads the local rules directory, and leaves out the jobs and the
    Alertmanager of pieces that are not running; it passes promtool."""
    # given
    render = render_module()
    targets = {"web:8000": "127.0.0.1:8001", "prometheus:9090": "127.0.0.1:9091"}
    # when
    config = render.prometheus_config_render(prometheus_config(), targets=targets, rules_dir=tmp_path / "rules")
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    # then
    jobs = {job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]}
    assert jobs == {"mlmonitor": ["127.0.0.1:8001"], "prometheus": ["127.0.0.1:9091"]}
    assert "alerting" not in config
    assert config["rule_files"] == [str(tmp_path / "rules" / "*.rules.yml")]
    assert config["global"]["scrape_interval"] == "15s"
    done = subprocess.run(
        [tool("promtool"), "check", "config", str(tmp_path / "prometheus.yml")], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_loopback_render_sends_the_metrics_token_only_when_given(tmp_path: Path) -> None:
    """With --metrics-token-file the service's job sends that file as a bearer token (and passes promtool); without
    it the compose token path is dropped, so `make run` without METRICS_AUTH_TOKEN scrapes as before."""
    # given
    render = render_module()
    targets = {"web:8000": "127.0.0.1:8001", "prometheus:9090": "127.0.0.1:9091"}
    token_file = tmp_path / "metrics_token"
    token_file.write_text("a-token")
    # when
    with_token = render.prometheus_config_render(
        prometheus_config(), targets=targets, rules_dir=tmp_path / "rules", metrics_token_file=token_file
    )
    without = render.prometheus_config_render(prometheus_config(), targets=targets, rules_dir=tmp_path / "rules")
    # then
    jobs = {job["job_name"]: job for job in with_token["scrape_configs"]}
    assert jobs["mlmonitor"]["authorization"] == {"type": "Bearer", "credentials_file": str(token_file)}
    assert "authorization" not in jobs["prometheus"]
    assert all("authorization" not in job for job in without["scrape_configs"])
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(with_token))
    done = subprocess.run(
        [tool("promtool"), "check", "config", str(tmp_path / "prometheus.yml")], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_compose_passes_the_metrics_token_to_web_and_prometheus() -> None:
    """METRICS_AUTH_TOKEN from .env reaches web, and Prometheus' entrypoint writes the file its job reads."""
    # given
    found = services()
    job = next(job for job in prometheus_config()["scrape_configs"] if job["job_name"] == "mlmonitor")
    # then
    assert "METRICS_AUTH_TOKEN" in found["web"]["environment"]
    assert "METRICS_AUTH_TOKEN" in found["prometheus"]["environment"]
    token_path = job["authorization"]["credentials_file"]
    assert token_path in " ".join(found["prometheus"]["entrypoint"])


def test_bootstrap_alertmanager_config_passes_amtool(tmp_path: Path) -> None:
    """The bootstrap config web writes with compose's settings is valid for Debian's amtool (0.25). (`make run`'s
    loopback bootstrap is the same renderer with local settings: tests/alerts_config/test_publish.py.)"""
    # given
    path = tmp_path / "alertmanager.yml"
    path.write_text(compose_bootstrap())
    # when
    done = subprocess.run([tool("amtool"), "check-config", str(path)], capture_output=True, text=True)
    # then
    assert done.returncode == 0, done.stdout + done.stderr


# ----------------------------------------------------------------------------------------------- start scripts
@pytest.mark.parametrize(("shell", "script"), [("bash", "scripts/run.sh"), ("sh", "scripts/docker-entrypoint.sh")])
def test_start_scripts_parse(shell: str, script: str) -> None:
    """`make run`'s script and the container entrypoint are syntactically valid for their shells."""
    # when
    done = subprocess.run([shell, "-n", str(ROOT / script)], capture_output=True, text=True)
    # then
    assert done.returncode == 0, done.stderr
    assert (ROOT / script).stat().st_mode & 0o111, f"{script} is not executable"


@pytest.mark.parametrize("shell", ["sh", "bash"])
def test_blank_unset_unsets_only_blank_variables(shell: str) -> None:
    """scripts/env_blank.sh's blank_unset, in both scripts' shells: a value of only spaces and tabs is unset, as
    mlmonitor/environment.py reads it; a value with text (surrounding spaces kept) and an empty value are left as
    they are, and the function leaves no variable of its own behind."""
    # given
    env = {"PATH": os.environ["PATH"], "A": "   ", "B": " \t\v\f\r ", "C": " x ", "D": "", "F": "\u00a0"}
    line = '. scripts/env_blank.sh; set -u; blank_unset A B C D E F; echo "${A-unset}|${B-unset}|${C-unset}|'
    line += '${D-unset}|${E-unset}|${F-unset}|${blank_name-none}|${blank_value-none}"'
    # when
    done = subprocess.run([shell, "-c", line], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    # then: as mlmonitor.environment.environ_value reads them (a no-break space is a value)
    assert done.stdout == "unset|unset| x ||unset|\u00a0|none|none\n"


def test_make_takes_a_blank_venv_or_python_as_unset() -> None:
    """`VENV=' ' make run` built the virtualenv at "/" (`python -m venv  `, then `touch /.installed`) and `PYTHON=' '`
    ran no interpreter; the Makefile now falls back on .venv and python3 for a blank value, as the scripts do."""
    # given
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    # when
    done = subprocess.run(
        ["make", "-n", "venv"], cwd=ROOT, env={**env, "VENV": " ", "PYTHON": "\t"}, capture_output=True, text=True
    )
    # then
    assert done.returncode == 0, done.stderr
    assert "touch /.installed" not in done.stdout and "-m venv  " not in done.stdout
    assert all(
        line.startswith(("python3 ", "touch .venv/", ".venv/bin/pip ", "make: Nothing to be done"))
        for line in done.stdout.splitlines()
    )


@pytest.mark.parametrize("script", ["scripts/run.sh", "scripts/docker-entrypoint.sh", "scripts/test.sh"])
def test_start_scripts_unset_every_blank_variable_they_read(script: str) -> None:
    """Each variable a start script reads with a default or a set-test (`${NAME:-...}`, `${NAME-...}`) is passed to
    blank_unset before its first use (or unset there, for the script's own): `SECRET_KEY=' ' make run` generates a
    key instead of exporting a blank one that the settings then refuse, and `WEB_WORKERS=' '` gets the default."""
    # given
    text = (ROOT / script).read_text()
    call = re.search(r"^blank_unset ((?:\\\n|[^\n])+)$", text, re.MULTILINE)
    assert call is not None, f"{script} does not call blank_unset"
    listed = set(call.group(1).replace("\\\n", " ").split())
    listed |= {name for line in re.findall(r"^unset ([^#\n]+)", text, re.MULTILINE) for name in line.split()}
    # when
    read = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*):?-", text))
    # then
    assert read - listed == set()
    assert text.index("blank_unset ") < min(text.index("${" + name) for name in read)


def test_make_run_uses_the_same_service_commands_as_compose() -> None:
    """`make run` starts the web server through its launcher (granian, or gunicorn with the project config), one
    worker with concurrency 1, one beat with the database scheduler, Prometheus with lifecycle reloads and
    Alertmanager without clustering, all on 127.0.0.1."""
    # given
    text = (ROOT / "scripts" / "run.sh").read_text()
    # then
    assert '"$VENV/bin/python" -m mlmonitor.serve' in text
    assert re.search(r"celery\" -A mlmonitor worker -l info --concurrency 1", text)
    assert len(re.findall(r"celery\" -A mlmonitor beat -l info -S django", text)) == 1
    assert "--web.enable-lifecycle" in text and "--cluster.listen-address=" in text
    assert "PROMETHEUS_MULTIPROC_DIR=" in text
    assert not re.search(r"0\.0\.0\.0", text)
    assert "trap 'stop_all; exit 0' INT" in text
