"""django-prometheus middleware trimmed to the HTTP series the dashboards and alerts use.

The stock pair updates about fifteen multiprocess values per request (body sizes, charsets, transports, ...); on the
predict path that cost more than the 10% monitoring budget (docs/benchmarks.md). These subclasses keep
django_http_requests_before_middlewares_total, django_http_responses_before_middlewares_total,
django_http_requests_total_by_view_transport_method_total, django_http_responses_total_by_status_view_method_total
and django_http_requests_latency_seconds_by_view_method, under their usual names. METRICS_HTTP_DETAIL=1 restores the
stock middleware.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django_prometheus.middleware import PrometheusAfterMiddleware, PrometheusBeforeMiddleware
from django_prometheus.utils import Time, TimeSince


class LeanPrometheusBeforeMiddleware(PrometheusBeforeMiddleware):
    """Counts requests and responses around the whole middleware stack."""

    def process_request(self, request: HttpRequest) -> None:
        self.metrics.requests_total.inc()

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        self.metrics.responses_total.inc()
        return response


class LeanPrometheusAfterMiddleware(PrometheusAfterMiddleware):
    """Requests by view, responses by status and view, and latency by view."""

    def process_request(self, request: HttpRequest) -> None:
        request.prometheus_after_middleware_event = Time()  # type: ignore[attr-defined]

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        method = self._method(request)
        view = self._get_view_name(request)
        self.metrics.responses_by_status_view_method.labels(
            status=str(response.status_code), view=view, method=method
        ).inc()
        started = getattr(request, "prometheus_after_middleware_event", None)
        if started is not None:
            self.metrics.requests_latency_by_view_method.labels(view=view, method=method).observe(TimeSince(started))
        return response
