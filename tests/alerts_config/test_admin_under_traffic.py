"""Admin threshold saves while predictions flow: every save succeeds (no "database is locked", no 500), on the
embedded SQLite default served by gunicorn as `make run` serves it, and on the configured database."""

from __future__ import annotations

import contextlib
import http.client
import http.cookiejar
import json
import sqlite3
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from tests.mlmonitor.test_gunicorn import ROWS, server_env
from tests.servers import LOOPBACK, command_run, free_port, running, wait_for_http

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
SAVES = 6
CLIENTS = 6
PASSWORD = "a-long-test-password-1"


class _FormFields(HTMLParser):
    """The values a browser would submit from the admin's change form (inputs, checked boxes, selected options)."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {key: value or "" for key, value in attrs}
        name = attributes.get("name", "")
        if tag == "input" and name and attributes.get("type") not in {"submit", "button"}:
            if attributes.get("type") == "checkbox":
                if "checked" in attributes:
                    self.fields[name] = "on"
            else:
                self.fields[name] = attributes.get("value", "")
        elif tag == "select" and name:
            self._select = name
        elif tag == "option" and self._select and "selected" in attributes:
            self.fields[self._select] = attributes.get("value", "")
        elif tag == "textarea" and name:
            self._textarea = name
            self.fields[name] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self.fields[self._textarea] += data


class _Browser:
    """A logged-in admin session over HTTP (cookies and CSRF as a browser sends them)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))

    def request(self, path: str, data: dict[str, str] | None = None) -> tuple[int, str]:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        request = urllib.request.Request(self.base_url + path, data=body, headers={"Referer": self.base_url + path})
        try:
            with self.opener.open(request, timeout=60) as response:
                return response.status, response.read().decode(errors="replace")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace")

    def form(self, path: str) -> dict[str, str]:
        status, page = self.request(path)
        assert status == 200, page[:2000]
        parser = _FormFields()
        parser.feed(page)
        return parser.fields

    def login(self, username: str, password: str) -> None:
        fields = self.form("/admin/login/?next=/admin/")
        status, page = self.request(
            "/admin/login/?next=/admin/", {**fields, "username": username, "password": password}
        )
        assert status == 200 and "Log out" in page, page[:2000]


def _predictions_flow(base_url: str, stop: threading.Event, failures: list[str], counts: list[int]) -> None:
    """One client posting single-row predictions until told to stop."""
    host, port = urllib.parse.urlsplit(base_url).netloc.split(":")
    index = 0
    while not stop.is_set():
        index += 1
        connection = http.client.HTTPConnection(host, int(port), timeout=60)
        try:
            body = json.dumps({"features": ROWS[index % len(ROWS)]})
            connection.request("POST", "/predict", body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            payload = response.read()
            if response.status != 200:
                failures.append(f"predict: {response.status} {payload[:300]!r}")
            else:
                counts.append(1)
        except OSError as exc:
            failures.append(f"predict: {type(exc).__name__}: {exc}")
        finally:
            connection.close()


def admin_saves_during_traffic(base_url: str, *, threshold_id: int, username: str) -> list[str]:
    """Save one threshold SAVES times through the admin's change form while CLIENTS threads post predictions;
    returns what went wrong (saves that did not redirect, predictions that failed)."""
    browser = _Browser(base_url)
    browser.login(username, PASSWORD)
    path = f"/admin/alerts_config/threshold/{threshold_id}/change/"
    stop = threading.Event()
    failures: list[str] = []
    counts: list[int] = []
    clients = [
        threading.Thread(target=_predictions_flow, args=(base_url, stop, failures, counts), daemon=True)
        for _ in range(CLIENTS)
    ]
    for client in clients:
        client.start()
    try:
        deadline = time.monotonic() + 30
        while not counts and time.monotonic() < deadline:  # traffic flows before the first save
            time.sleep(0.05)
        for attempt in range(SAVES):
            fields = browser.form(path)
            fields["value"] = f"0.{40 + attempt}"
            fields["_save"] = "Save"
            status, page = browser.request(path, fields)
            if status != 200 or "was changed successfully" not in page:
                failures.append(f"save {attempt}: {status} {page[:1500]}")
    finally:
        stop.set()
        for client in clients:
            client.join(timeout=90)
    assert counts, "no prediction was served while saving: the test proves nothing"
    return failures


@pytest.mark.slow
def test_admin_saves_on_sqlite_during_traffic_all_succeed(tmp_path: Path) -> None:
    """Gunicorn with two workers on a SQLite file (the `make run` default): six admin saves of a threshold while six
    clients post predictions all succeed, and the last saved value is stored."""
    # given: a migrated SQLite database with the demo model and a superuser, served by gunicorn
    env = {
        **server_env(tmp_path),
        "ALERT_RULES_DIR": str(tmp_path / "rules"),
        "ALERTMANAGER_CONFIG_PATH": str(tmp_path / "alertmanager.yml"),
        "ALERTMANAGER_SECRETS_DIR": str(tmp_path / "secrets"),
        "PROMETHEUS_URL": f"http://{LOOPBACK}:{free_port()}",  # nothing listens: the reload fails fast
        "ALERTMANAGER_URL": f"http://{LOOPBACK}:{free_port()}",
        "DJANGO_SUPERUSER_PASSWORD": PASSWORD,
    }
    (tmp_path / "static").mkdir()
    python = sys.executable
    command_run([python, "manage.py", "migrate", "--noinput", "-v", "0"], env=env, cwd=REPO)
    command_run([python, "manage.py", "load_demo"], env=env, cwd=REPO)
    command_run(
        [python, "manage.py", "createsuperuser", "--noinput", "--username", "operator", "--email", "o@example.com"],
        env=env,
        cwd=REPO,
    )
    with contextlib.closing(sqlite3.connect(tmp_path / "db.sqlite3")) as database:
        (threshold_id,) = database.execute("SELECT MIN(id) FROM alerts_config_threshold").fetchone()
    port = free_port()
    args = [str(VENV_BIN / "gunicorn"), "-c", "mlmonitor/gunicorn.conf.py", "--workers", "2", "--bind"]
    args.append(f"{LOOPBACK}:{port}")
    server_environment = {**env, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus")}
    with running(args, name="gunicorn", log_path=tmp_path / "gunicorn.log", env=server_environment, cwd=REPO) as web:
        wait_for_http(port, "/healthz", timeout=60, server=web)
        # when
        failures = admin_saves_during_traffic(
            f"http://{LOOPBACK}:{port}", threshold_id=threshold_id, username="operator"
        )
        # then
        assert failures == [], failures[:5]
        web.check_alive()
        assert "database is locked" not in web.log_tail(200_000)
    with contextlib.closing(sqlite3.connect(tmp_path / "db.sqlite3")) as database:
        stored = database.execute("SELECT value FROM alerts_config_threshold WHERE id = ?", (threshold_id,)).fetchone()
    assert stored == (0.4 + (SAVES - 1) / 100,)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_admin_saves_on_the_configured_database_during_traffic_all_succeed(
    live_server: Any, iris_version: Any, seeded_thresholds: None, settings: Any, tmp_path: Path
) -> None:
    """The same walk against the suite's database (PostgreSQL in CI) behind Django's threaded live server."""
    # given
    from django.contrib.auth import get_user_model

    from alerts_config.models import Threshold

    settings.ALERT_RULES_DIR = tmp_path / "rules"
    settings.ALERTMANAGER_CONFIG_PATH = tmp_path / "alertmanager.yml"
    settings.ALERTMANAGER_SECRETS_DIR = tmp_path / "secrets"
    settings.PROMETHEUS_URL = f"http://{LOOPBACK}:{free_port()}"
    settings.ALERTMANAGER_URL = f"http://{LOOPBACK}:{free_port()}"
    get_user_model().objects.create_superuser(username="operator", email="o@example.com", password=PASSWORD)
    threshold = Threshold.objects.order_by("pk").first()
    assert threshold is not None
    # when
    failures = admin_saves_during_traffic(live_server.url, threshold_id=threshold.pk, username="operator")
    # then
    assert failures == [], failures[:5]
    threshold.refresh_from_db()
    assert threshold.value == pytest.approx(0.4 + (SAVES - 1) / 100)
