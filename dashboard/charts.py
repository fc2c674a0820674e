"""Plotly figures as plain JSON-ready dicts (`{"data": [...], "layout": {...}}`), built from query answers and stored
drift results. Pure functions: no Django, no database.

The figures carry only what differs from figure to figure; the shared layout (fonts, grid, margins, colours) lives in
`static/dashboard/dashboard.js`, which draws every figure with `{displayModeBar: false, responsive: true}` (sparklines
`staticPlot`), SVG `scatter`/`bar` traces only (browsers allow few WebGL contexts per page). An optional `table`
key (`{"columns": [...], "rows": [[...]]}`) is the figure's data table; the script builds one from the traces
when it is absent. Times are unix milliseconds on `date` axes.

Stored drift chart data (`FeatureDriftResult.chart`) is drawn in the format the drift run writes, documented in
`drift/statistics/charts.py`: numeric features as shares on shared bins (with the below/above counts) and the two
ECDFs with the KS point (null when a side has no values); categorical features as category counts (`"<unseen>"` last
when present); `{}` for runs that stored none.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

from .chart_specs import BLUE, GREY, PALETTE, VERMILLION, TimeSeriesChart
from .prometheus import QueryWindow, Series

Figure = dict[str, Any]
REFERENCE_NAME = "reference"
CURRENT_NAME = "current"


def _round(value: float | None, digits: int = 6) -> float | None:
    """Six significant digits keep the JSON small and every chart exact to the pixel."""
    if value is None or not math.isfinite(value):
        return None
    return float(f"{value:.{digits}g}")


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def _grid(window: QueryWindow) -> list[int]:
    """Unix times (s) of every step of a window."""
    return list(range(window.start, window.end + 1, window.step))


def _on_grid(series: Series, grid: Sequence[int], scale: float) -> list[float | None]:
    """The series' values on the full step grid: a missing step is a gap (None), not a straight line across it."""
    by_time = {round(t): v for t, v in zip(series.times, series.values, strict=True)}
    return [_round(by_time[t] * scale) if by_time.get(t) is not None else None for t in grid]  # type: ignore[operator]


def _label_name(template: str, labels: Mapping[str, str]) -> str:
    """A trace name from a template naming labels in braces; a missing label reads as empty."""

    class _Labels(dict[str, str]):
        def __missing__(self, key: str) -> str:
            return ""

    return template.format_map(_Labels(labels))


def _series_key(series: Series) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, v) for k, v in series.labels.items() if k != "__name__"))


def _rgba(color: str, alpha: float) -> str:
    red, green, blue = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red},{green},{blue},{alpha})"


def timeseries_figure(
    *, chart: TimeSeriesChart, answers: Sequence[Sequence[Series]], thresholds: Mapping[str, float], window: QueryWindow
) -> Figure | None:
    """A model-page chart: one trace per returned series (a band for band_lower/band_upper pairs), and a dashed line
    per threshold that has a stored value. None when no query returned a single number."""
    grid = _grid(window)
    x = [_ms(t) for t in grid]
    traces: list[dict[str, Any]] = []
    bands: dict[tuple[Any, ...], dict[str, Any]] = {}
    colour_index = 0
    for query, found in zip(chart.queries, answers, strict=True):
        for series in found:
            y = _on_grid(series, grid, query.scale)
            if all(v is None for v in y):
                continue
            color = query.color or PALETTE[colour_index % len(PALETTE)]
            colour_index += query.color is None
            name = _label_name(query.name, series.labels)
            if query.role in ("band_lower", "band_upper"):
                bands.setdefault(_series_key(series), {})[query.role] = (name, y, color)
                continue
            line: dict[str, Any] = {"color": color, "width": 2}
            if query.dash:
                line["dash"] = query.dash
            traces.append({"type": "scatter", "mode": "lines", "name": name, "x": x, "y": y, "line": line})
    for band in bands.values():
        if "band_lower" not in band or "band_upper" not in band:
            continue
        (low_name, low, color), (high_name, high, _) = band["band_lower"], band["band_upper"]
        traces.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": low_name,
                "x": x,
                "y": low,
                "line": {"width": 0, "color": color},
            }
        )
        traces.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": high_name,
                "x": x,
                "y": high,
                "fill": "tonexty",
                "fillcolor": _rgba(color, 0.2),
                "line": {"width": 0, "color": color},
            }
        )
    if not traces:
        return None
    for threshold in chart.thresholds:
        value = thresholds.get(str(threshold.kind))
        if value is None:
            continue
        scaled = _round(value * threshold.scale)
        traces.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": f"{threshold.name}: {scaled:g}",
                "x": [x[0], x[-1]],
                "y": [scaled, scaled],
                "line": {"color": VERMILLION, "dash": "dash", "width": 1.5},
                "hoverinfo": "skip",
            }
        )
    yaxis: dict[str, Any] = {"title": {"text": chart.y_title}, "rangemode": "tozero"}
    if chart.y_format:
        yaxis["tickformat"] = chart.y_format
    if chart.y_range is not None:
        yaxis["range"] = list(chart.y_range)
    return {"data": traces, "layout": {"xaxis": {"type": "date", "range": [x[0], x[-1]]}, "yaxis": yaxis}}


def sparkline_figure(*, series: Series, window: QueryWindow, scale: float = 1.0, color: str = BLUE) -> Figure | None:
    """A sparkline: one thin line, no axes, drawn as a static plot. None when the series has no number."""
    grid = _grid(window)
    y = _on_grid(series, grid, scale)
    if all(v is None for v in y):
        return None
    return {
        "data": [{"type": "scatter", "mode": "lines", "x": [_ms(t) for t in grid], "y": y, "line": {"color": color}}],
        "layout": {"xaxis": {"type": "date", "range": [_ms(grid[0]), _ms(grid[-1])]}},
        "sparkline": True,
    }


def drift_scores_figure(
    *,
    points: Sequence[tuple[float, float | None, bool]],
    threshold: float,
    window: QueryWindow,
) -> Figure | None:
    """A feature's drift score per persisted run (time in unix s, score, drifted) with its threshold as a dashed
    line; drifted runs are marked with a vermillion cross. None when no run has a score."""
    scored = [(t, s, d) for t, s, d in points if s is not None]
    if not scored:
        return None
    x = [_ms(t) for t, _, _ in scored]
    y = [_round(s) for _, s, _ in scored]
    drifted = [d for _, _, d in scored]
    range_ms = [_ms(window.start), _ms(window.end)]
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": "score",
                "x": x,
                "y": y,
                "line": {"color": BLUE, "width": 1.5},
                "marker": {
                    "size": [9 if d else 5 for d in drifted],
                    "color": [VERMILLION if d else BLUE for d in drifted],
                    "symbol": ["x" if d else "circle" for d in drifted],
                },
            },
            {
                "type": "scatter",
                "mode": "lines",
                "name": f"threshold {threshold:g}",
                "x": range_ms,
                "y": [threshold, threshold],
                "line": {"color": VERMILLION, "dash": "dash", "width": 1.5},
                "hoverinfo": "skip",
            },
        ],
        "layout": {
            "xaxis": {"type": "date", "range": range_ms},
            "yaxis": {"title": {"text": "score"}, "rangemode": "tozero"},
            "showlegend": False,
        },
        "table": {
            "columns": ["run time (UTC)", "score", "drifted"],
            "rows": [[t, s, "drifted" if d else ""] for t, s, d in zip(x, y, drifted, strict=True)],
            "time_columns": [0],
        },
    }


def _shares(counts: Sequence[int], total: int) -> list[float]:
    return [(_round(c / total) or 0.0) if total else 0.0 for c in counts]


def _fmt(value: float, digits: int = 4) -> str:
    return f"{value:.{digits}g}"


def drift_histogram_figure(chart: Mapping[str, Any]) -> Figure:
    """Reference and current shares on the run's shared bins, overlaid; values outside the bins as the "below" and
    "above" bars (shown when either side has any). Bins are drawn as ordered categories so that unequal bins keep
    their true shares."""
    edges = [float(e) for e in chart["edges"]]
    labels = [f"{_fmt(a, 3)} to {_fmt(b, 3)}" for a, b in itertools.pairwise(edges)]
    reference = [int(c) for c in chart["reference_counts"]]
    current = [int(c) for c in chart["current_counts"]]
    if chart.get("reference_below") or chart.get("current_below"):
        labels.insert(0, f"< {_fmt(edges[0], 3)}")
        reference.insert(0, int(chart.get("reference_below", 0)))
        current.insert(0, int(chart.get("current_below", 0)))
    if chart.get("reference_above") or chart.get("current_above"):
        labels.append(f"> {_fmt(edges[-1], 3)}")
        reference.append(int(chart.get("reference_above", 0)))
        current.append(int(chart.get("current_above", 0)))
    reference_total = sum(reference)
    current_total = sum(current)
    reference_shares = _shares(reference, reference_total)
    current_shares = _shares(current, current_total)
    return {
        "data": [
            _bar(REFERENCE_NAME, labels, reference_shares, reference, GREY),
            _bar(CURRENT_NAME, labels, current_shares, current, BLUE),
        ],
        "layout": {
            "barmode": "overlay",
            "xaxis": {"type": "category", "tickangle": -35, "tickfont": {"size": 10}},
            "yaxis": {"title": {"text": "share of values"}, "tickformat": ".0%"},
        },
        "table": {
            "columns": ["bin", "reference count", "reference share", "current count", "current share"],
            "rows": [
                [label, rc, rs, cc, cs]
                for label, rc, rs, cc, cs in zip(
                    labels, reference, reference_shares, current, current_shares, strict=True
                )
            ],
        },
    }


def _bar(name: str, x: Sequence[str], shares: Sequence[float], counts: Sequence[int], color: str) -> dict[str, Any]:
    return {
        "type": "bar",
        "name": name,
        "x": list(x),
        "y": list(shares),
        "customdata": list(counts),
        "marker": {"color": color, "opacity": 0.65 if color == GREY else 0.75},
        "hovertemplate": "%{x}: %{y:.1%} (%{customdata})<extra>" + name + "</extra>",
    }


def drift_ecdf_figure(chart: Mapping[str, Any]) -> Figure:
    """The reference and current ECDFs as step lines, and the KS distance as a vermillion segment between them at
    the point of largest gap (Kolmogorov-Smirnov: D = sup |F_ref - F_cur|). A side without values has no line, and
    then there is no KS point (the chart's "ks" is null)."""
    ecdf, ks = chart["ecdf"], chart.get("ks")
    x = [_round(float(v)) for v in ecdf["x"]]
    reference = [_round(float(v)) for v in ecdf["reference"]]
    current = [_round(float(v)) for v in ecdf["current"]]
    data: list[dict[str, Any]] = []
    if reference:
        data.append(_step(REFERENCE_NAME, x, reference, GREY))
    if current:
        data.append(_step(CURRENT_NAME, x, current, BLUE))
    layout: dict[str, Any] = {
        "xaxis": {"title": {"text": "value"}},
        "yaxis": {"title": {"text": "cumulative share"}, "range": [0, 1.02], "tickformat": ".0%"},
    }
    rows: list[list[Any]] = [
        [xv, reference[i] if reference else None, current[i] if current else None] for i, xv in enumerate(x)
    ]
    if ks:
        ks_x, ks_ref, ks_cur, d = (float(ks[key]) for key in ("x", "reference", "current", "d"))
        data.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": f"KS distance D = {d:.3f}",
                "x": [ks_x, ks_x],
                "y": [ks_ref, ks_cur],
                "line": {"color": VERMILLION, "width": 3},
                "marker": {"color": VERMILLION, "size": 7},
            }
        )
        layout["annotations"] = [
            {
                "x": ks_x,
                "y": (ks_ref + ks_cur) / 2,
                "text": f"D = {d:.3f}",
                "showarrow": True,
                "ax": 40,
                "ay": 0,
                "font": {"color": VERMILLION},
            }
        ]
        rows.append([f"KS point {_fmt(ks_x)}", _round(ks_ref), _round(ks_cur)])
    return {
        "data": data,
        "layout": layout,
        "table": {"columns": ["value", "reference ECDF", "current ECDF"], "rows": rows},
    }


def _step(name: str, x: Sequence[float | None], y: Sequence[float | None], color: str) -> dict[str, Any]:
    return {
        "type": "scatter",
        "mode": "lines",
        "name": name,
        "x": list(x),
        "y": list(y),
        "line": {"color": color, "shape": "hv", "width": 2},
    }


def category_shares_figure(
    *, categories: Sequence[str], reference_counts: Sequence[int], current_counts: Sequence[int]
) -> Figure:
    """Reference and current shares per category, side by side."""
    reference_shares = _shares(reference_counts, sum(reference_counts))
    current_shares = _shares(current_counts, sum(current_counts))
    labels = [str(c) for c in categories]
    return {
        "data": [
            _bar(REFERENCE_NAME, labels, reference_shares, list(reference_counts), GREY),
            _bar(CURRENT_NAME, labels, current_shares, list(current_counts), BLUE),
        ],
        "layout": {
            "barmode": "group",
            "xaxis": {"type": "category"},
            "yaxis": {"title": {"text": "share"}, "tickformat": ".0%"},
        },
        "table": {
            "columns": ["category", "reference count", "reference share", "current count", "current share"],
            "rows": [
                [c, rc, rs, cc, cs]
                for c, rc, rs, cc, cs in zip(
                    labels, reference_counts, reference_shares, current_counts, current_shares, strict=True
                )
            ],
        },
    }


def prediction_distribution_figure(
    *, reference: Mapping[str, float], current: Mapping[str, float], class_order: Sequence[str] = ()
) -> Figure | None:
    """Predicted-class shares of the reference and of the drift window, side by side, in the model's class order
    (then any other label, such as "<unknown>"). None when both are empty."""
    present = set(reference) | set(current)
    classes = [c for c in class_order if c in present]
    classes += sorted(present - set(classes))
    if not classes:
        return None
    reference_shares = [_round(float(reference.get(c, 0.0))) or 0.0 for c in classes]
    current_shares = [_round(float(current.get(c, 0.0))) or 0.0 for c in classes]
    return {
        "data": [
            {"type": "bar", "name": REFERENCE_NAME, "x": classes, "y": reference_shares, "marker": {"color": GREY}},
            {"type": "bar", "name": CURRENT_NAME, "x": classes, "y": current_shares, "marker": {"color": BLUE}},
        ],
        "layout": {
            "barmode": "group",
            "xaxis": {"type": "category", "title": {"text": "predicted class"}},
            "yaxis": {"title": {"text": "share of predictions"}, "tickformat": ".0%"},
        },
        "table": {
            "columns": ["class", "reference share", "current share"],
            "rows": [[c, r, s] for c, r, s in zip(classes, reference_shares, current_shares, strict=True)],
        },
    }


def drift_feature_figures(chart: Mapping[str, Any]) -> list[tuple[str, Figure]]:
    """The report's figures of one feature from its stored chart data: [(title, figure)]; [] when the run stored no
    chart data or data of an unknown kind."""
    kind = chart.get("kind") if chart else None
    try:
        if kind == "numeric" and len(chart["edges"]) >= 2:
            figures = [("Distribution on shared bins", drift_histogram_figure(chart))]
            if chart["ecdf"]["x"]:
                figures.append(("ECDF and KS distance" if chart.get("ks") else "ECDF", drift_ecdf_figure(chart)))
            return figures
        if kind == "categorical" and chart["categories"]:
            figure = category_shares_figure(
                categories=chart["categories"],
                reference_counts=[int(c) for c in chart["reference_counts"]],
                current_counts=[int(c) for c in chart["current_counts"]],
            )
            return [("Category shares", figure)]
    except (KeyError, TypeError, ValueError):
        return []  # malformed data from another version: the report shows the summaries and says so
    return []
