"""Means with Student-t confidence intervals over independent replications (seeds)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class Estimate:
    mean: float
    half_width: float  # of the confidence interval
    n: int

    @property
    def low(self) -> float:
        return self.mean - self.half_width

    @property
    def high(self) -> float:
        return self.mean + self.half_width

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high

    def __str__(self) -> str:
        if math.isnan(self.half_width):
            return f"{self.mean:.4g}"
        return f"{self.mean:.4g} ± {self.half_width:.2g}"


def mean_ci(values, confidence: float = 0.95) -> Estimate:
    """Mean and CI half-width from independent replications (NaN width for fewer than two)."""
    x = np.asarray(list(values), dtype=float)
    n = len(x)
    if n == 0:
        return Estimate(float("nan"), float("nan"), 0)
    if n == 1:
        return Estimate(float(x[0]), float("nan"), 1)
    sem = x.std(ddof=1) / math.sqrt(n)
    t = stats.t.ppf(0.5 + confidence / 2, n - 1)
    return Estimate(float(x.mean()), float(t * sem), n)
