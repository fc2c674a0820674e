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

The predict endpoints' common request (an anonymous JSON POST, see predictions/lean.py) runs through a second
Django handler whose middleware is MIDDLEWARE without what such a request never uses (`HOT_PATH_MIDDLEWARE_SKIPPED`:
static files, sessions, CSRF, authentication, messages, login lockout); everything else, security headers, 411 and
503 middleware included, runs in both. The lean metrics middleware pair is replaced there by the handler itself,
which records the same HTTP series around its middleware chain with one write of the multiprocess values
(mlmonitor.middleware.HotPathHttpMetrics) instead of two more middleware layers and five separate writes.
`application` checks a body against its Content-Length (`ContentLengthInput`: a body that ends early is a 400,
not a shorter body) and picks the handler per request (`hot_path_request`): the hot one where the URL's view carries a
`hot_path` predicate (the lean predict views) that accepts the request, and the request has no cookies. Measured in
docs/benchmarks.md ("Seed peer as written, and the hot-path middleware"; "Monitoring cost: one write per unit of
work").
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable, Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler, get_path_info
from django.core.wsgi import get_wsgi_application
from django.db.backends.signals import connection_created
from django.http import HttpRequest, HttpResponseBase
from django.urls import Resolver404, ResolverMatch, get_resolver

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

# The lean metrics middleware pair, whose series the hot-path handler records itself (HotPathHandler.get_response).
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


class HotPathHandler(WSGIHandler):
    """Django's WSGI handler with MIDDLEWARE less HOT_PATH_MIDDLEWARE_SKIPPED: the same request cycle (signals,
    URL resolution, exception handling), fewer middleware. Build it after Django's setup, before serving."""

    http_metrics: Any = None  # a HotPathHttpMetrics where the lean metrics middleware pair is configured

    def load_middleware(self, is_async: bool = False) -> None:
        """BaseHandler.load_middleware, reading MIDDLEWARE less the skipped entries (it reads the setting itself, so
        the setting is narrowed while it runs: once, at startup, before any request thread exists). Where MIDDLEWARE
        holds the lean metrics pair (METRICS_ENABLED, not METRICS_HTTP_DETAIL), the pair is left out too and
        get_response records its series itself, in one write (mlmonitor.middleware.HotPathHttpMetrics)."""
        full = settings.MIDDLEWARE
        skipped = HOT_PATH_MIDDLEWARE_SKIPPED
        if set(full) >= HOT_PATH_HTTP_METRICS_MIDDLEWARE:
            from mlmonitor.middleware import HotPathHttpMetrics

            skipped, self.http_metrics = skipped | HOT_PATH_HTTP_METRICS_MIDDLEWARE, HotPathHttpMetrics()
        settings.MIDDLEWARE = [path for path in full if path not in skipped]
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = full

    def get_response(self, request: HttpRequest) -> HttpResponseBase:
        """BaseHandler.get_response, timed and recorded in the HTTP series when the handler runs without the lean
        metrics middleware pair."""
        http_metrics = self.http_metrics
        if http_metrics is None:
            return super().get_response(request)
        started = time.perf_counter()
        response = super().get_response(request)
        http_metrics.record(request, response, time.perf_counter() - started)
        return response

    def resolve_request(self, request: HttpRequest) -> ResolverMatch:
        """BaseHandler.resolve_request, answered from the match hot_path_request made for the same path (one URL
        resolution per request instead of two; the match holds the view and its URL kwargs, which nothing changes)."""
        match = None if hasattr(request, "urlconf") else _lean_view_match(request.path_info)
        if match is None:
            return super().resolve_request(request)
        request.resolver_match = match
        return match


@lru_cache(maxsize=512)
def _lean_view_match(path_info: str) -> ResolverMatch | None:
    """The URL match of a path whose view has a `hot_path` predicate (predictions/lean.py), else None; cached per
    path (bounded: any path a client sends is a key)."""
    try:
        match = get_resolver().resolve(path_info)
    except Resolver404:
        return None
    return match if callable(getattr(match.func, "hot_path", None)) else None


def hot_path_request(environ: dict[str, Any]) -> bool:
    """True for a request the hot-path handler serves: one without cookies whose URL's view has a `hot_path`
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
    full: WSGIHandler, hot: WSGIHandler | None
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

    application.hot = hot  # type: ignore[attr-defined]  # the hot-path handler, for tests and introspection
    return application


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
application = dispatcher(full_handler, HotPathHandler() if settings.WEB_HOT_PATH else None)
worker_warm()
gc.freeze()
