"""The dashboard's Prometheus client: the query window (step, alignment, rate window), query templates, and real
queries against Debian's Prometheus (parallel, parsed, failures told apart from an unreachable server)."""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from dashboard.chart_specs import DRIFT_SHARE_SPARK, MODEL_CHARTS, OVERVIEW_METRICS
from dashboard.prometheus import (
    RANGES,
    PrometheusClient,
    PromQuery,
    prometheus_queries_submit,
    promql_render,
    query_window,
)
from tests.dashboard.stack import prometheus_running
from tests.servers import free_port


@pytest.mark.parametrize(
    ("range_key", "step", "points"),
    [("15m", 15, 61), ("1h", 15, 241), ("6h", 60, 361), ("24h", 180, 481), ("7d", 1200, 505)],
)
def test_query_window_keeps_300_to_600_points_above_the_scrape_interval(range_key: str, step: int, points: int) -> None:
    """At a 15 s scrape interval: the step is never below it, ranges from 6h up get 300-600 points, start and end are
    multiples of the step, and the rate window is max(4 scrape intervals, step)."""
    # when
    window = query_window(range_seconds=RANGES[range_key], now=1_700_000_123.4, scrape_interval=15)
    # then
    assert window.step == step and window.points == points
    assert window.start % step == 0 and window.end % step == 0
    assert window.end <= 1_700_000_123.4 < window.end + step
    assert window.end - window.start >= RANGES[range_key]
    assert window.rate_window == max(60, step)


def test_query_window_for_sparklines_and_fast_scrapes() -> None:
    """60-point sparklines take a coarser step; a 1 s scrape gives a 4 s rate window."""
    # when
    spark = query_window(range_seconds=3600, now=1_700_000_000, scrape_interval=15, max_points=60)
    fast = query_window(range_seconds=900, now=1_700_000_000, scrape_interval=1)
    # then
    assert spark.step == 60 and spark.points == 61
    assert fast.step == 2 and fast.rate_window == 4


def test_query_window_refuses_nonsense() -> None:
    """A zero range or scrape interval is a programming error."""
    with pytest.raises(ValueError):
        query_window(range_seconds=0, now=0, scrape_interval=15)


def test_promql_render_escapes_model_names_and_selects_all_models_without_an_empty_selector() -> None:
    """$model becomes an escaped model_name matcher (or `model_name!=""` for every model); $window and $range are
    seconds."""
    # given
    window = query_window(range_seconds=3600, now=1_700_000_000, scrape_interval=15)
    template = "sum(rate(x{$model}[$window])) / sum(rate(x{$model}[$range]))"
    # then
    assert promql_render(template, window=window, model_name='a"b\\c') == (
        'sum(rate(x{model_name="a\\"b\\\\c"}[60s])) / sum(rate(x{model_name="a\\"b\\\\c"}[3600s]))'
    )
    assert promql_render(template, window=window) == (
        'sum(rate(x{model_name!=""}[60s])) / sum(rate(x{model_name!=""}[3600s]))'
    )


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Prometheus (scraping nothing that answers)."""
    tmp = tmp_path_factory.mktemp("prometheus")
    with prometheus_running(targets=[f"127.0.0.1:{free_port()}"], tmp=tmp) as server:
        yield server.url


@pytest.mark.slow
def test_queries_run_in_parallel_against_a_real_prometheus(prometheus: str, settings: Any) -> None:
    """Range and instant queries come back parsed: one point per step from start to end, NaN as None; a query
    Prometheus refuses is reported as failed without making Prometheus unavailable."""
    # given
    settings.PROMETHEUS_URL = prometheus
    settings.DASHBOARD_CACHE_SECONDS = 0
    window = query_window(range_seconds=900, now=time.time(), scrape_interval=15)
    queries = {
        "one": PromQuery("vector(1)"),
        "nan": PromQuery("vector(0) / 0", instant=True),
        "labels": PromQuery('label_replace(vector(2), "model_name", "iris", "", "")', instant=True),
        "bad": PromQuery("sum(rate(x[5m]"),
    }
    # when
    results = prometheus_queries_submit(queries=queries, window=window).results()
    # then
    assert results.unavailable is None
    (one,) = results.get("one")
    assert one.times == tuple(float(t) for t in range(window.start, window.end + 1, window.step))
    assert set(one.values) == {1.0}
    assert results.get("nan")[0].values == (None,)
    assert results.get("labels")[0].labels == {"model_name": "iris"} and results.get("labels")[0].last == 2.0
    assert "bad" in results.failed and "parse error" in results.failed["bad"]


def test_an_unreachable_prometheus_is_reported_fast_and_remembered(settings: Any) -> None:
    """Nothing listening: every query is unavailable at once; with the cache on, the next page does not try again."""
    # given
    settings.PROMETHEUS_URL = f"http://127.0.0.1:{free_port()}"
    settings.DASHBOARD_CACHE_SECONDS = 30
    window = query_window(range_seconds=900, now=time.time(), scrape_interval=15)
    started = time.monotonic()
    # when
    first = prometheus_queries_submit(queries={"a": PromQuery("up"), "b": PromQuery("up")}, window=window).results()
    second = prometheus_queries_submit(queries={"a": PromQuery("up")}, window=window)
    # then
    assert time.monotonic() - started < 2.0
    assert first.unavailable and "Connection refused" in first.unavailable
    assert second.results().unavailable == first.unavailable


class _Recorder(BaseHTTPRequestHandler):
    bodies: list[dict[str, list[str]]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        type(self).bodies.append(urllib.parse.parse_qs(self.rfile.read(length).decode()))
        body = json.dumps({"status": "success", "data": {"resultType": "matrix", "result": []}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_each_query_asks_prometheus_for_its_timeout_and_the_aligned_window(tmp_path: Path) -> None:
    """The form sent to /api/v1/query_range carries the query, the aligned start/end, the step and the server-side
    `timeout` (the HTTP client waits one second longer)."""
    # given
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    window = query_window(range_seconds=3600, now=1_700_000_000, scrape_interval=15)
    try:
        client = PrometheusClient(f"http://127.0.0.1:{server.server_address[1]}", timeout=4.0)
        # when
        client.query_range("up", window=window)
    finally:
        server.shutdown()
        server.server_close()
    # then
    (body,) = _Recorder.bodies
    assert body == {
        "query": ["up"],
        "start": [str(window.start)],
        "end": [str(window.end)],
        "step": ["15"],
        "timeout": ["4s"],
    }


@pytest.mark.slow
def test_every_dashboard_query_is_valid_promql(prometheus: str, settings: Any) -> None:
    """Every overview and model-page query template, filled in for one model and for all, parses and runs on
    Debian's Prometheus (no data there: only validity is checked here; the browser test checks the data)."""
    # given
    settings.PROMETHEUS_URL = prometheus
    settings.DASHBOARD_CACHE_SECONDS = 0
    window = query_window(range_seconds=3600, now=time.time(), scrape_interval=15)
    templates = [DRIFT_SHARE_SPARK, *(m.spark_expr for m in OVERVIEW_METRICS)]
    templates += [m.value_expr for m in OVERVIEW_METRICS if m.value_expr]
    templates += [q.expr for chart in MODEL_CHARTS for q in chart.queries]
    queries = {
        f"{i}:{model}": PromQuery(promql_render(t, window=window, model_name=model))
        for i, t in enumerate(templates)
        for model in ("iris", 'we"ird', None)
    }
    # when
    results = prometheus_queries_submit(queries=queries, window=window).results()
    # then
    assert results.unavailable is None and results.failed == {}
