"""One application error type and the DRF exception handler that turns every error into the JSON error shape of
docs/api.md ("Errors")."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from drf_spectacular.utils import inline_serializer
from rest_framework import exceptions as drf_exceptions
from rest_framework import serializers
from rest_framework.response import Response


class ApplicationError(Exception):
    """A request that cannot be served as asked; carries the HTTP status, a code and details."""

    def __init__(self, message: str, *, code: str = "invalid", status: int = 400, details: object = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.details = details


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
    if isinstance(exc, ApplicationError):
        return Response(error_body(code=exc.code, message=exc.message, details=exc.details), status=exc.status)
    if isinstance(exc, RequestDataTooBig):
        return Response(
            error_body(code="body_too_large", message="The request body exceeds the size limit.", details=None),
            status=413,
        )
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
