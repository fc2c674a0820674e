"""WSGI entry point for the web server (granian by default, or gunicorn: mlmonitor/serve.py).

Once Django is set up, the objects that exist (about 190,000: modules, classes, settings, the URL and middleware
machinery) live as long as the process; `gc.freeze()` moves them out of the collector's generations. Without it every
full collection walks all of them again, and a batch request, whose parsed rows and answer dicts survive a young
collection or two, brings a full collection every few dozen requests: measured, about half the CPU of a 1,000-row
batch (docs/benchmarks.md, "Batch path"). Objects created later are collected as before.

Database connections are per thread in Django. granian stops a worker thread that has been idle for a while and
starts a new one when requests come back; the old thread's connection would stay open until a full garbage
collection happened to free it (Django's connection objects hold reference cycles), so every idle period left a few
more server connections behind. `stale_thread_connections_close` remembers each new connection under its thread and,
whenever a connection is opened (which is when granian's new threads start), closes those of threads that have
ended: the server's connection count stays at what the threads of the last burst opened (16 on PostgreSQL over four
bursts separated by idle periods, measured by hand). Nothing runs as a thread ends: Python code run from a thread's
local storage while granian tears the thread down crashed the worker (a segfault in the interpreter, on SQLite,
seen in a fresh-clone trial).

The predict endpoints' common request (an anonymous JSON POST, see predictions/lean.py) is answered at the WSGI
level by `HotPathRoute`: the lean view's work plus what Django's handler and the middleware do for that request
(security headers, host validation, 411, 503, the HTTP series of the metrics pair), without a request object, a
response object or a middleware chain; the middleware such a request never uses (`HOT_PATH_MIDDLEWARE_SKIPPED`:
static files, sessions, CSRF, authentication, messages, login lockout) are not run. `application` checks a body
against its Content-Length (`ContentLengthInput`: a body that ends early is a 400, not a shorter body) and picks the
route per request (`hot_path_request`): where the URL's view carries a `hot_path` predicate (the lean predict views)
that accepts the request, and the request has no cookies; the route hands whatever a middleware would answer itself
to the full handler. Measured in docs/benchmarks.md ("The hot path at the WSGI level"; before it, "Seed peer as
written, and the hot-path middleware").
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable, Iterable
from functools import lru_cache
from http import HTTPStatus
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import DisallowedHost, ImproperlyConfigured
from django.core.handlers.exception import response_for_exception
from django.core.handlers.wsgi import WSGIHandler, WSGIRequest, get_path_info, get_script_name
from django.core.signals import request_finished, request_started, setting_changed
from django.core.wsgi import get_wsgi_application
from django.db.backends.signals import connection_created
from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, ResolverMatch, get_resolver, set_script_prefix
from django.utils.log import log_response
from django.utils.module_loading import import_string

from mlmonitor.environment import settings_module_default

settings_module_default()

logger = logging.getLogger(__name__)

# What an anonymous JSON POST to a predict endpoint never uses: static files (not a static URL), the session and
# authentication (no cookie, no credentials: the user is anonymous either way), CSRF (the view is exempt), messages,
# and the login lockout (not a login).
HOT_PATH_MIDDLEWARE_SKIPPED = frozenset(
    {
        "whitenoise.middleware.WhiteNoiseMiddleware",
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django.contrib.messages.middleware.MessageMiddleware",
        "axes.middleware.AxesMiddleware",
    }
)

# The lean metrics middleware pair, whose series the hot-path route records itself (HotPathHttpMetrics).
HOT_PATH_HTTP_METRICS_MIDDLEWARE = frozenset(
    {"mlmonitor.middleware.LeanPrometheusBeforeMiddleware", "mlmonitor.middleware.LeanPrometheusAfterMiddleware"}
)


def _thread_start(native_id: int) -> str | None:
    """The start time (clock ticks after boot) of this process' thread with that native id, from /proc; None when the
    thread has ended or /proc does not show it. With the id it names one thread, even if the id is reused."""
    try:
        return Path(f"/proc/self/task/{native_id}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


# (thread native id, thread start time, database alias) -> the driver connection that thread opened
_thread_connections: dict[tuple[int, str, str], Any] = {}
_thread_connections_lock = threading.Lock()


def stale_thread_connections_close(sender: Any, connection: Any, **kwargs: Any) -> None:
    """`connection_created` receiver: remember the new driver connection under its thread, and close the driver
    connections of threads that have ended (from this thread: the drivers' close() may run on any thread, and Django
    opens SQLite connections with check_same_thread off). Without /proc (not Linux) it does nothing."""
    native_id = threading.get_native_id()
    started = _thread_start(native_id)
    if started is None:
        return
    with _thread_connections_lock:
        _thread_connections[native_id, started, connection.alias] = connection.connection
        ended = [key for key in _thread_connections if _thread_start(key[0]) != key[1]]
        stale = [_thread_connections.pop(key) for key in ended]
    for driver_connection in stale:
        try:
            driver_connection.close()
        except Exception:  # noqa: S110 - a connection the server already dropped: nothing left to close
            pass


connection_created.connect(stale_thread_connections_close, dispatch_uid="mlmonitor.wsgi.thread_connections")


# The middleware of the hot chain (MIDDLEWARE less the skipped ones and the metrics pair), in order, whose work for
# the route's request HotPathRoute does itself; with any other middleware in MIDDLEWARE there is no route.
HOT_PATH_MIDDLEWARE_DONE = (
    # SSL redirect: not on the route (the full chain answers); its headers: added by the route
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",  # X-Frame-Options: added by the route
    "mlmonitor.errors.LengthRequiredMiddleware",  # a chunked body: not on the route (the full chain answers 411)
    # host validation, refused user agents, PREPEND_WWW: not on the route when they would answer; Content-Length
    "django.middleware.common.CommonMiddleware",
    "mlmonitor.errors.DatabaseUnavailableMiddleware",  # a database error the view raises: its JSON 503
)


class _RouteSettings:
    """The settings HotPathRoute reads per request, read once and again whenever a setting changes (Django's
    setting_changed signal: override_settings, the tests' `settings` fixture): a plain attribute each, not a
    LazySettings lookup."""

    def __init__(self) -> None:
        self.proxy_ssl_header: tuple[str, str] | None = settings.SECURE_PROXY_SSL_HEADER
        self.ssl_redirect: bool = settings.SECURE_SSL_REDIRECT
        self.refused_user_agents: bool = bool(settings.DISALLOWED_USER_AGENTS)
        self.prepend_www: bool = settings.PREPEND_WWW
        self.max_body: int | None = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        self.debug: bool = settings.DEBUG
        # what HttpRequest.get_host reads besides the request
        self.hosts = (tuple(settings.ALLOWED_HOSTS), settings.USE_X_FORWARDED_HOST, settings.USE_X_FORWARDED_PORT)


_route_settings: _RouteSettings | None = None


def _route_settings_forget(**kwargs: Any) -> None:
    global _route_settings
    _route_settings = None


setting_changed.connect(_route_settings_forget, dispatch_uid="mlmonitor.wsgi.route_settings")


def _current_route_settings() -> _RouteSettings:
    global _route_settings
    current = _route_settings
    if current is None:
        current = _route_settings = _RouteSettings()
    return current


def _scheme_secure(environ: dict[str, Any], proxy_ssl_header: tuple[str, str] | None) -> bool:
    """HttpRequest.is_secure() of a WSGIRequest on this environ: the TLS proxy's header where
    SECURE_PROXY_SSL_HEADER names one and the request carries it (its first value), else the WSGI scheme."""
    if proxy_ssl_header:
        header, secure_value = proxy_ssl_header
        value = environ.get(header)
        if value is not None:
            return bool(value.split(",", 1)[0].strip() == secure_value)
    return bool(environ.get("wsgi.url_scheme") == "https")


@lru_cache(maxsize=512)
def _host_allowed(host: tuple[Any, ...], secure: bool, hosts: tuple[Any, ...], debug: bool) -> bool:
    """Whether HttpRequest.get_host() accepts a request with these host values (HTTP_X_FORWARDED_HOST, HTTP_HOST,
    SERVER_NAME, SERVER_PORT, HTTP_X_FORWARDED_PORT; None where absent), transport and settings (`hosts`, DEBUG):
    Django's own check on a request holding only them, cached per combination (bounded: clients choose the Host)."""
    request = HttpRequest()
    names = ("HTTP_X_FORWARDED_HOST", "HTTP_HOST", "SERVER_NAME", "SERVER_PORT", "HTTP_X_FORWARDED_PORT")
    request.META = {name: value for name, value in zip(names, host, strict=True) if value is not None}
    request.is_secure = lambda: secure  # type: ignore[method-assign]
    try:
        request.get_host()
    except (DisallowedHost, KeyError):  # KeyError: neither header nor SERVER_NAME (the full chain answers)
        return False
    return True


class HotPathRoute:
    """The predict endpoints' common request, an anonymous JSON POST (predictions/lean.py), answered at the WSGI
    level: the lean view's work (predictions.lean.predict_bytes) and, done here, what Django's handler and the hot
    chain's middleware (HOT_PATH_MIDDLEWARE_DONE) do for that request, without building a request object, a
    response object or the middleware chain. A request any of them would answer itself (an SSL redirect, a host
    outside ALLOWED_HOSTS, a refused user agent, PREPEND_WWW, a chunked or oversized body) is served by the full
    handler instead. Built after Django's setup; ImproperlyConfigured when MIDDLEWARE holds a middleware the route
    does not do the work of.

    What each piece of Django's cycle becomes here:
    - request_started and request_finished: sent as Django's handler sends them (closing the thread's database
      connections that are unusable or past CONN_MAX_AGE, and whatever else is connected).
    - the security and framing headers: those SecurityMiddleware and XFrameOptionsMiddleware add to an answer of
      each transport, computed once by those middleware themselves; Content-Length as CommonMiddleware sets it.
    - an error answer (4xx/5xx): built as a Django response for a WSGIRequest of the environ and passed through the
      chain's response middleware and Django's logging of error responses (django.request), as in the handler; an
      exception the lean view does not answer goes through the chain's exception middleware (the database's 503)
      and Django's response_for_exception (the 500 handler), as in the handler.
    - the HTTP series of the lean metrics pair, recorded in one write (mlmonitor.middleware.HotPathHttpMetrics).

    The answer's body is handed to the server as a one-item list, after request_finished's work (Django sends it when
    the server closes the response): granian writes a list in one call instead of iterating a response object.
    Measured in docs/benchmarks.md ("The hot path at the WSGI level")."""

    def __init__(self, full: WSGIHandler) -> None:
        self.full = full
        middleware = settings.MIDDLEWARE
        metrics_pair = set(middleware) >= HOT_PATH_HTTP_METRICS_MIDDLEWARE
        skipped = HOT_PATH_MIDDLEWARE_SKIPPED | (HOT_PATH_HTTP_METRICS_MIDDLEWARE if metrics_pair else frozenset())
        chain = [path for path in middleware if path not in skipped]
        if chain != list(HOT_PATH_MIDDLEWARE_DONE):
            raise ImproperlyConfigured(
                "The predict hot path does the work of these middleware only: "
                f"{', '.join(HOT_PATH_MIDDLEWARE_DONE)}; MIDDLEWARE gives {', '.join(chain)}."
            )
        from mlmonitor.middleware import HotPathHttpMetrics
        from mlmonitor.parsers import content_length  # DRF's parsers: importable once Django is set up

        self._content_length = content_length
        self.http_metrics = HotPathHttpMetrics() if metrics_pair else None
        instances = [import_string(path)(_never_called) for path in chain]
        # as BaseHandler.load_middleware orders them: responses from the innermost out, exceptions innermost first
        self._response_middleware = [m.process_response for m in reversed(instances) if hasattr(m, "process_response")]
        self._exception_middleware = [
            m.process_exception for m in reversed(instances) if hasattr(m, "process_exception")
        ]
        self._added_headers = {secure: self._headers_added(secure) for secure in (False, True)}

    def _headers_added(self, secure: bool) -> list[tuple[str, str]]:
        """The headers the chain's response middleware add to a 200 answer on this transport, less Content-Length."""
        request = HttpRequest()
        request.is_secure = lambda: secure  # type: ignore[method-assign]
        response = HttpResponse(b"", content_type="application/json")
        for process_response in self._response_middleware:
            response = process_response(request, response)
        return [(k, v) for k, v in response.items() if k not in ("Content-Type", "Content-Length")]

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """Answer the request, or hand it to the full handler when a middleware would answer it itself."""
        started = time.perf_counter()
        config = _current_route_settings()
        secure = _scheme_secure(environ, config.proxy_ssl_header)
        length = self._content_length(environ)
        if (
            (config.ssl_redirect and not secure)
            or config.refused_user_agents
            or config.prepend_www
            or (config.max_body is not None and length > config.max_body)
            or ("chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower() and not environ.get("CONTENT_LENGTH"))
            or not _host_allowed(
                (
                    environ.get("HTTP_X_FORWARDED_HOST"),
                    environ.get("HTTP_HOST"),
                    environ.get("SERVER_NAME"),
                    environ.get("SERVER_PORT"),
                    environ.get("HTTP_X_FORWARDED_PORT"),
                ),
                secure,
                config.hosts,
                config.debug,
            )
        ):
            return self.full(environ, start_response)
        match = _lean_view_match(get_path_info(environ))
        assert match is not None, "the dispatcher sends only hot_path_request()s here"
        request_started.send(sender=self.__class__, environ=environ)
        request: list[WSGIRequest] = []  # built only for an error answer

        def request_get() -> WSGIRequest:
            if not request:
                set_script_prefix(get_script_name(environ))  # as the handler, for what an error page reverses
                request.append(WSGIRequest(environ))
            return request[0]

        try:
            body, status, headers = match.func.hot_path_answer(  # type: ignore[attr-defined]  # the lean view's
                lambda: environ["wsgi.input"].read(length) if length else b"",
                match.kwargs,
                lambda: {"request": request_get(), "view": None},
            )
        except Exception as exc:
            answer = self._error_answer(request_get(), None, exc)
        else:
            if status < 400:
                answer = (
                    "200 OK" if status == 200 else f"{status} {HTTPStatus(status).phrase}",
                    [
                        ("Content-Type", "application/json"),
                        *headers.items(),
                        *self._added_headers[secure],
                        ("Content-Length", str(len(body))),
                    ],
                    body,
                )
            else:
                response = HttpResponse(body, status=status, content_type="application/json", headers=headers)
                answer = self._error_answer(request_get(), response, None)
        if self.http_metrics is not None:
            status = int(answer[0][:3])
            self.http_metrics.record(match.view_name, secure, status, time.perf_counter() - started)
        request_finished.send(sender=self.__class__)
        start_response(answer[0], answer[1])
        return [answer[2]]

    def _error_answer(
        self, request: WSGIRequest, response: HttpResponse | None, exc: Exception | None
    ) -> tuple[str, list[tuple[str, str]], bytes]:
        """An error answer as Django's handler makes it: from the view's response, or from its exception through
        the exception middleware and response_for_exception; then the response middleware and the log."""
        if response is None:
            assert exc is not None
            for process_exception in self._exception_middleware:
                response = process_exception(request, exc)
                if response is not None:
                    break
            else:
                response = response_for_exception(request, exc)
        for process_response in self._response_middleware:
            response = process_response(request, response)
        if response.status_code >= 400:
            log_response("%s: %s", response.reason_phrase, request.path, response=response, request=request)
        headers = [*response.items(), *(("Set-Cookie", c.output(header="")) for c in response.cookies.values())]
        content = b"".join(response)  # not closed: its close() would send request_finished a second time
        return f"{response.status_code} {response.reason_phrase}", headers, content


def _never_called(request: HttpRequest) -> HttpResponse:
    raise AssertionError("the route calls its middleware's hooks, never their get_response")


@lru_cache(maxsize=512)
def _lean_view_match(path_info: str) -> ResolverMatch | None:
    """The URL match of a path whose view has a `hot_path` predicate and a `hot_path_answer` (predictions/lean.py),
    else None; cached per path (bounded: any path a client sends is a key)."""
    try:
        match = get_resolver().resolve(path_info)
    except Resolver404:
        return None
    func = match.func
    return (
        match
        if callable(getattr(func, "hot_path", None)) and callable(getattr(func, "hot_path_answer", None))
        else None
    )


def hot_path_request(environ: dict[str, Any]) -> bool:
    """True for a request the hot-path route takes: one without cookies whose URL's view has a `hot_path`
    predicate that accepts the environ (the lean predict view's: an anonymous JSON POST wanting JSON, the request it
    answers itself). Whatever the lean view would hand to the DRF view (which reads the session) takes the full
    chain, and so does any request with cookies: the skipped middleware answer some cookies themselves (CSRF
    replaces a malformed csrftoken cookie in its answer, the session middleware reads the session cookie)."""
    if environ.get("HTTP_COOKIE"):  # an empty Cookie header carries none
        return False
    match = _lean_view_match(get_path_info(environ))
    return match is not None and bool(match.func.hot_path(environ))  # type: ignore[attr-defined]  # a predicate


StartResponse = Callable[..., Any]


class ContentLengthInput:
    """`wsgi.input` for a body of `length` bytes (its Content-Length) that raises BodyTruncated when the stream ends
    before them. A WSGI server's input blocks until the bytes asked for arrive or the body ends (PEP 3333), and
    granian and gunicorn both hand over a body whose client closed the connection early; Django would read the bytes
    that came as the whole body, and a prefix that parses (a JSON object followed by nothing) would be scored."""

    def __init__(self, stream: Any, length: int) -> None:
        self._stream, self._left, self._length = stream, length, length

    def read(self, size: int | None = -1) -> bytes:
        """At most `size` bytes of what is left of the body (all of it for None or a negative size)."""
        want = self._left if size is None or size < 0 else min(size, self._left)
        data: bytes = self._stream.read(want) if want else b""
        self._left -= len(data)
        if len(data) < want:
            self._truncated()
        return data

    def readline(self, size: int | None = -1) -> bytes:
        """One line, at most `size` bytes, within what is left of the body."""
        limit = self._left if size is None or size < 0 else min(size, self._left)
        line: bytes = self._stream.readline(limit) if limit else b""
        self._left -= len(line)
        if len(line) < limit and not line.endswith(b"\n"):
            self._truncated()
        return line

    def _truncated(self) -> None:
        from mlmonitor.errors import BodyTruncated

        received = self._length - self._left
        raise BodyTruncated(f"The request body ended after {received} of its {self._length} bytes (Content-Length).")


def dispatcher(
    full: WSGIHandler, hot: HotPathRoute | None
) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    """The WSGI application: `hot` for a hot_path_request (none: WEB_HOT_PATH off), `full` for everything else; a
    body's input checked against its Content-Length (ContentLengthInput). Build it after Django's setup."""
    from mlmonitor.parsers import content_length  # DRF's parsers: importable once Django is set up

    def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        length = content_length(environ)
        if length > 0:
            environ["wsgi.input"] = ContentLengthInput(environ["wsgi.input"], length)
        handler = hot if hot is not None and hot_path_request(environ) else full
        return handler(environ, start_response)

    application.hot = hot  # type: ignore[attr-defined]  # the hot-path route, for tests and introspection
    return application


def hot_path_route(full: WSGIHandler) -> HotPathRoute | None:
    """The hot-path route in front of `full`, or None (logged) when WEB_HOT_PATH is off or MIDDLEWARE holds a
    middleware the route does not do the work of."""
    if not settings.WEB_HOT_PATH:
        return None
    try:
        return HotPathRoute(full)
    except ImproperlyConfigured as exc:
        logger.warning("every request takes the full middleware chain: %s", exc)
        return None


def worker_warm() -> None:
    """Do at a worker's start what its first requests would otherwise do while clients wait: import the URL
    configuration (every view module; about 100 ms) and, with WEB_WARM_MODELS, load the active models
    (WEB_WARM_MODELS_LOADER: predictions.services.models_warm). A database that cannot be read leaves the models to
    the first requests, as before (logged); the connection this thread opened is closed (the server's own threads
    answer requests)."""
    get_resolver().url_patterns  # noqa: B018  # a cached property: the import happens here
    if not settings.WEB_WARM_MODELS:
        return
    from django.db import connections
    from django.utils.module_loading import import_string

    try:
        loaded = import_string(settings.WEB_WARM_MODELS_LOADER)()
    except Exception as exc:
        logger.warning("models not loaded at worker start (the first requests load them): %s", exc)
    else:
        logger.info("loaded %d model version(s) at worker start", len(loaded))
    finally:
        connections.close_all()


full_handler = get_wsgi_application()  # sets Django up
application = dispatcher(full_handler, hot_path_route(full_handler))
worker_warm()
gc.freeze()
