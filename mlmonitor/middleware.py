"""django-prometheus middleware trimmed to the HTTP series the dashboards and alerts use.

The stock pair updates about fifteen multiprocess values per request (body sizes, charsets, transports, ...); on the
predict path that cost more than the 10% monitoring budget (docs/benchmarks.md). These subclasses keep
django_http_requests_before_middlewares_total, django_http_responses_before_middlewares_total,
django_http_requests_total_by_view_transport_method_total, django_http_responses_total_by_status_view_method_total
and django_http_requests_latency_seconds_by_view_method, under their usual names. METRICS_HTTP_DETAIL=1 restores the
stock middleware. The hot-path route of mlmonitor/wsgi.py runs no middleware and records the same series with
HotPathHttpMetrics.
"""

from __future__ import annotations

import bisect
from typing import Any

from django.http import HttpRequest, HttpResponse
from django_prometheus.middleware import PrometheusAfterMiddleware, PrometheusBeforeMiddleware
from django_prometheus.utils import Time, TimeSince

from mlmonitor.metrics import MetricWrites, labelled


class LeanPrometheusBeforeMiddleware(PrometheusBeforeMiddleware):
    """Counts requests and responses around the whole middleware stack."""

    def process_request(self, request: HttpRequest) -> None:
        self.metrics.requests_total.inc()

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        self.metrics.responses_total.inc()
        return response


class LeanPrometheusAfterMiddleware(PrometheusAfterMiddleware):
    """Requests by view, responses by status and view, and latency by view; each labelled child looked up once per
    process (mlmonitor.metrics.labelled)."""

    def process_request(self, request: HttpRequest) -> None:
        request.prometheus_after_middleware_event = Time()  # type: ignore[attr-defined]

    def process_view(self, request: HttpRequest, view_func: Any, *view_args: Any, **view_kwargs: Any) -> None:
        match = request.resolver_match
        if match is not None:
            view = match.view_name or "<unnamed view>"
            # labels (view, transport, method), as django-prometheus' own process_view
            labelled(
                self.metrics.requests_by_view_transport_method, view, self._transport(request), self._method(request)
            ).inc()

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        method = self._method(request)
        view = self._get_view_name(request)
        labelled(self.metrics.responses_by_status_view_method, str(response.status_code), view, method).inc()
        started = getattr(request, "prometheus_after_middleware_event", None)
        if started is not None:
            labelled(self.metrics.requests_latency_by_view_method, view, method).observe(TimeSince(started))
        return response


class HotPathHttpMetrics(LeanPrometheusAfterMiddleware):
    """The lean pair's series for a request answered by the hot-path route (mlmonitor/wsgi.py), which runs no
    middleware: recorded once per request and written together (MetricWrites.write_values).

    The same series and labels as the pair: requests and responses before middlewares, requests by view, transport
    and method, responses by status, view and method, and the latency by view and method. The latency here is the
    route's whole answer (the After middleware measures inside the other middleware: a few microseconds less)."""

    def __init__(self) -> None:
        super().__init__(get_response=lambda request: HttpResponse())  # never called: record() is the entry
        # (view, method, https?, status) -> for each latency bucket, the values one request writes (its four
        # counters', that bucket's and the latency sum's), and the buckets' upper bounds: a few keys (the route
        # answers POSTs only, statuses are integers), looked up once each
        self._values: dict[tuple[str, str, bool, int], tuple[tuple[tuple[Any, ...], ...], list[float]]] = {}

    def record(self, view: str, secure: bool, status: int, seconds: float) -> None:
        """Record one POST to the URL named `view` (over TLS: `secure`, as request.is_secure()) answered with
        `status`, `seconds` after the route took it."""
        key = (view or "<unnamed view>", "POST", secure, status)
        values = self._values.get(key)
        if values is None:
            values = self._values[key] = self._values_for(*key)
        by_bucket, bounds = values
        MetricWrites.write_values(by_bucket[bisect.bisect_left(bounds, seconds)], (*_ONES, 1.0, seconds))

    def _values_for(
        self, view: str, method: str, secure: bool, status: int
    ) -> tuple[tuple[tuple[Any, ...], ...], list[float]]:
        metrics = self.metrics
        counters = (
            metrics.requests_total,
            metrics.requests_by_view_transport_method.labels(view, "https" if secure else "http", method),
            metrics.responses_by_status_view_method.labels(str(status), view, method),
            metrics.responses_total,
        )
        latency = metrics.requests_latency_by_view_method.labels(view, method)
        counted = tuple(value for counter in counters for value in MetricWrites.values_of(counter))
        *buckets, latency_sum = MetricWrites.values_of(latency)
        return tuple((*counted, bucket, latency_sum) for bucket in buckets), latency._upper_bounds


_ONES = (1.0, 1.0, 1.0, 1.0)
