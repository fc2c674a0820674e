"""The OpenAPI schema's view of every error an endpoint can answer (drf-spectacular AutoSchema).

Beyond the codes each view documents with @extend_schema, every API operation can answer, in the JSON error shape
(ERROR_SCHEMA): 401 (a bad or missing token where one is needed; a malformed Authorization header anywhere), 403 (a
session without CSRF token, a permission refused), 503 (the database unreachable: `database_unavailable`); with a
path parameter, 404; with a request body, 400 (malformed JSON), 413 (over MAX_REQUEST_BYTES) and 415 (not JSON);
throttled views, 429. https://drf-spectacular.readthedocs.io/en/latest/customization.html
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.openapi import AutoSchema

from .auth import ReadAccess
from .errors import ERROR_SCHEMA


class ApiAutoSchema(AutoSchema):
    """drf-spectacular's AutoSchema with the answers every operation shares (module docstring)."""

    def get_auth(self) -> list[dict[str, Any]]:
        """The token schemes; for ReadAccess views, also none (`{}`) unless API_REQUIRE_TOKEN_FOR_READ is on."""
        auths: list[dict[str, Any]] = super().get_auth()
        open_read = any(isinstance(permission, ReadAccess) for permission in self.view.get_permissions())
        if open_read and not settings.API_REQUIRE_TOKEN_FOR_READ and {} not in auths:
            auths.append({})
        return auths

    def _error_codes(self) -> list[str]:
        codes = ["401", "403", "503"]
        if "{" in self.path:
            codes.append("404")
        if self.get_override_parameters():
            codes.append("400")  # a malformed query parameter
        if self.method in ("POST", "PUT", "PATCH"):
            codes += ["400", "413", "415"]
        if getattr(self.view, "throttle_scope", None):
            codes.append("429")
        return codes

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        """The view's documented answers, plus the shared error answers it does not document itself."""
        bodies: dict[str, Any] = super()._get_response_bodies(direction)
        for code in self._error_codes():
            if code not in bodies:
                bodies[code] = self._get_response_for_code(  # type: ignore[no-untyped-call]  # drf-spectacular untyped
                    ERROR_SCHEMA, code, direction=direction
                )
        return bodies
