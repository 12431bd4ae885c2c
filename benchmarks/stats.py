"""Summaries of timing samples: a median and its spread."""

from __future__ import annotations

import statistics
from typing import TypedDict


class Summary(TypedDict):
    median: float
    q1: float
    q3: float
    min: float
    max: float
    n: int


def summarize(values: list[float]) -> Summary:
    """Median, quartiles and range of `values` (any unit; kept as given)."""
    if not values:
        raise ValueError("no samples")
    if len(values) == 1:
        q1 = q3 = values[0]
    else:
        q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return Summary(
        median=statistics.median(values),
        q1=q1,
        q3=q3,
        min=min(values),
        max=max(values),
        n=len(values),
    )


def milliseconds(nanoseconds: list[int]) -> list[float]:
    return [value / 1e6 for value in nanoseconds]
