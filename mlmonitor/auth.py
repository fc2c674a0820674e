"""Token authentication that accepts `Authorization: Bearer <key>` (Alertmanager's default) and `Token <key>`."""

from __future__ import annotations

from django.conf import settings
from rest_framework.authentication import TokenAuthentication, get_authorization_header
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request


class BearerTokenAuthentication(TokenAuthentication):
    """DRF token auth, keyed by `Bearer` or `Token`; tokens are managed in the admin."""

    keyword = "Bearer"

    def authenticate(self, request: Request):  # type: ignore[no-untyped-def]
        """Authenticate from either keyword."""
        header = get_authorization_header(request).split()
        if header and header[0].lower() == b"token":
            header[0] = b"Bearer"
            request.META["HTTP_AUTHORIZATION"] = b" ".join(header).decode("latin-1")
        return super().authenticate(request)


class ReadAccess(BasePermission):
    """Open unless API_REQUIRE_TOKEN_FOR_READ is on; then a valid token or session is needed."""

    def has_permission(self, request: Request, view: object) -> bool:
        """Allow anonymous access only when the setting allows it."""
        if not settings.API_REQUIRE_TOKEN_FOR_READ:
            return True
        return IsAuthenticated().has_permission(request, view)  # type: ignore[arg-type]
