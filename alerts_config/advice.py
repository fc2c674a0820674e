"""Advice shown beside a threshold where it is edited (admin: Alerting > Thresholds): a value fitted to the data, and
a backtest of a candidate value over the stored drift runs of the last BACKTEST_DAYS days.

The numbers come from apps above this one (the drift app keeps the references and the runs; it uses alerts_config,
never the other way round), so those apps register an advisor when Django starts (drift/apps.py `ready`), and this
module asks every registered advisor in turn. Without one (the drift app not installed) there is no advice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

BACKTEST_DAYS = 30


@dataclass(frozen=True)
class Suggestion:
    """A threshold value fitted to the data, with where it comes from (for people)."""

    value: float
    note: str


@dataclass(frozen=True)
class Backtest:
    """How many stored runs in the threshold's scope a value would have flagged, out of how many, over `days`."""

    flagged: int
    runs: int
    days: int

    def __str__(self) -> str:
        return f"{self.flagged} of {self.runs} drift runs of the last {self.days} days"


class ThresholdAdvisor(Protocol):
    """What an app registers: both return None for a kind or scope it has nothing to say about."""

    def suggestion(self, *, kind: str, model_id: int | None, feature_name: str) -> Suggestion | None: ...

    def backtest(
        self, *, kind: str, model_id: int | None, feature_name: str, value: float, days: int
    ) -> Backtest | None: ...


_advisors: list[ThresholdAdvisor] = []


def advisor_register(advisor: ThresholdAdvisor) -> None:
    """Add an advisor (once per class: AppConfig.ready can run more than once in tests)."""
    if not any(type(existing) is type(advisor) for existing in _advisors):
        _advisors.append(advisor)


def threshold_suggestion(*, kind: str, model_id: int | None, feature_name: str = "") -> Suggestion | None:
    """The first registered advisor's suggested value for a threshold's kind and scope, or None."""
    for advisor in _advisors:
        found = advisor.suggestion(kind=kind, model_id=model_id, feature_name=feature_name)
        if found is not None:
            return found
    return None


def threshold_backtest(
    *, kind: str, model_id: int | None, feature_name: str = "", value: float, days: int = BACKTEST_DAYS
) -> Backtest | None:
    """How many stored runs of the last `days` days `value` would have flagged in the threshold's scope, or None
    when no advisor knows the kind."""
    for advisor in _advisors:
        found = advisor.backtest(kind=kind, model_id=model_id, feature_name=feature_name, value=value, days=days)
        if found is not None:
            return found
    return None
