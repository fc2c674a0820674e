"""Who may read `GET /metrics`: a bearer token (METRICS_AUTH_TOKEN) and/or client addresses (METRICS_ALLOWED_NETS).

Both off by default (the scrape is open, as Prometheus' own exporters are). With a token set, a scrape must send
`Authorization: Bearer <token>` (Prometheus: `authorization: {credentials_file: ...}` in the scrape job; README,
"Protecting /metrics"); with networks set, the client address (REMOTE_ADDR: the peer gunicorn sees, not a
forwarded header a client could forge) must be in one of them. A missing or wrong token answers 401 with
`WWW-Authenticate: Bearer`; an address outside the networks answers 403. Tokens are compared in constant time.
"""

from __future__ import annotations

import functools
import hmac
import ipaddress
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse

from .errors import json_error_response

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@functools.cache
def _networks(spec: tuple[str, ...]) -> tuple[Network, ...]:
    """Parse CIDR networks (a bare address is a /32 or /128); a malformed one is a configuration error."""
    try:
        return tuple(ipaddress.ip_network(item, strict=False) for item in spec)
    except ValueError as exc:
        raise ImproperlyConfigured(f"METRICS_ALLOWED_NETS: {exc}") from exc


def _address_allowed(address: str, spec: tuple[str, ...]) -> bool:
    try:
        client = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(client in network for network in _networks(spec))


def _bearer(request: HttpRequest) -> str:
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" else ""


def metrics_access_denied(request: HttpRequest) -> HttpResponse | None:
    """The 401/403 JSON answer a scrape gets when the settings do not let it in; None when it may read /metrics."""
    nets = tuple(settings.METRICS_ALLOWED_NETS)
    if nets and not _address_allowed(request.META.get("REMOTE_ADDR", ""), nets):
        return json_error_response(
            status=403, code="permission_denied", message="This address may not read the metrics."
        )
    token = settings.METRICS_AUTH_TOKEN
    if token and not hmac.compare_digest(_bearer(request).encode(), token.encode()):
        response = json_error_response(
            status=401, code="not_authenticated", message="The metrics need `Authorization: Bearer <token>`."
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return None


def metrics_protected(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Decorate the /metrics view with metrics_access_denied."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        denied = metrics_access_denied(request)
        return denied if denied is not None else view(request, *args, **kwargs)

    return wrapper
