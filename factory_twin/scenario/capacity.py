"""What a line can do at best: each station's rate and the line's throughput bound, from the
scenario alone (no simulation). The `bound_pct` KPI, `validate` and the loader's last check use it.

Breakdowns here are operation-dependent (time to failure counts working time), so a station with
mean time to failure MTTF and mean time to repair MTTR keeps a fraction MTTF/(MTTF+MTTR) of its
nominal capacity: that is the availability-adjusted bound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from factory_twin.scenario.model import PoissonSource, Scenario, Station

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


def availability_adjusted_bound(scenario: Scenario, fast: bool = False) -> LineBound:
    """Upper bound on good throughput: every station at its availability-adjusted capacity,
    scaled by the yield of the stations after it (scrap removes parts), capped by arrivals.

    Setups and PM are left out, so the bound is optimistic for lines with changeovers. With
    `fast=True`, stations with a fast mode are credited with its shorter time (and its scrap).
    """
    stations = scenario.stations
    per_station = []
    for i, st in enumerate(stations):
        cap = nominal_rate(st, scenario) * availability(st)
        mode = st.speed_modes.fast if fast else None
        if mode is not None:
            cap /= mode.time_factor
        yield_after = math.prod(1.0 - _scrap(later, fast) for later in stations[i:])
        per_station.append(cap * yield_after)
    best = min(range(len(stations)), key=lambda i: per_station[i])
    rate, bottleneck = per_station[best], best
    if isinstance(scenario.source, PoissonSource):
        total_yield = math.prod(1.0 - st.scrap_prob for st in stations)
        if scenario.source.rate * total_yield < rate:
            rate, bottleneck = scenario.source.rate * total_yield, -1
    return LineBound(rate, bottleneck, per_station)


def _scrap(station: Station, fast: bool) -> float:
    mode = station.speed_modes.fast
    return mode.scrap_prob if fast and mode is not None else station.scrap_prob
