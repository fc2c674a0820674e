"""Numbers as people read them on the admin and dashboard pages: rounded scores, percentages, p-values in scientific
notation when tiny, one-line summaries of a feature's distribution."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

NO_VALUE = "\u2013"
# The numeric summary keys shown on one line (drift.statistics.summaries stores more: p5, p25, p75, p95).
SUMMARY_KEYS_SHOWN = ("count", "mean", "std", "min", "p50", "max")


def number_format(value: float | None, digits: int = 3) -> str:
    """A float with `digits` significant digits (NO_VALUE for None)."""
    if value is None:
        return NO_VALUE
    return f"{float(value):.{digits}g}"


def percent_format(value: float | None, digits: int = 1) -> str:
    """0.1234 -> "12.3%" (NO_VALUE for None)."""
    if value is None:
        return NO_VALUE
    return f"{float(value) * 100:.{digits}f}%"


def p_value_format(value: float | None) -> str:
    """A p-value: four decimals, or scientific notation (1.23e-45) below 1e-4 (NO_VALUE for None)."""
    if value is None:
        return NO_VALUE
    value = float(value)
    return f"{value:.2e}" if 0 < value < 1e-4 else f"{value:.4f}"


def summary_format(summary: Mapping[str, Any]) -> str:
    """One line from a stored feature summary (drift.statistics.summaries): "count 150, mean 5.84, std 0.825, ..."
    for a numeric feature, "count 150, setosa 33.3%, ..." (largest shares first) for a categorical one."""
    if not summary:
        return NO_VALUE
    parts = []
    if "shares" in summary:
        parts.append(f"count {summary.get('count', 0)}")
        shares = sorted(summary["shares"].items(), key=lambda item: -item[1])
        parts.extend(f"{name} {percent_format(share)}" for name, share in shares[:6])
        if len(shares) > 6:
            parts.append(f"… {len(shares) - 6} more")
    else:
        for key in SUMMARY_KEYS_SHOWN:
            if key in summary:
                value = summary[key]
                parts.append(f"{key} {value if key == 'count' else number_format(value)}")
    missing = summary.get("missing_share")
    if missing:
        parts.append(f"missing {percent_format(missing)}")
    return ", ".join(parts)


def distribution_format(shares: Mapping[str, float]) -> str:
    """Class shares as "a 33.3%, b 66.7%" (largest first)."""
    if not shares:
        return NO_VALUE
    return ", ".join(f"{name} {percent_format(share)}" for name, share in sorted(shares.items(), key=lambda i: -i[1]))
