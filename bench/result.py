"""Figures, targets and the statistics every benchmark reports with.

A benchmark returns `Figure`s: one measured value (the median over repeated
runs), its unit, the runs themselves, an optional target and whatever details
explain the number (server CPU per request, the query plan, ...).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Op = Literal["<", "<=", ">", ">=", "=="]


@dataclass(frozen=True)
class Target:
    """`value op threshold`, e.g. `Target(">=", 300)` for "at least 300"."""

    op: Op
    threshold: float

    def met(self, value: float) -> bool:
        return {
            "<": value < self.threshold,
            "<=": value <= self.threshold,
            ">": value > self.threshold,
            ">=": value >= self.threshold,
            "==": value == self.threshold,
        }[self.op]

    def describe(self, unit: str) -> str:
        symbol = {">=": "≥", "<=": "≤", "==": "="}.get(self.op, self.op)
        return f"{symbol} {self.threshold:g} {unit}".strip()


@dataclass
class Figure:
    """One line of the results table."""

    key: str  # stable id, e.g. "submit.postgres"
    label: str  # what was measured, for people
    unit: str
    value: float | None  # the median over runs; None when it could not be measured
    runs: list[float] = field(default_factory=list)
    target: Target | None = None
    details: dict[str, Any] = field(default_factory=dict)
    error: str | None = None  # the benchmark failed (not: missed its target)
    skipped: str | None = None  # not run here, and why (e.g. no PostgreSQL)

    @property
    def met(self) -> bool | None:
        if self.target is None or self.value is None:
            return None
        return self.target.met(self.value)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["target"] = (
            {"op": self.target.op, "threshold": self.target.threshold, "text": self.target_text}
            if self.target
            else None
        )
        data["met"] = self.met
        return data

    @property
    def target_text(self) -> str:
        return self.target.describe(self.unit) if self.target else ""


def figure(
    key: str,
    label: str,
    unit: str,
    runs: Sequence[float],
    target: Target | None = None,
    **details: Any,
) -> Figure:
    """A figure whose value is the median of `runs`."""
    values = [float(r) for r in runs]
    return Figure(
        key,
        label,
        unit,
        statistics.median(values) if values else None,
        values,
        target,
        dict(details),
    )


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0–100) with linear interpolation between ranks."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def rounded(value: float, digits: int = 3) -> float:
    """A float with `digits` significant digits, for details that people read."""
    if value == 0 or math.isnan(value) or math.isinf(value):
        return value
    return round(value, max(0, digits - 1 - math.floor(math.log10(abs(value)))))
