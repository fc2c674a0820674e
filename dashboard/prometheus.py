"""A small client for Prometheus' HTTP API (`/api/v1/query_range`, `/api/v1/query`) as the dashboard uses it.

- The time frame of a chart is a `QueryWindow`: a step chosen for a few hundred points but never shorter than the
  scrape interval, start and end aligned to the step (so a refresh within a step asks the same query and hits the
  cache), and a `rate()` window of at least four scrape intervals and at least one step (shorter windows skip samples:
  robustperception.io "What range should I use with rate()?").
- Queries of one page run in parallel on a small thread pool; answers are cached per process for
  DASHBOARD_CACHE_SECONDS, and so is the fact that Prometheus did not answer, so a page never waits on a dead
  server twice in a row.
- Each query asks the server for `timeout=DASHBOARD_PROMETHEUS_TIMEOUT_SECONDS`; the HTTP client waits one second
  longer, so the server's own timeout error arrives first.

API: https://prometheus.io/docs/prometheus/latest/querying/api/ (values are strings; "NaN" and "+Inf" become None).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import string
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.cache import cache

from alerts_config.rendering import promql_string

logger = logging.getLogger(__name__)

RANGES: dict[str, int] = {"15m": 900, "1h": 3600, "6h": 21600, "24h": 86400, "7d": 604800}
DEFAULT_RANGE = "1h"
# Steps a person reads easily; the first one that is long enough wins.
NICE_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 180, 300, 600, 900, 1200, 1800, 3600, 7200, 10800, 21600, 43200, 86400)
CHART_POINTS = 600  # at most this many points per series on a chart (Prometheus refuses more than 11,000)
SPARKLINE_POINTS = 60  # a sparkline is ~90 px wide
ALL_MODELS = 'model_name!=""'  # a matcher that selects every model (an empty selector `{}` is not valid PromQL)


class PrometheusError(Exception):
    """A query Prometheus refused or could not answer; `unavailable` when the server itself did not answer."""

    def __init__(self, message: str, *, unavailable: bool) -> None:
        super().__init__(message)
        self.unavailable = unavailable


@dataclass(frozen=True)
class QueryWindow:
    """The frame of range queries: `start`..`end` (unix seconds, multiples of `step`), the step and the rate() window
    (seconds), and the range the page asked for (seconds, the window of range-wide instant queries)."""

    start: int
    end: int
    step: int
    rate_window: int
    range_seconds: int

    @property
    def points(self) -> int:
        """Points per series: (end - start) / step + 1."""
        return (self.end - self.start) // self.step + 1


def query_window(
    *, range_seconds: int, now: float, scrape_interval: float, max_points: int = CHART_POINTS
) -> QueryWindow:
    """The frame for a range ending now: step = the first nice step >= max(scrape interval, range / max_points),
    end = now rounded down to the step, start = end - range rounded up to whole steps, rate window =
    max(4 scrape intervals, step) rounded up to whole seconds."""
    if range_seconds <= 0 or scrape_interval <= 0 or max_points < 2:
        raise ValueError("range_seconds and scrape_interval must be positive and max_points at least 2")
    least = max(scrape_interval, range_seconds / max_points)
    step = next((s for s in NICE_STEPS if s >= least), math.ceil(least))
    end = int(now // step) * step
    start = end - math.ceil(range_seconds / step) * step
    rate_window = math.ceil(max(4 * scrape_interval, step))
    return QueryWindow(start=start, end=end, step=step, rate_window=rate_window, range_seconds=range_seconds)


def promql_render(template: str, *, window: QueryWindow, model_name: str | None = None) -> str:
    """Fill a query template: `$model` (a model_name matcher; every model when None), `$window` (the rate window)
    and `$range` (the whole range, for range-wide instant queries). Model names are escaped PromQL strings."""
    model = ALL_MODELS if model_name is None else f"model_name={promql_string(model_name)}"
    return string.Template(template).substitute(
        model=model, window=f"{window.rate_window}s", range=f"{window.range_seconds}s"
    )


@dataclass(frozen=True)
class Series:
    """One series of an answer: its labels, and parallel tuples of unix times and values (None for NaN/Inf)."""

    labels: dict[str, str]
    times: tuple[float, ...]
    values: tuple[float | None, ...]

    @property
    def last(self) -> float | None:
        """The latest value that is a number."""
        return next((v for v in reversed(self.values) if v is not None), None)


@dataclass(frozen=True)
class PromQuery:
    """One query of a page: a range query over the page's window, or an instant query at its end."""

    expr: str
    instant: bool = False


@dataclass
class QueryResults:
    """The answers to a page's queries by key. `unavailable` says why Prometheus did not answer at all; `failed`
    holds the error of each query it refused."""

    series: dict[str, list[Series]] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    unavailable: str | None = None

    def get(self, key: str) -> list[Series]:
        """The series of one query (empty when it failed or returned nothing)."""
        return self.series.get(key, [])


def _number(text: str) -> float | None:
    value = float(text)
    return value if math.isfinite(value) else None


def _series_parse(data: dict[str, Any]) -> list[Series]:
    """Matrix or vector answers as Series."""
    result_type, result = data.get("resultType"), data.get("result", [])
    series = []
    if result_type == "matrix":
        for item in result:
            pairs = item.get("values", [])
            series.append(
                Series(
                    labels=dict(item.get("metric", {})),
                    times=tuple(float(t) for t, _ in pairs),
                    values=tuple(_number(v) for _, v in pairs),
                )
            )
    elif result_type == "vector":
        for item in result:
            t, v = item["value"]
            series.append(Series(labels=dict(item.get("metric", {})), times=(float(t),), values=(_number(v),)))
    elif result_type == "scalar":
        t, v = result
        series.append(Series(labels={}, times=(float(t),), values=(_number(v),)))
    return series


class PrometheusClient:
    """Queries one Prometheus server (`base_url`); `timeout` is the server-side query timeout in seconds."""

    def __init__(self, base_url: str, *, timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def _post(self, path: str, params: dict[str, str]) -> list[Series]:
        """POST a form (long queries fit) and decode the answer; PrometheusError on any failure."""
        body = urllib.parse.urlencode({**params, "timeout": f"{self.timeout:g}s"}).encode()
        request = urllib.request.Request(self.base_url + path, data=body, method="POST")  # noqa: S310 - settings URL
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout + 1.0) as response:  # noqa: S310
                answer = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            # 400 bad_data, 422 execution error, 503 timeout or overload: Prometheus answered, the query failed.
            try:
                detail = json.loads(exc.read()).get("error", "")
            except (ValueError, AttributeError):
                detail = ""
            raise PrometheusError(f"HTTP {exc.code}: {detail or exc.reason}", unavailable=exc.code >= 502) from exc
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise PrometheusError(f"no answer from {self.base_url}: {reason}", unavailable=True) from exc
        if answer.get("status") != "success":
            raise PrometheusError(str(answer.get("error", "query failed")), unavailable=False)
        return _series_parse(answer.get("data", {}))

    def query_range(self, expr: str, *, window: QueryWindow) -> list[Series]:
        """`/api/v1/query_range` over the window."""
        return self._post(
            "/api/v1/query_range",
            {"query": expr, "start": str(window.start), "end": str(window.end), "step": str(window.step)},
        )

    def query(self, expr: str, *, at: float) -> list[Series]:
        """`/api/v1/query` at a unix time."""
        return self._post("/api/v1/query", {"query": expr, "time": str(at)})


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def thread_pool() -> ThreadPoolExecutor:
    """The process' pool for outbound monitoring queries (Prometheus and Alertmanager), made on first use."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="dashboard-query")
        return _pool


def _cache_key(*parts: object) -> str:
    return "dashboard:prom:" + hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()


def _down_key(base_url: str) -> str:
    return "dashboard:prom-down:" + hashlib.sha256(base_url.encode()).hexdigest()


def _query_cached(client: PrometheusClient, query: PromQuery, window: QueryWindow) -> list[Series]:
    """One query through the per-process cache."""
    ttl = settings.DASHBOARD_CACHE_SECONDS
    key = _cache_key(client.base_url, query.expr, query.instant, window.start, window.end, window.step)
    if ttl > 0:
        cached: list[Series] | None = cache.get(key)
        if cached is not None:
            return cached
    if query.instant:
        found = client.query(query.expr, at=window.end)
    else:
        found = client.query_range(query.expr, window=window)
    if ttl > 0:
        cache.set(key, found, ttl)
    return found


class PendingQueries:
    """Queries submitted to the pool; `results()` waits for them (so the caller can read the database meanwhile)."""

    def __init__(self, futures: dict[str, Future[list[Series]]], unavailable: str | None) -> None:
        self._futures = futures
        self._unavailable = unavailable

    def results(self) -> QueryResults:
        """Every answer, or why there is none."""
        results = QueryResults(unavailable=self._unavailable)
        for key, future in self._futures.items():
            try:
                results.series[key] = future.result()
            except PrometheusError as exc:
                if exc.unavailable:
                    results.unavailable = results.unavailable or str(exc)
                else:
                    logger.warning("dashboard query %s failed: %s", key, exc)
                    results.failed[key] = str(exc)
        if results.unavailable and settings.DASHBOARD_CACHE_SECONDS > 0:
            cache.set(_down_key(settings.PROMETHEUS_URL), results.unavailable, settings.DASHBOARD_CACHE_SECONDS)
        return results


def prometheus_queries_submit(*, queries: Mapping[str, PromQuery], window: QueryWindow) -> PendingQueries:
    """Start a page's queries in parallel against PROMETHEUS_URL; a server that just failed is not asked again
    until DASHBOARD_CACHE_SECONDS have passed."""
    down = cache.get(_down_key(settings.PROMETHEUS_URL)) if settings.DASHBOARD_CACHE_SECONDS > 0 else None
    if down is not None:
        return PendingQueries({}, unavailable=str(down))
    client = PrometheusClient(settings.PROMETHEUS_URL, timeout=settings.DASHBOARD_PROMETHEUS_TIMEOUT_SECONDS)
    pool = thread_pool()
    futures = {key: pool.submit(_query_cached, client, query, window) for key, query in queries.items()}
    return PendingQueries(futures, unavailable=None)
