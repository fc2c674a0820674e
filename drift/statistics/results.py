"""What the drift statistics return: frozen result dataclasses and the names they use."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

NUMERIC = "numeric"
CATEGORICAL = "categorical"
OK = "ok"
INSUFFICIENT = "insufficient_data"

# Key of the bucket that collects category codes (or class indices) outside the known list.
UNSEEN_CATEGORY = "<unseen>"
UNKNOWN_CLASS = "<unknown>"


@dataclass(frozen=True)
class FeatureDrift:
    """Outcome of one drift test on one feature of one window."""

    feature_name: str
    test: str
    status: str  # OK or INSUFFICIENT
    # In [0, 1] for ks (D), jensenshannon (distance, base 2) and chi2 (Cramér's V); >= 0 for psi and wasserstein
    # (W / reference std). None exactly when status is INSUFFICIENT; never NaN or infinite.
    score: float | None
    statistic: float | None  # the raw statistic: D, chi2, PSI, W / std, JS distance
    p_value: float | None  # ks and chi2 only
    missing_share: float  # NaN/inf (numeric) or NaN (categorical) share of the window rows; 0.0 for no rows
    reference_size: int  # non-missing reference values
    window_size: int  # non-missing window values
    reference_summary: dict[str, Any]
    current_summary: dict[str, Any]
    message: str = ""  # why the feature is INSUFFICIENT
    # Share of the window rows with a finite value below the reference's observed minimum or above its maximum
    # (numeric; 0.0 for categorical features and when the reference has no finite value).
    out_of_range_share: float = 0.0
    # Share of the window rows whose category never occurs in the reference (categorical; 0.0 for numeric).
    unseen_category_share: float = 0.0
    # JSON-safe display data of both distributions (drift.statistics.charts); {} only where none was computed.
    chart: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PredictionDrift:
    """Outcome of comparing the window's predicted-class distribution with the reference's."""

    status: str
    score: float | None  # Jensen-Shannon distance (base 2) between the class distributions
    chi2_statistic: float | None
    p_value: float | None
    reference_distribution: dict[str, float]
    current_distribution: dict[str, float]
    window_size: int
    message: str = ""
