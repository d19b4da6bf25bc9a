"""What the exact optimum of a line is worth, and a simulated run's share of it: the "% of
optimum" that `run` and `compare` show.

The optimum is a long-run average (no warm-up, no noise); a run's KPIs cover a finite window,
so a policy that plays the optimum reads about 100%, by chance a little above or below.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from factory_twin.scenario import Costs
from factory_twin.sim.kpi import KPIs, team_reward


@dataclass(frozen=True)
class LineOptimum:
    """The best any policy can do on the line, for the scenario's costs."""

    throughput: float  # good parts per minute of the throughput-optimal policy
    reward: float  # team reward per minute of the reward-optimal policy
    states: int  # of the solved chain
    costs: Costs  # the costs `reward` is measured in

    def throughput_pct(self, k: KPIs) -> float:
        return 100.0 * k.throughput / self.throughput if self.throughput > 0 else math.nan

    def reward_pct(self, k: KPIs) -> float:
        """NaN where the optimal reward is not positive: a share of it would mislead."""
        return 100.0 * team_reward(k, self.costs) / self.reward if self.reward > 0 else math.nan

    def to_json(self) -> dict:
        """In the simulator's units (per minute), like every KPI in the JSON outputs."""
        return {"throughput": self.throughput, "team_reward": self.reward, "states": self.states}
