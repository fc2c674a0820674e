"""The drift app's threshold advisor (alerts_config/advice.py): suggested drift thresholds fitted to the active
reference (drift/threshold_fitting.py) and backtests of a candidate value over the stored drift runs."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from alerts_config.advice import Backtest, Suggestion

from . import selectors


class DriftThresholdAdvisor:
    """Feature drift and prediction drift (suggestions and backtests), estimated accuracy and F1 (backtests)."""

    def suggestion(self, *, kind: str, model_id: int | None, feature_name: str) -> Suggestion | None:
        """The suggestion for the model's active reference and current window size (None for a global threshold:
        each model has its own reference)."""
        if model_id is None or kind not in ("feature_drift", "prediction_drift"):
            return None
        found = selectors.suggested_threshold_for(
            model_id=model_id, feature_name=None if kind == "prediction_drift" else feature_name
        )
        if found is None:
            return None
        row, covered = found
        scope = (
            "the prediction"
            if kind == "prediction_drift"
            else (f"feature {row.feature_name!r}" if feature_name else f"the largest of {covered} features")
        )
        return Suggestion(
            value=float(row.value),  # type: ignore[arg-type]  # the selector returns rows with a value only
            note=(
                f"{row.quantile:.0%} no-drift quantile ({row.test}, window {row.window_size}, {row.resamples} "
                f"resamples of reference {row.reference_id}) for {scope}"
            ),
        )

    def backtest(
        self, *, kind: str, model_id: int | None, feature_name: str, value: float, days: int
    ) -> Backtest | None:
        """Count the stored runs of the last `days` days that `value` would have flagged."""
        counted = selectors.threshold_backtest(
            kind=kind,
            model_id=model_id,
            feature_name=feature_name,
            value=value,
            since=timezone.now() - timedelta(days=days),
        )
        return None if counted is None else Backtest(flagged=counted[0], runs=counted[1], days=days)
