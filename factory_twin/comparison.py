"""What a comparison found: every method's KPIs over training seeds, and paired differences.

A learned method's result is a distribution over training seeds: each training seed gives one
policy, evaluated on the same held-out evaluation seeds as every other policy (common random
numbers), and its value is the mean over those seeds. Levels are the mean over training seeds
± the 95% Student-t half-width over training seeds. A heuristic has no training seed: its
interval is over evaluation seeds.

Differences are paired: a method's i-th training seed against PS's i-th (both evaluated on the
same seeds), and each training seed against the best heuristic on the same evaluation seeds.
The intervals come from scipy's t-tests (`ttest_rel`, `ttest_1samp`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import stats as sps

from factory_twin.optimum.value import LineOptimum
from factory_twin.sim.kpi import KPIs

DIFF_KPIS = ("throughput", "wip", "lead_time_mean")  # paired differences reported for these
CONFIDENCE = 0.95
EVAL_SEED_BASE = 1_000_000_000  # held-out evaluation seeds start here, far from training seeds


def eval_seeds(n: int) -> list[int]:
    """The first `n` held-out evaluation seeds: every policy of a comparison sees these."""
    return [EVAL_SEED_BASE + i for i in range(n)]


@dataclass
class MethodResult:
    """One learned method: `kpis[i]` are the evaluation seeds' KPIs of training seed i."""

    method: str
    label: str
    train_seeds: list[int]
    kpis: list[list[KPIs]]
    params: dict[str, int] = field(default_factory=dict)
    run_ids: list[int] = field(default_factory=list)

    def per_seed(self, attr: str) -> np.ndarray:
        """Each training seed's mean over the evaluation seeds."""
        return np.array([np.mean([getattr(k, attr) for k in seed]) for seed in self.kpis])


@dataclass(frozen=True)
class Difference:
    """`method` minus `against` in one KPI, mean and 95% CI over training seeds."""

    method: str
    against: str
    kpi: str
    mean: float
    low: float
    high: float
    reference: float  # the level of `against`, for percentages
    n: int

    def pct(self, value: float) -> float:
        return 100.0 * value / self.reference if self.reference else math.nan

    @property
    def detected(self) -> bool:
        return self.n > 1 and not (self.low <= 0.0 <= self.high)


def _interval(result) -> tuple[float, float]:
    ci = result.confidence_interval(CONFIDENCE)
    return float(ci.low), float(ci.high)


def paired(a: MethodResult, b: MethodResult, attr: str) -> Difference:
    """Training seed i of `a` against training seed i of `b` (same evaluation seeds)."""
    x, y = a.per_seed(attr), b.per_seed(attr)
    n = min(len(x), len(y))
    x, y = x[:n], y[:n]
    low, high = _interval(sps.ttest_rel(x, y)) if n > 1 else (math.nan, math.nan)
    return Difference(a.method, b.method, attr, float(np.mean(x - y)), low, high,
                      float(np.mean(y)), n)  # fmt: skip


def against_fixed(a: MethodResult, name: str, fixed: list[KPIs], attr: str) -> Difference:
    """Every training seed of `a` against one fixed policy on the same evaluation seeds."""
    ref = float(np.mean([getattr(k, attr) for k in fixed]))
    d = a.per_seed(attr) - ref
    low, high = _interval(sps.ttest_1samp(d, 0.0)) if len(d) > 1 else (math.nan, math.nan)
    return Difference(a.method, name, attr, float(np.mean(d)), low, high, ref, len(d))


def verdict(d: Difference, label: str, against_label: str) -> str:
    """One line in plain words on a throughput difference."""
    head = f"{label} vs {against_label}: {d.pct(d.mean):+.1f}% throughput"
    if d.n < 2:
        return f"{head} (one training seed: no interval, no verdict)"
    ci = f"95% CI [{d.pct(d.low):+.1f}, {d.pct(d.high):+.1f}]% over {d.n} training seeds"
    if not d.detected:
        return f"{head}, {ci}: no difference detectable: the interval spans 0"
    if d.method == "lorasa" and d.against == "ps":
        found = "adapters pay on this line" if d.mean > 0 else "adapters cost throughput here"
    else:
        found = f"{label} is {'better' if d.mean > 0 else 'worse'} on this line"
    return f"{head}, {ci}: {found}"


@dataclass
class Comparison:
    """Everything `compare` prints, charts and writes as JSON."""

    scenario: str
    steps: int
    eval_seeds: list[int]
    heuristic: str  # the best heuristic's name
    heuristic_kpis: list[KPIs]
    methods: list[MethodResult]
    curves: dict[str, list[list[tuple[int, float]]]] = field(default_factory=dict)
    optimum: LineOptimum | None = None  # the line's exact optimum, where it is solvable

    def method(self, name: str) -> MethodResult | None:
        return next((m for m in self.methods if m.method == name), None)

    def differences(self) -> list[Difference]:
        """Each learned method against PS (when PS ran) and against the best heuristic;
        LoRASA also against PS+ID, the baseline of the LoRASA paper (a shared policy that
        knows the station), which adapters should at least match."""
        out = []
        ps, ps_id = self.method("ps"), self.method("ps-id")
        for m in self.methods:
            for attr in DIFF_KPIS:
                if ps is not None and m is not ps:
                    out.append(paired(m, ps, attr))
                if ps_id is not None and m.method == "lorasa":
                    out.append(paired(m, ps_id, attr))
                out.append(against_fixed(m, self.heuristic, self.heuristic_kpis, attr))
        return out


def steps_to_reach(curve: list[tuple[int, float]], share: float = 0.95) -> int | None:
    """Sample efficiency: the env steps at which a learning curve first reaches `share` of its
    final greedy throughput (None for an empty curve)."""
    if not curve:
        return None
    target = share * curve[-1][1]
    return next(steps for steps, throughput in curve if throughput >= target)


ACTION_MIX = ("wait", "normal", "fast", "pm")  # what a station decided, as counted by the sim


@dataclass(frozen=True)
class StationBehaviour:
    """What one method's stations did, pooled over its training and evaluation seeds."""

    station: str
    fast_share: float  # parts run fast / parts processed
    pm_per_1000_min: float
    setups_per_good_part: float
    waiting_share: float  # time the policy chose to wait although parts were there
    utilisation: float
    mix: tuple[float, ...]  # shares of ACTION_MIX among the station's decisions


def _share(part: float, whole: float) -> float:
    return part / whole if whole else 0.0


def station_behaviour(m: MethodResult) -> list[StationBehaviour]:
    """Per station: the behaviour a planner can read off (fast mode, PM, setups, waiting)."""
    runs = [k for seed in m.kpis for k in seed]
    out = []
    for i, name in enumerate(s.name for s in runs[0].stations):
        st = [k.stations[i] for k in runs]
        processed = sum(s.processed for s in st)
        fast = sum(s.fast for s in st)
        counts = [sum(s.waits for s in st), processed - fast, fast, sum(s.pms for s in st)]
        minutes = sum(k.sim_minutes for k in runs)
        good = sum(s.processed - s.scrapped for s in st)
        out.append(StationBehaviour(
            name,
            _share(fast, processed),
            1000.0 * _share(sum(s.pms for s in st), minutes),
            _share(sum(s.setups for s in st), good),
            float(np.mean([s.state_fractions["idle"] for s in st])),
            float(np.mean([s.utilisation for s in st])),
            tuple(_share(c, sum(counts)) for c in counts),
        ))  # fmt: skip
    return out


def total_variation(a: StationBehaviour, b: StationBehaviour) -> float:
    """Distance between two stations' decision mixes: half the L1 distance, in [0, 1]."""
    return 0.5 * sum(abs(x - y) for x, y in zip(a.mix, b.mix, strict=True))
