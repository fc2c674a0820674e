"""The WSGI entry point (mlmonitor/wsgi.py)."""

from __future__ import annotations

import gc
import importlib
import json
import re
import sqlite3
import threading
from io import BytesIO
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.test import RequestFactory
from prometheus_client import REGISTRY

import mlmonitor.wsgi
from predictions.models import Prediction


def test_wsgi_module_freezes_the_startup_objects() -> None:
    """Loading the WSGI application moves the objects of Django's setup out of the collector's generations, so full
    collections during requests do not walk them again; the collector itself stays on."""
    # given: nothing frozen
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    # when
    importlib.reload(mlmonitor.wsgi)
    # then
    assert gc.get_freeze_count() > 10_000
    assert gc.isenabled()
    assert callable(mlmonitor.wsgi.application)


def _closed(driver_connection: Any) -> bool:
    if connection.vendor == "postgresql":
        return bool(driver_connection.closed)
    try:
        driver_connection.execute("SELECT 1")
    except sqlite3.ProgrammingError:
        return True
    return False


def _thread_connection(release: threading.Event | None = None) -> tuple[threading.Thread, list[Any]]:
    """A started thread that opens its own database connection (and, given `release`, waits for it before ending);
    the list receives the driver connection."""
    opened: list[Any] = []

    def work() -> None:
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            cursor.execute("SELECT 1")
        opened.append(connections[DEFAULT_DB_ALIAS].connection)
        if release is not None:
            release.wait(10)

    thread = threading.Thread(target=work)
    thread.start()
    return thread, opened


@pytest.mark.django_db(transaction=True)
def test_an_ended_threads_connection_is_closed_when_another_connection_opens() -> None:
    """granian ends idle worker threads and starts new ones when requests come back; the connections of the ended
    threads are closed when the new threads open theirs (before the first fix, they stayed open until a full garbage
    collection: PostgreSQL's connection count grew 16, 22, 26 over three bursts of 400 requests; the first fix closed
    them from the ending thread's local storage, which crashed granian's workers on SQLite)."""
    # given: a thread that opened a connection and ended, and one that holds its connection open
    ended, ended_opened = _thread_connection()
    ended.join()
    release = threading.Event()
    alive, alive_opened = _thread_connection(release)
    while not alive_opened:
        alive.join(0.01)
    # when: a third thread opens a connection
    third, _ = _thread_connection()
    third.join()
    # then: the ended thread's connection is closed, the living thread's is not
    assert _closed(ended_opened[0])
    assert not _closed(alive_opened[0])
    release.set()
    alive.join()


def test_nothing_runs_as_a_thread_ends() -> None:
    """No object of mlmonitor.wsgi lives in a thread's local storage (Python code run while granian tears a thread
    down crashed its workers): the registry is a plain dict keyed by thread id and start time."""
    assert not any(isinstance(value, threading.local) for value in vars(mlmonitor.wsgi).values())


# --- the hot-path route ------------------------------------------------------------------------------------------

ROW = [5.1, 3.5, 1.4, 0.2]
VOLATILE = {"prediction_id", "latency_ms"}


def post_environ(path: str, body: bytes, **extra: str) -> dict[str, Any]:
    """The WSGI environ of a JSON POST (extra: environ keys, replacing the defaults)."""
    environ = RequestFactory().generic("POST", path, body, content_type="application/json").environ
    environ.update({"CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(body)), **extra})
    if extra.get("HTTP_TRANSFER_ENCODING") == "chunked":
        environ.pop("CONTENT_LENGTH")
    return environ


def wsgi_call(handler: Any, path: str, body: bytes, **extra: str) -> tuple[int, dict[str, str], bytes]:
    """One JSON POST through a WSGI callable: (status code, headers, body)."""
    answered: list[Any] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        answered[:] = [int(status.split()[0]), dict(headers)]

    chunks = handler(post_environ(path, body, **extra), start_response)
    try:
        content = b"".join(chunks)
    finally:
        getattr(chunks, "close", lambda: None)()
    return answered[0], answered[1], content


def request_log(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str, int]]:
    """The django.request records logged since the last call (level, message, status), then forgotten."""
    logged = [
        (record.levelname, record.getMessage(), getattr(record, "status_code", 0))
        for record in caplog.records
        if record.name == "django.request"
    ]
    caplog.clear()
    return logged


def stable(content: bytes) -> object:
    """An answer without its per-request values (ids, latency)."""
    body = json.loads(content) if content.startswith((b"{", b"[")) else content.decode()
    if isinstance(body, dict):
        rows = body.pop("predictions", None)
        body = {k: v for k, v in body.items() if k not in VOLATILE}
        if rows is not None:
            body["predictions"] = [{k: v for k, v in row.items() if k not in VOLATILE} for row in rows]
    return body


def http_series() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every django_http_* counter and histogram count of the in-process registry, by name and labels (latency
    buckets and sums left out: they depend on timing)."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for metric in REGISTRY.collect()
        if metric.name.startswith("django_http_")
        for sample in metric.samples
        if sample.name.endswith(("_total", "_count"))
    }


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("wsgi_test_connection_kept")
@pytest.mark.parametrize(
    ("path", "body", "extra", "status"),
    [
        ("/predict", {"features": ROW}, {}, 200),
        ("/api/v1/models/iris/predict", {"instances": [ROW, [6.2, 2.9, 4.3, 1.3]]}, {}, 200),
        ("/api/v1/models/iris/versions/1/predict", {"features": ROW}, {"HTTP_ACCEPT": "*/*"}, 200),
        ("/predict", {"features": ROW}, {"CONTENT_TYPE": "application/json; charset=utf-8"}, 200),
        ("/predict", b'{"features": [1, 2', {}, 400),
        ("/predict", b"", {}, 400),
        ("/predict", {"features": [1, 2]}, {}, 400),
        ("/predict", {"features": ROW}, {"HTTP_TRANSFER_ENCODING": "chunked"}, 411),
        ("/predict", b"[" * (10 * 1024 * 1024 + 1), {}, 413),
        ("/api/v1/models/unknown/predict", {"features": ROW}, {}, 404),
        ("/api/v1/models/iris/versions/9/predict", {"features": ROW}, {}, 404),
        ("/predict", {"features": ROW}, {"wsgi.url_scheme": "https"}, 200),
        ("/predict", {"features": ROW}, {"HTTP_X_FORWARDED_PROTO": "https"}, 200),
    ],
    ids=[
        *("row", "batch", "version", "charset", "bad-json", "empty", "short-row", "chunked", "too-big", "model", "ver"),
        *("https", "proxy-header-unset"),
    ],
)
def test_the_hot_path_route_answers_as_the_full_middleware_chain(
    iris_version: Any, path: str, body: Any, extra: dict[str, str], status: int, caplog: pytest.LogCaptureFixture
) -> None:
    """The same status, headers (security headers included) and body from the full handler and the route, the same
    rows, the same increments of the HTTP series (the route records them itself, without the metrics middleware) and
    the same log of an error answer (django.request)."""
    # given
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    assert mlmonitor.wsgi.hot_path_request(post_environ(path, raw, **extra))
    rows_before = Prediction.objects.count()
    series_before = http_series()
    # when
    with caplog.at_level("WARNING", logger="django.request"):
        full = wsgi_call(mlmonitor.wsgi.full_handler, path, raw, **extra)
        logged_full = request_log(caplog)
        rows_full = Prediction.objects.count() - rows_before
        series_full = http_series()
        hot = wsgi_call(mlmonitor.wsgi.HotPathRoute(mlmonitor.wsgi.full_handler), path, raw, **extra)
        logged_hot = request_log(caplog)
    rows_hot = Prediction.objects.count() - rows_before - rows_full
    series_hot = http_series()
    # then
    assert logged_full == logged_hot
    assert bool(logged_full) == (status >= 400)
    counted_full = {key: value - series_before.get(key, 0.0) for key, value in series_full.items()}
    counted_hot = {key: value - series_full.get(key, 0.0) for key, value in series_hot.items()}
    assert {k: v for k, v in counted_full.items() if v} == {k: v for k, v in counted_hot.items() if v}
    assert counted_full[("django_http_requests_before_middlewares_total", ())] == 1
    assert full[0] == hot[0] == status
    assert {k: v for k, v in full[1].items() if k != "Content-Length"} == {
        k: v for k, v in hot[1].items() if k != "Content-Length"
    }
    assert full[1]["X-Content-Type-Options"] == "nosniff"
    assert stable(full[2]) == stable(hot[2])
    assert rows_full == rows_hot == (len(body.get("instances", [ROW])) if status == 200 else 0)


class Delegate:
    """A WSGI handler that counts the requests it is handed."""

    def __init__(self, handler: Any) -> None:
        self.handler, self.calls = handler, 0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        self.calls += 1
        return self.handler(environ, start_response)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("wsgi_test_connection_kept")
@pytest.mark.parametrize(
    ("overrides", "extra", "routed", "status"),
    [
        ({"ALLOWED_HOSTS": ["example.org"]}, {}, False, 400),
        ({"ALLOWED_HOSTS": ["example.org"]}, {"HTTP_HOST": "example.org:8000"}, True, 200),
        ({"ALLOWED_HOSTS": [".example.org"]}, {"HTTP_HOST": "evil.test"}, False, 400),
        (
            {"USE_X_FORWARDED_HOST": True, "ALLOWED_HOSTS": ["api.example.org"]},
            {"HTTP_X_FORWARDED_HOST": "api.example.org"},
            True,
            200,
        ),
        ({"SECURE_SSL_REDIRECT": True}, {}, False, 301),
        ({"SECURE_SSL_REDIRECT": True}, {"wsgi.url_scheme": "https"}, True, 200),
        (
            {"SECURE_HSTS_SECONDS": 3600, "SECURE_HSTS_INCLUDE_SUBDOMAINS": True, "SECURE_HSTS_PRELOAD": True},
            {"wsgi.url_scheme": "https"},
            True,
            200,
        ),
        ({"SECURE_HSTS_SECONDS": 3600}, {}, True, 200),
        (
            {
                "X_FRAME_OPTIONS": "sameorigin",
                "SECURE_REFERRER_POLICY": ["origin", "strict-origin"],
                "SECURE_CROSS_ORIGIN_OPENER_POLICY": None,
                "SECURE_CONTENT_TYPE_NOSNIFF": False,
            },
            {},
            True,
            200,
        ),
        ({"DISALLOWED_USER_AGENTS": [re.compile("curl")]}, {"HTTP_USER_AGENT": "curl/8.5"}, False, 403),
        ({"PREPEND_WWW": True}, {"HTTP_HOST": "testserver"}, False, 301),
        ({"DATA_UPLOAD_MAX_MEMORY_SIZE": 10}, {}, False, 413),
    ],
    ids=[
        *("host-refused", "host-allowed", "subdomain-refused", "forwarded-host", "ssl-redirect", "ssl-already"),
        *("hsts", "hsts-plain-http", "other-headers", "user-agent-refused", "prepend-www", "body-over-limit"),
    ],
)
def test_under_other_settings_the_route_answers_as_the_full_chain_or_hands_the_request_to_it(
    iris_version: Any, settings: Any, overrides: dict[str, Any], extra: dict[str, str], routed: bool, status: int
) -> None:
    """Where a middleware would answer a predict POST itself (a host outside ALLOWED_HOSTS, an SSL redirect, a refused
    user agent, PREPEND_WWW, a body over DATA_UPLOAD_MAX_MEMORY_SIZE) the route hands it to the full handler; where
    only the headers change (HSTS over TLS, framing, referrer and opener policies), it answers them as the chain."""
    # given: both handlers built under the settings (middleware read them as they start)
    for name, value in overrides.items():
        setattr(settings, name, value)
    body = json.dumps({"features": ROW}).encode()
    full = mlmonitor.wsgi.WSGIHandler()
    delegate = Delegate(mlmonitor.wsgi.WSGIHandler())
    route = mlmonitor.wsgi.HotPathRoute(delegate)  # type: ignore[arg-type]  # a counting WSGIHandler
    rows_before = Prediction.objects.count()
    # when
    expected = wsgi_call(full, "/predict", body, **extra)
    answered = wsgi_call(route, "/predict", body, **extra)
    # then
    assert delegate.calls == (0 if routed else 1)
    assert expected[0] == answered[0] == status
    assert {k: v for k, v in expected[1].items() if k != "Content-Length"} == {
        k: v for k, v in answered[1].items() if k != "Content-Length"
    }
    assert stable(expected[2]) == stable(answered[2])
    assert Prediction.objects.count() - rows_before == (2 if status == 200 else 0)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("wsgi_test_connection_kept")
def test_an_exception_the_view_does_not_answer_is_the_500_of_the_full_chain(
    iris_version: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """An unexpected exception in the service: Django's 500 handler (the API's JSON 500), its headers and its log
    record, from the route as from the full chain; nothing is stored."""
    # given
    from predictions import services

    def broken(**kwargs: Any) -> Any:
        raise RuntimeError("broken on purpose")

    monkeypatch.setattr(services, "prediction_create", broken)
    body = json.dumps({"features": ROW}).encode()
    # when
    with caplog.at_level("WARNING", logger="django.request"):
        full = wsgi_call(mlmonitor.wsgi.full_handler, "/predict", body)
        logged_full = request_log(caplog)
        hot = wsgi_call(mlmonitor.wsgi.HotPathRoute(mlmonitor.wsgi.full_handler), "/predict", body)
        logged_hot = request_log(caplog)
    # then
    assert full[0] == hot[0] == 500
    assert json.loads(hot[2])["error"]["code"] == "server_error"
    assert full[1] == hot[1]
    assert full[2] == hot[2]
    assert logged_full == logged_hot == [("ERROR", "Internal Server Error: /predict", 500)]
    assert Prediction.objects.count() == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("wsgi_test_connection_kept")
def test_while_the_database_is_down_the_route_answers_the_503_of_the_full_chain(iris_version: Any) -> None:
    """The database unreachable: the JSON 503 `database_unavailable` with its Retry-After, from both."""
    from tests.outages import database_unreachable

    # given
    body = json.dumps({"features": ROW}).encode()
    # when
    with database_unreachable():
        full = wsgi_call(mlmonitor.wsgi.full_handler, "/predict", body)
        hot = wsgi_call(mlmonitor.wsgi.HotPathRoute(mlmonitor.wsgi.full_handler), "/predict", body)
    # then
    assert full[0] == hot[0] == 503
    assert full[1] == hot[1] and int(hot[1]["Retry-After"]) > 0
    assert stable(full[2]) == stable(hot[2])
    assert json.loads(hot[2])["error"]["code"] == "database_unavailable"


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("wsgi_test_connection_kept")
@pytest.mark.parametrize(("forwarded", "transport"), [("https", "https"), ("http", "http"), ("https, http", "https")])
def test_behind_a_tls_proxy_the_hot_path_counts_the_forwarded_transport(
    iris_version: Any, settings: Any, forwarded: str, transport: str
) -> None:
    """With SECURE_PROXY_SSL_HEADER set (BEHIND_TLS_PROXY), both handlers label a request with the transport the
    proxy forwarded, not the WSGI scheme (plain HTTP behind the proxy)."""
    # given
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    name = "django_http_requests_total_by_view_transport_method_total"
    labels = {"view": "seed-predict", "transport": transport, "method": "POST"}
    body = json.dumps({"features": ROW}).encode()
    before = REGISTRY.get_sample_value(name, labels) or 0.0
    # when
    full = wsgi_call(mlmonitor.wsgi.full_handler, "/predict", body, HTTP_X_FORWARDED_PROTO=forwarded)
    hot = wsgi_call(
        mlmonitor.wsgi.HotPathRoute(mlmonitor.wsgi.full_handler), "/predict", body, HTTP_X_FORWARDED_PROTO=forwarded
    )
    # then
    assert full[0] == hot[0] == 200
    assert REGISTRY.get_sample_value(name, labels) == before + 2


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "path", "extra", "hot"),
    [
        ("POST", "/predict", {}, True),
        ("POST", "/api/v1/models/iris/predict", {"HTTP_COOKIE": "csrftoken=x"}, False),
        ("POST", "/api/v1/models/iris/versions/1/predict", {"HTTP_ACCEPT": "application/json"}, True),
        ("GET", "/predict", {}, False),
        ("OPTIONS", "/predict", {}, False),
        ("POST", "/predict", {"HTTP_AUTHORIZATION": "Bearer abc"}, False),
        ("POST", "/predict", {"HTTP_COOKIE": "csrftoken=x; sessionid=abc"}, False),
        ("POST", "/predict", {"CONTENT_TYPE": "text/plain"}, False),
        ("POST", "/predict", {"CONTENT_TYPE": ""}, False),
        ("POST", "/predict", {"HTTP_ACCEPT": "text/html"}, False),
        ("POST", "/predict", {"HTTP_ACCEPT": "application/json; q=0.9"}, False),
        ("POST", "/api/v1/feedback", {}, False),
        ("POST", "/admin/login/", {}, False),
        ("POST", "/no/such/predict", {}, False),
        ("POST", "/predict/", {}, False),
    ],
)
def test_only_requests_the_lean_view_answers_take_the_hot_path(
    method: str, path: str, extra: dict[str, str], hot: bool
) -> None:
    """What the lean view would hand to the DRF view (which reads the session and answers its own errors) takes the
    full chain, so that its headers (Vary: Cookie) stay those of the full chain."""
    environ = {**post_environ(path, b"{}", **extra), "REQUEST_METHOD": method}
    assert mlmonitor.wsgi.hot_path_request(environ) is hot


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("wsgi_test_connection_kept")
def test_a_malformed_csrf_cookie_is_replaced_as_by_the_full_chain(iris_version: Any) -> None:
    """CSRF middleware answers a malformed csrftoken cookie with a new one, also on a predict POST; the hot path,
    which skips that middleware, must not take such a request (found by a fresh-clone trial: no Set-Cookie)."""
    # when
    status, headers, _ = wsgi_call(
        mlmonitor.wsgi.application, "/predict", json.dumps({"features": ROW}).encode(), HTTP_COOKIE="csrftoken=x"
    )
    # then
    assert status == 200
    assert headers.get("Set-Cookie", "").lstrip().startswith("csrftoken=")


@pytest.mark.django_db
def test_required_tokens_keep_every_predict_on_the_full_chain(settings: Any) -> None:
    # given
    settings.API_REQUIRE_TOKEN_FOR_READ = True
    # then
    assert not mlmonitor.wsgi.hot_path_request(post_environ("/predict", b"{}"))


def test_the_hot_path_route_does_the_work_of_every_middleware_it_does_not_run() -> None:
    """MIDDLEWARE less the skipped ones and the metrics pair is exactly the chain whose work the route does
    (HOT_PATH_MIDDLEWARE_DONE), so the route exists; it records the metrics pair's series itself."""
    # given
    from django.conf import settings

    skipped = mlmonitor.wsgi.HOT_PATH_MIDDLEWARE_SKIPPED | mlmonitor.wsgi.HOT_PATH_HTTP_METRICS_MIDDLEWARE
    assert set(settings.MIDDLEWARE) >= mlmonitor.wsgi.HOT_PATH_HTTP_METRICS_MIDDLEWARE  # METRICS_ENABLED in tests
    # then
    assert tuple(path for path in settings.MIDDLEWARE if path not in skipped) == mlmonitor.wsgi.HOT_PATH_MIDDLEWARE_DONE
    route = mlmonitor.wsgi.hot_path_route(mlmonitor.wsgi.full_handler)
    assert route is not None
    assert route.http_metrics is not None


def test_with_a_middleware_the_route_does_not_know_every_request_takes_the_full_chain(
    settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A middleware added to MIDDLEWARE (between the security headers and the rest here) might answer or change a
    predict request: the route refuses to exist rather than skip it, and says so."""
    # given
    settings.MIDDLEWARE = [*settings.MIDDLEWARE[:2], "django.middleware.gzip.GZipMiddleware", *settings.MIDDLEWARE[2:]]
    # when
    with caplog.at_level("WARNING", logger="mlmonitor.wsgi"):
        route = mlmonitor.wsgi.hot_path_route(mlmonitor.wsgi.full_handler)
    # then
    assert route is None
    assert "GZipMiddleware" in caplog.text and "every request takes the full middleware chain" in caplog.text
    with pytest.raises(ImproperlyConfigured):
        mlmonitor.wsgi.HotPathRoute(mlmonitor.wsgi.full_handler)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("wsgi_test_connection_kept")
def test_a_hot_path_answer_is_counted_by_the_http_metrics(iris_version: Any) -> None:
    # given
    labels = {"status": "200", "view": "seed-predict", "method": "POST"}
    name = "django_http_responses_total_by_status_view_method_total"
    before = REGISTRY.get_sample_value(name, labels) or 0.0
    requests_before = REGISTRY.get_sample_value("django_http_requests_before_middlewares_total") or 0.0
    # when
    status, _, _ = wsgi_call(mlmonitor.wsgi.application, "/predict", json.dumps({"features": ROW}).encode())
    # then
    assert status == 200
    assert REGISTRY.get_sample_value(name, labels) == before + 1
    assert REGISTRY.get_sample_value("django_http_requests_before_middlewares_total") == requests_before + 1


def test_web_hot_path_off_serves_every_request_through_the_full_chain(settings: Any) -> None:
    # given
    settings.WEB_HOT_PATH = False
    try:
        # when
        importlib.reload(mlmonitor.wsgi)
        # then
        assert mlmonitor.wsgi.application.hot is None  # type: ignore[attr-defined]
    finally:
        settings.WEB_HOT_PATH = True
        importlib.reload(mlmonitor.wsgi)
    assert isinstance(mlmonitor.wsgi.application.hot, mlmonitor.wsgi.HotPathRoute)  # type: ignore[attr-defined]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("wsgi_test_connection_kept")
@pytest.mark.parametrize(
    ("path", "extra"),
    [
        ("/predict", {}),  # the hot path
        ("/predict", {"HTTP_COOKIE": "c=1"}),  # the full chain, the lean view
        ("/api/v1/models/iris/predict", {"HTTP_ACCEPT": "application/json; q=0.9"}),  # the DRF view
    ],
    ids=["hot-path", "full-chain", "drf"],
)
def test_a_body_shorter_than_its_content_length_is_refused_and_nothing_is_stored(
    iris_version: Any, path: str, extra: dict[str, str]
) -> None:
    """A client that declares 135 bytes and sends a complete JSON object of 35 before closing: 400
    `body_truncated`, not a prediction scored from the prefix."""
    # given
    sent = json.dumps({"features": ROW}).encode()
    rows_before = Prediction.objects.count()
    # a server's input ends where the client stopped (Django's test payload refuses reads past its bytes instead)
    environ = {**post_environ(path, sent, **extra), "CONTENT_LENGTH": str(len(sent) + 100), "wsgi.input": BytesIO(sent)}
    answered: list[Any] = []
    # when
    chunks = mlmonitor.wsgi.application(environ, lambda status, headers, exc_info=None: answered.append(status))
    content = b"".join(chunks)
    getattr(chunks, "close", lambda: None)()
    # then
    assert answered[0].startswith("400")
    error = json.loads(content)["error"]
    assert error["code"] == "body_truncated"
    assert f"after {len(sent)} of its {len(sent) + 100} bytes" in error["message"]
    assert Prediction.objects.count() == rows_before


def test_the_content_length_input_reads_and_reads_lines_within_the_body() -> None:
    """Reads and line reads of a whole body return it exactly, never past its length; a short stream raises."""
    from mlmonitor.errors import BodyTruncated

    # given
    stream = mlmonitor.wsgi.ContentLengthInput(BytesIO(b"ab\ncd\nef-and-the-next-request"), 8)
    # then
    assert stream.readline() == b"ab\n"
    assert stream.read(2) == b"cd"
    assert stream.readline(10) == b"\n"
    assert stream.read() == b"ef"
    assert stream.read() == b"" and stream.readline() == b""
    with pytest.raises(BodyTruncated):
        mlmonitor.wsgi.ContentLengthInput(BytesIO(b"abc"), 4).read()
    with pytest.raises(BodyTruncated):
        mlmonitor.wsgi.ContentLengthInput(BytesIO(b"abc"), 4).readline()
    assert mlmonitor.wsgi.ContentLengthInput(BytesIO(b"abc\n"), 4).readline() == b"abc\n"


def test_a_multipart_upload_reads_whole_through_the_content_length_input() -> None:
    """Django's multipart parser (admin uploads of reference datasets) reads a 3 MB file and a field through the
    checked input exactly as through the server's own."""
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.core.handlers.wsgi import WSGIRequest

    # given
    content = bytes(range(256)) * (3 * 4096)
    upload = SimpleUploadedFile("reference.csv", content, content_type="text/csv")
    environ = RequestFactory().post("/admin/upload/", {"name": "iris", "file": upload}).environ
    body = environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"]))
    environ["wsgi.input"] = mlmonitor.wsgi.ContentLengthInput(BytesIO(body), len(body))
    # when
    request = WSGIRequest(environ)
    # then
    assert request.POST["name"] == "iris"
    assert request.FILES["file"].read() == content


def test_a_worker_start_without_a_readable_database_leaves_the_models_to_the_first_requests(
    settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """worker_warm() at a worker's start: when the database cannot be read (here: no database access at all), it logs
    a warning and returns; the worker still starts and its first requests load the models."""
    # given
    settings.WEB_WARM_MODELS = True
    # when
    with caplog.at_level("WARNING", logger="mlmonitor.wsgi"):
        mlmonitor.wsgi.worker_warm()
    # then
    assert "models not loaded at worker start" in caplog.text
