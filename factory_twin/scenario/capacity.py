"""What a line can do at best, from the scenario alone (no simulation): the one home of the
line's two capacity figures.

- `throughput_bound`: an upper bound on the long-run good throughput of *any* policy the
  environment allows (the `bound_pct` KPI, "% of bound"). Per station, its machines at the
  speed mode that yields the most good parts per machine-minute, breakdowns included, with
  the most favourable product mix the policies upstream could steer to it, times the best
  yield of the stations after it; capped by the arrival rate for a Poisson source.
- `nominal_bound`: the planner's normal-speed figure (`validate`, the OEE's bottleneck, the
  loader's last check): each station's nominal rate times its availability, reduced by
  downstream scrap. Fast mode or maintenance can beat it, so it is no bound for a policy.

Breakdowns are operation-dependent (time to failure counts wear-age, which grows `wear_factor`
times faster in fast mode), so failures come at a long-run rate of one per MTTF wear-minutes
whatever the policy does, and each working minute in a mode with wear factor w costs
w x MTTR/MTTF minutes of repair on average. Preventive maintenance that renews the age can
avoid breakdowns when the time to failure is not exponential; since PM's own time is left
out, such a station is credited with no breakdowns. Setups and PM only take time, so the bound
leaves them out.

Why the product mix: in the long run every part released is processed at a station with a
finite buffer, so a station sees the released mix, except that stations upstream may scrap one
product more than another (at most their largest scrap probability) and a station may run one
product fast and another at normal speed. Behind an unlimited buffer a policy could leave one
product waiting for ever, so there the fastest product alone counts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from factory_twin.scenario.model import PoissonSource, Scenario, SpeedMode, Station

MIN_BOUND = 1e-100  # parts per minute: below this the line delivers (almost) nothing


def mean_process_time(station: Station, scenario: Scenario) -> float:
    """Mix-weighted mean process time at normal speed (minutes per part, one machine)."""
    return sum(p.mix * station.process_for(p.name).mean for p in scenario.products)


def availability(station: Station) -> float:
    """Share of working time the station is not broken down: MTTF / (MTTF + MTTR)."""
    if station.failure is None:
        return 1.0
    mttf, mttr = station.failure.ttf.mean, station.failure.ttr.mean
    return mttf / (mttf + mttr)


def nominal_rate(station: Station, scenario: Scenario) -> float:
    """Parts per minute the station's machines can start, ignoring breakdowns and setups."""
    t = mean_process_time(station, scenario)
    return math.inf if t == 0 else station.machines / t


@dataclass(frozen=True)
class LineBound:
    rate: float  # good parts per minute at best
    bottleneck: int  # index of the limiting station, -1 when the arrival rate limits
    per_station: list[float]  # good-output rate each station alone would allow


def nominal_bound(scenario: Scenario) -> LineBound:
    """Normal speed: every station at its availability-adjusted nominal capacity, scaled by the
    yield of the stations from it on (scrap removes parts), capped by arrivals. Setups and PM
    are left out."""
    stations = scenario.stations
    per_station = []
    for i, st in enumerate(stations):
        yield_on = math.prod(1.0 - later.scrap_prob for later in stations[i:])
        per_station.append(nominal_rate(st, scenario) * availability(st) * yield_on)
    arrivals = None
    if isinstance(scenario.source, PoissonSource):
        arrivals = scenario.source.rate * math.prod(1.0 - st.scrap_prob for st in stations)
    return _limit(per_station, arrivals)


def throughput_bound(scenario: Scenario) -> LineBound:
    """The most good parts per minute any policy can deliver in the long run (see the module
    docstring for why each term bounds)."""
    stations = scenario.stations
    best_yield = [1.0 - min(m.scrap_prob for m in _modes(st)) for st in stations]
    per_station = []
    survival, unlimited = 1.0, False  # upstream survival at worst; an unlimited buffer so far
    for i, st in enumerate(stations):
        unlimited = unlimited or st.buffer is None
        ratio = _downtime_ratio(st)
        h = [m.time_factor * (1.0 + m.wear_factor * ratio) for m in _modes(st)]
        good_per_minute = max((1.0 - m.scrap_prob) / x for m, x in zip(_modes(st), h, strict=True))
        low = 0.0 if unlimited else survival * min(h)
        weights = [(p.mix * low, p.mix * max(h)) for p in scenario.products]
        times = [st.process_for(p.name).mean for p in scenario.products]
        t = _least_mean_time(times, weights)
        rate = math.inf if t == 0 else st.machines * good_per_minute / t
        per_station.append(rate * math.prod(best_yield[i + 1 :]))
        survival *= 1.0 - max(m.scrap_prob for m in _modes(st))
    arrivals = None
    if isinstance(scenario.source, PoissonSource):
        arrivals = scenario.source.rate * math.prod(best_yield)
    return _limit(per_station, arrivals)


def _limit(per_station: list[float], arrivals: float | None) -> LineBound:
    best = min(range(len(per_station)), key=lambda i: per_station[i])
    if arrivals is not None and arrivals < per_station[best]:
        return LineBound(arrivals, -1, per_station)
    return LineBound(per_station[best], best, per_station)


def _modes(station: Station) -> list[SpeedMode]:
    normal = SpeedMode(time_factor=1.0, scrap_prob=station.scrap_prob)
    fast = station.speed_modes.fast
    return [normal] if fast is None else [normal, fast]


def _downtime_ratio(station: Station) -> float:
    """Repair minutes per wear-minute in the long run, MTTR/MTTF; 0 where PM renewing a
    non-exponential wear-age could prevent every breakdown (PM's time is left out)."""
    fail = station.failure
    if fail is None:
        return 0.0
    pm = station.pm
    if pm is not None and pm.resets_age and fail.ttf.dist != "exponential":
        return 0.0
    return fail.ttr.mean / fail.ttf.mean


def _least_mean_time(times: list[float], weights: list[tuple[float, float]]) -> float:
    """The smallest weighted mean of `times` with each weight anywhere in its (low, high)
    range: the fastest products at their highest weight, the rest at their lowest, for the
    best split point."""
    order = sorted(range(len(times)), key=lambda k: times[k])
    best = math.inf
    for split in range(1, len(order) + 1):
        w = [weights[k][1] if n < split else weights[k][0] for n, k in enumerate(order)]
        total = math.fsum(w)
        if total > 0:
            best = min(best, math.fsum(x * times[k] for x, k in zip(w, order, strict=True)) / total)
    return best
