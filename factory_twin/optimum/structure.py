"""What a solved policy does, in plain words: per station, how often it runs fast, waits,
maintains or changes product, and how the fast share depends on its own queue, the queue
downstream and its wear phase (and the maintenance share on its wear phase).

Shares are weighted by how often each decision happens in the long run (the states' visit
rates), so they describe the policy as it is lived, not as a table over states that are
never reached.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from factory_twin.optimum.chain import Chain
from factory_twin.optimum.model import LineModel
from factory_twin.optimum.state import pending
from factory_twin.sim import actions

MIN_WEIGHT = 1e-6  # starts per minute below which a condition is not reported


@dataclass
class StationHabits:
    name: str
    starts: float = 0.0  # per minute
    fast: float = 0.0
    waits: float = 0.0
    pms: float = 0.0
    changeovers: float = 0.0  # starts that need a changeover first
    # condition value -> [starts, fast starts] per minute
    by_own: dict[int, list[float]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    by_down: dict[int, list[float]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    by_phase: dict[int, list[float]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    # wear phase -> [decisions, PM decisions] per minute
    pm_by_phase: dict[int, list[float]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))

    def to_json(self) -> dict:
        def shares(table):
            return {str(k): v[1] / v[0] for k, v in sorted(table.items()) if v[0] > MIN_WEIGHT}

        decisions = self.starts + self.waits + self.pms
        return {
            "station": self.name,
            "fast_share": self.fast / self.starts if self.starts else 0.0,
            "wait_share": self.waits / decisions if self.starts else 0.0,
            "pm_share": self.pms / decisions if decisions else 0.0,
            "changeover_share": self.changeovers / self.starts if self.starts else 0.0,
            "pm_share_by_wear_phase": shares(self.pm_by_phase),
            "fast_share_by_own_queue": shares(self.by_own),
            "fast_share_by_downstream_queue": shares(self.by_down),
            "fast_share_by_wear_phase": shares(self.by_phase),
        }


def habits(model: LineModel, chain: Chain, choice: np.ndarray, visits: np.ndarray) -> list:
    """Per station, the long-run shares of fast starts and waits of a policy."""
    out = [StationHabits(st.name) for st in model.stations]
    n_products = len(model.products)
    for s in np.flatnonzero(chain.choice_station[choice] >= 0):
        rate = float(visits[s])
        state = chain.states[s]
        i, j = pending(model, state)
        kind, k, fast = actions.decode(int(chain.choice_action[choice[s]]), n_products)
        h = out[i]
        phase = state[i][1][j][3] + 1
        h.pm_by_phase[phase][0] += rate
        if kind == "wait":
            h.waits += rate
            continue
        if kind == "pm":
            h.pms += rate
            h.pm_by_phase[phase][1] += rate
            continue
        h.starts += rate
        h.fast += rate * fast
        last, setup = state[i][1][j][5], model.stations[i].setup
        h.changeovers += rate * (last >= 0 and bool(setup) and setup[last][k] is not None)
        conditions = [(h.by_own, len(state[i][0]) - 1), (h.by_phase, phase)]
        if i + 1 < len(state):
            conditions.append((h.by_down, len(state[i + 1][0])))
        for table, key in conditions:
            table[key][0] += rate
            table[key][1] += rate * fast
    return out


def sentences(model: LineModel, found: list[StationHabits]) -> list[str]:
    """One plain sentence per station that has a choice to make (a fast mode, or waits)."""
    lines = []
    for st, h in zip(model.stations, found, strict=True):
        data = h.to_json()
        parts = []
        if st.has_fast:
            parts.append(f"runs fast in {100 * data['fast_share']:.0f}% of its starts")
            for label, key in (
                ("parts left waiting in its own buffer", "fast_share_by_own_queue"),
                ("parts waiting downstream", "fast_share_by_downstream_queue"),
                ("wear phase", "fast_share_by_wear_phase"),
            ):
                table = data[key]
                if len(table) > 1 and max(table.values()) - min(table.values()) > 0.05:
                    pairs = ", ".join(f"{k}: {100 * v:.0f}%" for k, v in table.items())
                    parts.append(f"fast share by {label} {pairs}")
        if st.has_setups:
            share = 100 * data["changeover_share"]
            parts.append(f"changes product (with a changeover) in {share:.0f}% of its starts")
        if data["wait_share"] > 0.005:
            parts.append(f"waits in {100 * data['wait_share']:.0f}% of its decisions")
        if st.pm is not None:
            parts.append(f"maintains in {100 * data['pm_share']:.1f}% of its decisions")
            table = data["pm_share_by_wear_phase"]
            if len(table) > 1:
                pairs = ", ".join(f"{k}: {100 * v:.0f}%" for k, v in table.items())
                parts.append(f"maintenance share by wear phase {pairs}")
        if parts:
            lines.append(f"{st.name}: " + "; ".join(parts))
    return lines
