"""Rate limits of the API's writes (DRF throttles), configured by API_THROTTLE_RATES.

Scopes: `feedback` (single and bulk labels) and `writes` (other token-authenticated writes: drift runs). A client is
the authenticated user (else its address). Over the rate a request answers 429 `throttled` in the JSON error shape,
with Retry-After. Counts live in the default cache (per process with the default local-memory cache: N gunicorn
workers allow up to N times the rate). https://www.django-rest-framework.org/api-guide/throttling/
"""

from __future__ import annotations

from django.conf import settings
from rest_framework.throttling import ScopedRateThrottle


class SettingsScopedRateThrottle(ScopedRateThrottle):
    """DRF's scoped throttle, its rates read from settings.API_THROTTLE_RATES at each request (DRF's own class reads
    them once, at import); a scope whose rate is empty is not limited."""

    def get_rate(self) -> str | None:
        """The rate of this view's scope, e.g. "600/min"."""
        rate = settings.API_THROTTLE_RATES.get(self.scope or "")
        return rate or None
