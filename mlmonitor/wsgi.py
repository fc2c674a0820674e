"""WSGI entry point for the web server (granian by default, or gunicorn: mlmonitor/serve.py).

Once Django is set up, the objects that exist (about 190,000: modules, classes, settings, the URL and middleware
machinery) live as long as the process; `gc.freeze()` moves them out of the collector's generations. Without it every
full collection walks all of them again, and a batch request, whose parsed rows and answer dicts survive a young
collection or two, brings a full collection every few dozen requests: measured, about half the CPU of a 1,000-row
batch (docs/benchmarks.md, "Batch path"). Objects created later are collected as before.

Database connections are per thread in Django. granian stops a worker thread that has been idle for a while and
starts a new one when requests come back; the old thread's connection would stay open until a full garbage
collection happened to free it (Django's connection objects hold reference cycles), so every idle period left a few
more server connections behind. `thread_connections_close_at_exit` closes a thread's connections when its
thread-local state is freed, which is when the thread ends.

The predict endpoints' common request (an anonymous JSON POST, see predictions/lean.py) runs through a second
Django handler whose middleware is MIDDLEWARE without what such a request never uses (`HOT_PATH_MIDDLEWARE_SKIPPED`:
static files, sessions, CSRF, authentication, messages, login lockout); everything else, the metrics, security
headers, 411 and 503 middleware included, runs in both. `application` picks the handler per request
(`hot_path_request`): the hot one where the URL's view carries a `hot_path` predicate (the lean predict views) that
accepts the request, and the request has no cookies. Measured in docs/benchmarks.md ("Seed peer as written, and the
hot-path middleware").
"""

from __future__ import annotations

import gc
import os
import threading
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler, get_path_info
from django.core.wsgi import get_wsgi_application
from django.db.backends.signals import connection_created
from django.http import HttpRequest
from django.urls import Resolver404, ResolverMatch, get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlmonitor.settings.base")

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


class _ClosedAtThreadExit:
    """Held only by one thread's local storage (no cycle), so it is freed as soon as that thread ends; it then
    closes the driver connections the thread opened. The driver's close() needs no particular thread (Django's own
    close() would refuse to run outside the thread that owns the connection)."""

    def __init__(self) -> None:
        self.wrappers: dict[str, Any] = {}

    def __del__(self) -> None:
        for wrapper in self.wrappers.values():
            driver_connection = getattr(wrapper, "connection", None)
            if driver_connection is not None:
                try:
                    driver_connection.close()
                except Exception:  # noqa: S110 - a connection the server already dropped: nothing left to close
                    pass


_thread_state = threading.local()


def thread_connections_close_at_exit(sender: Any, connection: Any, **kwargs: Any) -> None:
    """`connection_created` receiver: remember the new connection's wrapper in this thread's local storage."""
    closer = getattr(_thread_state, "closer", None)
    if closer is None:
        closer = _thread_state.closer = _ClosedAtThreadExit()
    closer.wrappers[connection.alias] = connection


connection_created.connect(thread_connections_close_at_exit, dispatch_uid="mlmonitor.wsgi.thread_connections")


class HotPathHandler(WSGIHandler):
    """Django's WSGI handler with MIDDLEWARE less HOT_PATH_MIDDLEWARE_SKIPPED: the same request cycle (signals,
    URL resolution, exception handling), fewer middleware. Build it after Django's setup, before serving."""

    def load_middleware(self, is_async: bool = False) -> None:
        """BaseHandler.load_middleware, reading MIDDLEWARE less the skipped entries (it reads the setting itself, so
        the setting is narrowed while it runs: once, at startup, before any request thread exists)."""
        full = settings.MIDDLEWARE
        settings.MIDDLEWARE = [path for path in full if path not in HOT_PATH_MIDDLEWARE_SKIPPED]
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = full

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


def dispatcher(full: WSGIHandler, hot: WSGIHandler) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    """The WSGI application: `hot` for a hot_path_request, `full` for everything else."""

    def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        handler = hot if hot_path_request(environ) else full
        return handler(environ, start_response)

    return application


full_handler = get_wsgi_application()  # sets Django up
application = dispatcher(full_handler, HotPathHandler()) if settings.WEB_HOT_PATH else full_handler
gc.freeze()
