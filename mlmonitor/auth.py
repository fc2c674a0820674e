"""Token authentication that accepts `Authorization: Bearer <key>` (Alertmanager's default) and `Token <key>`."""

from __future__ import annotations

from django.conf import settings
from rest_framework.authentication import TokenAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request

KEYWORDS = (b"bearer", b"token")


class BearerTokenAuthentication(TokenAuthentication):
    """DRF token auth, keyed by `Bearer` or `Token`; tokens are managed in the admin."""

    keyword = "Bearer"

    def authenticate(self, request: Request):  # type: ignore[no-untyped-def]
        """Authenticate from either keyword (DRF's own parser accepts one keyword only)."""
        header = get_authorization_header(request).split()
        if not header or header[0].lower() not in KEYWORDS:
            return None
        if len(header) == 1:
            raise AuthenticationFailed("Invalid token header. No credentials provided.")
        if len(header) > 2:
            raise AuthenticationFailed("Invalid token header. Token string should not contain spaces.")
        try:
            key = header[1].decode()
        except UnicodeError:
            raise AuthenticationFailed("Invalid token header. Token string should not contain invalid characters.")
        return self.authenticate_credentials(key)


class ReadAccess(BasePermission):
    """Open unless API_REQUIRE_TOKEN_FOR_READ is on; then a valid token or session is needed."""

    def has_permission(self, request: Request, view: object) -> bool:
        """Allow anonymous access only when the setting allows it."""
        if not settings.API_REQUIRE_TOKEN_FOR_READ:
            return True
        return IsAuthenticated().has_permission(request, view)  # type: ignore[arg-type]
