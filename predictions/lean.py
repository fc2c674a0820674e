"""The predict endpoints' hot path: a plain Django view in front of the DRF view, for the common request.

A DRF APIView spends, per request, more Python than the scoring itself: a Request wrapper, authenticators,
permission classes, content negotiation, a parser, a renderer, and a Response that is rendered late
(docs/benchmarks.md, "Prediction service"). The predict endpoints take one shape of request almost always: a POST of
an `application/json` body, no credentials, to an open endpoint, wanting JSON back. For that request the view here
reads the body, parses it with orjson (mlmonitor.parsers.json_body_parse), calls the same service and writes the same
JSON with orjson, with the DRF view's headers (`Allow`, `Vary: Cookie`). The same work, as `hot_path_answer`, is
what mlmonitor.wsgi's hot-path route calls for such a request without Django's handler in front of it.

Every other request (another method or media type, an `Authorization` header, a session cookie, an `Accept` that is
not JSON, or API_REQUIRE_TOKEN_FOR_READ on) goes to the DRF view unchanged, so authentication, CSRF, 405, 406 and
415 answer exactly as before. Errors on the hot path go through the one exception handler of the API
(mlmonitor.errors.api_exception_handler) and are rendered by DRF's renderer: the same status, body and error codes
as the DRF view. The view keeps the DRF class as `.cls`, so drf-spectacular documents the endpoint from it as before.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.http import parse_header_parameters
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from mlmonitor.errors import api_exception_handler
from mlmonitor.parsers import content_length, json_body_parse

from . import services

# Accept headers that DRF's negotiation answers with application/json (the API's only renderer).
_JSON_ACCEPT = frozenset({"", "*/*", "application/json", "application/*"})
# The DRF view's headers: its methods, and Vary: Cookie (it reads the session; here the cookie picks the view).
_HEADERS = {"Allow": "POST, OPTIONS", "Vary": "Cookie"}


def hot_path_eligible(request: HttpRequest) -> bool:
    """True for an anonymous JSON POST to an open endpoint wanting JSON: the request the lean view answers."""
    return hot_path_eligible_meta(request.META) and settings.SESSION_COOKIE_NAME not in request.COOKIES


def hot_path_eligible_meta(meta: Mapping[str, Any]) -> bool:
    """hot_path_eligible on a WSGI environ, before any request object exists (mlmonitor/wsgi.py), less the cookie
    check, which the caller makes: a POST, a JSON body, a JSON Accept, no Authorization, anonymous reads allowed."""
    return (
        meta.get("REQUEST_METHOD") == "POST"
        and parse_header_parameters(meta.get("CONTENT_TYPE", ""))[0] == "application/json"
        and meta.get("HTTP_ACCEPT", "") in _JSON_ACCEPT
        and "HTTP_AUTHORIZATION" not in meta
        and not settings.API_REQUIRE_TOKEN_FOR_READ
    )


def predict_answer(request: HttpRequest, *, model_name: str | None, version: str | None) -> HttpResponse:
    """Parse, score and log, and answer in JSON; an error answers the API's JSON error shape (4xx/5xx) and an
    unexpected exception propagates to Django's 500 handler, as under DRF."""
    # request.body: a Content-Length over DATA_UPLOAD_MAX_MEMORY_SIZE raises RequestDataTooBig (413), as under DRF
    body, status, headers = predict_bytes(
        lambda: request.body if content_length(request.META) else b"",
        model_name=model_name,
        version=version,
        context=lambda: {"request": request, "view": None},
    )
    return HttpResponse(body, status=status, content_type="application/json", headers=headers)


def predict_bytes(
    read: Callable[[], bytes],
    *,
    model_name: str | None,
    version: str | None,
    context: Callable[[], dict[str, Any]],
) -> tuple[bytes, int, Mapping[str, str]]:
    """The lean view's answer as (JSON body, status, headers besides Content-Type), for the view above and for the
    WSGI-level route of mlmonitor/wsgi.py. `read()` returns the request body (empty: no body) and may raise what
    reading a body raises (a truncated or oversized body); `context()` is DRF's exception-handler context, built
    only when an error is answered. An exception the API's handler does not answer propagates."""
    from .apis import prediction_payload  # predictions.apis imports this module

    try:
        raw = read()
        payload = json_body_parse(raw) if raw else {}
        result = services.prediction_create(model_name=model_name, version=version, payload=payload)
        return orjson.dumps(prediction_payload(result)), 200, _HEADERS
    except Exception as exc:
        response = api_exception_handler(exc, context())
        if response is None:
            raise
        headers = {**_HEADERS, **{k: v for k, v in response.items() if k.lower() != "content-type"}}  # Retry-After
        return JSONRenderer().render(response.data), response.status_code, headers


def hot_path_answer(
    read: Callable[[], bytes], url_kwargs: Mapping[str, Any], context: Callable[[], dict[str, Any]]
) -> tuple[bytes, int, Mapping[str, str]]:
    """predict_bytes for a request to a predict URL with these URL kwargs (`name`, `version`: absent on /predict):
    the lean view's `hot_path_answer`, which mlmonitor.wsgi's hot-path route calls."""
    return predict_bytes(read, model_name=url_kwargs.get("name"), version=url_kwargs.get("version"), context=context)


class LeanPostMixin:
    """For a predict APIView: `as_view()` answers eligible requests with `predict_answer` and hands the rest to DRF.

    URL kwargs `name` and `version` (absent on the seed's /predict) select the model and version."""

    @classmethod
    def as_view(cls, **initkwargs: Any) -> Any:  # Any: DRF's stubs type it with a protocol of their own
        """The lean view in front of `APIView.as_view(**initkwargs)`, with the DRF view's attributes."""
        drf_view = super().as_view(**initkwargs)  # type: ignore[misc]  # APIView.as_view, the class is an APIView

        def view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if hot_path_eligible(request):
                return predict_answer(request, model_name=kwargs.get("name"), version=kwargs.get("version"))
            response: HttpResponse = drf_view(request, *args, **kwargs)
            return response

        # What Django and drf-spectacular read from a DRF view: CSRF exemption (DRF applies CSRF only through
        # SessionAuthentication, whose requests take the DRF view), the class and its arguments.
        view.csrf_exempt = True  # type: ignore[attr-defined]
        # mlmonitor.wsgi answers the requests `hot_path` accepts at the WSGI level, with `hot_path_answer`
        view.hot_path = hot_path_eligible_meta  # type: ignore[attr-defined]
        view.hot_path_answer = hot_path_answer  # type: ignore[attr-defined]
        view.cls = drf_view.cls  # type: ignore[attr-defined]
        view.initkwargs = drf_view.initkwargs  # type: ignore[attr-defined]
        view.view_class = getattr(drf_view, "view_class", cls)  # type: ignore[attr-defined]
        view.view_initkwargs = getattr(drf_view, "view_initkwargs", initkwargs)  # type: ignore[attr-defined]
        view.__doc__, view.__name__ = cls.__doc__, cls.__name__
        view.__module__ = cls.__module__
        assert issubclass(cls, APIView)
        return view
