"""Statistics of the critic's targets: the running normalisation MAPPO trains the value head
on, and how much of the returns' variance the critic explains (the diagnostic PPO logs)."""

from __future__ import annotations

import math

import numpy as np


class RunningMeanStd:
    """Running mean/variance of value targets (value normalisation as in MAPPO)."""

    def __init__(self) -> None:
        self.mean, self.var, self.count = 0.0, 1.0, 1e-4

    def update(self, x: np.ndarray) -> None:
        m, v, n = float(x.mean()), float(x.var()), x.size
        delta, total = m - self.mean, self.count + n
        self.mean += delta * n / total
        self.var = (self.var * self.count + v * n + delta**2 * self.count * n / total) / total
        self.count = total

    @property
    def std(self) -> float:
        return math.sqrt(self.var) + 1e-8


def explained_variance(predicted: np.ndarray, target: np.ndarray) -> float:
    """``1 - Var(target - predicted) / Var(target)``; nan when the target does not vary."""
    var = float(np.var(target))
    return float("nan") if var == 0.0 else 1.0 - float(np.var(target - predicted)) / var
