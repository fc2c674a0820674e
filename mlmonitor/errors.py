"""One application error type and the DRF exception handler that turns every error into the JSON error shape of
docs/api.md ("Errors")."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import BadRequest, PermissionDenied, RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from drf_spectacular.utils import inline_serializer
from rest_framework import exceptions as drf_exceptions
from rest_framework import serializers
from rest_framework.response import Response


class ApplicationError(Exception):
    """A request that cannot be served as asked; carries the HTTP status, a code and details."""

    def __init__(
        self,
        message: str,
        *,
        code: str = "invalid",
        status: int = 400,
        details: object = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.details = details
        # Seconds a client should wait before trying again (the Retry-After header of a 503 or 429), when known.
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        """The response headers this error adds (Retry-After when set)."""
        return {} if self.retry_after is None else {"Retry-After": str(self.retry_after)}


# Errors of an unreachable or failing database connection: Django wraps the driver's (psycopg's connection refused,
# server closed the connection, statement timeout; SQLite's "unable to open", "database is locked") in these two.
# https://docs.djangoproject.com/en/5.2/ref/exceptions/#database-exceptions
DATABASE_ERRORS: tuple[type[Exception], ...] = (OperationalError, InterfaceError)
# What a 503 for an unreachable database asks the client to wait, in seconds.
DATABASE_RETRY_AFTER_SECONDS = 5


def application_error_from(exc: BaseException) -> ApplicationError | None:
    """The ApplicationError an exception answers as, or None for one that stays a 500.

    The one mapping of infrastructure failures to answers: an ApplicationError is itself; a database error
    (DATABASE_ERRORS) is a 503 `database_unavailable` with Retry-After. Used by the DRF exception handler, by
    `error_response_for` (plain Django views) and by the middleware `DatabaseUnavailableMiddleware`."""
    if isinstance(exc, ApplicationError):
        return exc
    if isinstance(exc, DATABASE_ERRORS):
        return ApplicationError(
            "The database is unavailable; try again shortly.",
            code="database_unavailable",
            status=503,
            retry_after=DATABASE_RETRY_AFTER_SECONDS,
        )
    return None


def error_response_for(exc: BaseException) -> JsonResponse | None:
    """A plain Django view's JSON error answer for `exc` (ApplicationError or a database error, as
    application_error_from maps it), with its headers; None when the exception is not one we answer."""
    error = application_error_from(exc)
    if error is None:
        return None
    response = JsonResponse(
        error_body(code=error.code, message=error.message, details=error.details), status=error.status
    )
    for header, value in error.headers().items():
        response[header] = value
    return response


class DatabaseUnavailableMiddleware:
    """Answer a database failure raised by any view (the dashboard, the admin, a plain view) as the JSON 503 of
    application_error_from instead of a 500. DRF views answer it themselves through api_exception_handler."""

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)  # type: ignore[no-any-return]

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        """Django calls this with a view's exception; returning None lets it go on to the 500 handler."""
        if isinstance(exception, DATABASE_ERRORS):
            return error_response_for(exception)
        return None


class LengthRequiredMiddleware:
    """Answer a request whose body comes without a Content-Length (`Transfer-Encoding: chunked`) with 411
    `length_required`. Under WSGI Django reads only CONTENT_LENGTH bytes of a body (none without it), so such a
    request would otherwise be served as if its body were empty: a predict answered "no key", a form refused by CSRF
    (RFC 9110, 15.5.12: a server may refuse a request without a Content-Length)."""

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        meta = request.META
        if "chunked" in meta.get("HTTP_TRANSFER_ENCODING", "").lower() and not meta.get("CONTENT_LENGTH"):
            message = "Send the body with a Content-Length header: chunked request bodies are not read."
            if is_api_request(request):
                return json_error_response(status=411, code="length_required", message=message)
            return HttpResponse(message, status=411, content_type="text/plain; charset=utf-8")
        return self.get_response(request)  # type: ignore[no-any-return]


class BodyTruncated(BadRequest):
    """The request body ended before its Content-Length (the client closed the connection early): answered 400
    `body_truncated` (Django's 400 page outside the API), never read as if the bytes that came were the body."""

    code = "body_truncated"


# The error shape in the OpenAPI schema: every 4xx/5xx an API documents answers this.
ERROR_SCHEMA = inline_serializer(
    name="Error",
    fields={
        "error": inline_serializer(
            name="ErrorBody",
            fields={
                "code": serializers.CharField(),
                "message": serializers.CharField(),
                "details": serializers.JSONField(allow_null=True),
            },
        )
    },
)


def error_body(*, code: str, message: str, details: object = None) -> dict[str, dict[str, object]]:
    """Build the JSON error body `{"error": {"code", "message", "details"}}`."""
    return {"error": {"code": code, "message": message, "details": details}}


def _drf_message(detail: object) -> str:
    """Flatten a DRF error detail into one readable sentence."""
    if isinstance(detail, dict):
        parts = [f"{key}: {_drf_message(value)}" for key, value in detail.items()]
        return "; ".join(parts)
    if isinstance(detail, list):
        return "; ".join(_drf_message(item) for item in detail)
    return str(detail)


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Turn application, Django and DRF errors into the JSON error shape; unknown errors stay 500s."""
    error = application_error_from(exc)
    if error is not None:
        return Response(
            error_body(code=error.code, message=error.message, details=error.details),
            status=error.status,
            headers=error.headers(),
        )
    if isinstance(exc, RequestDataTooBig):
        return Response(
            error_body(code="body_too_large", message="The request body exceeds the size limit.", details=None),
            status=413,
        )
    if isinstance(exc, BodyTruncated):
        return Response(error_body(code=exc.code, message=str(exc), details=None), status=400)
    if isinstance(exc, DjangoValidationError):
        details = exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        return Response(error_body(code="invalid", message=_drf_message(details), details=details), status=400)
    from rest_framework.views import exception_handler  # imported late: rest_framework.views reads API settings

    if isinstance(exc, Http404):
        exc = drf_exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = drf_exceptions.PermissionDenied()
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, drf_exceptions.APIException):
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else "invalid"
        structured = exc.detail if isinstance(exc.detail, (dict, list)) else None
        response.data = error_body(code=code, message=_drf_message(exc.detail), details=structured)
    return response


def json_error_response(*, status: int, code: str, message: str) -> JsonResponse:
    """A plain Django JSON error response, for handlers outside DRF."""
    return JsonResponse(error_body(code=code, message=message), status=status)


# Pages people read in a browser (the admin, the dashboard, the Swagger page) get Django's HTML error pages; every
# other path (the API, the seed's paths, unknown paths) keeps the JSON error shape of docs/api.md.
PAGE_PATH_PREFIXES = ("/admin/", "/dashboard/", "/api/docs/")


def is_api_request(request: HttpRequest) -> bool:
    """Whether a request's errors are the API's JSON shape (True) or an HTML page people read (False)."""
    return not request.path.startswith(PAGE_PATH_PREFIXES)


def handler400(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Django's 400 handler: the JSON error shape for the API, Django's HTML page elsewhere."""
    if not is_api_request(request):
        return defaults.bad_request(request, exception or Exception())
    if isinstance(exception, BodyTruncated):
        return json_error_response(status=400, code=exception.code, message=str(exception))
    return json_error_response(status=400, code="bad_request", message="Bad request.")


def handler403(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Django's 403 handler: the JSON error shape for the API, Django's HTML page elsewhere."""
    if not is_api_request(request):
        return defaults.permission_denied(request, exception or Exception())
    return json_error_response(status=403, code="permission_denied", message="Permission denied.")


def handler404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Django's 404 handler: the JSON error shape for the API, Django's HTML page elsewhere."""
    if not is_api_request(request):
        return defaults.page_not_found(request, exception or Exception())
    return json_error_response(status=404, code="not_found", message=f"No such path: {request.path}")


def handler500(request: HttpRequest) -> HttpResponse:
    """Django's 500 handler: the JSON error shape for the API, Django's HTML page elsewhere."""
    if not is_api_request(request):
        return defaults.server_error(request)
    return json_error_response(status=500, code="server_error", message="Internal server error.")
