"""Closed-form references: what the line can do at best, and exact queueing results used to
validate the simulator.

Breakdowns here are operation-dependent (time to failure counts working time), so a station with
mean time to failure MTTF and mean time to repair MTTR keeps a fraction MTTF/(MTTF+MTTR) of its
nominal capacity: that is the availability-adjusted bound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from factory_twin.scenario import PoissonSource, Scenario, Station, dist_mean


def mean_process_time(station: Station, scenario: Scenario) -> float:
    """Mix-weighted mean process time at normal speed (minutes per part, one machine)."""
    return sum(p.mix * dist_mean(station.process_for(p.name)) for p in scenario.products)


def availability(station: Station) -> float:
    if station.failure is None:
        return 1.0
    mttf, mttr = dist_mean(station.failure.ttf), dist_mean(station.failure.ttr)
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


# --- exact queueing results ----------------------------------------------------------------


@dataclass(frozen=True)
class QueueResult:
    L: float  # mean number in system
    W: float  # mean time in system
    Lq: float  # mean number waiting
    Wq: float  # mean waiting time


def mmc(lam: float, mu: float, c: int = 1) -> QueueResult:
    """M/M/c queue (Erlang C). Requires lam < c * mu."""
    rho = lam / (c * mu)
    if rho >= 1:
        raise ValueError(f"unstable queue: utilisation {rho:.3f} >= 1")
    a = lam / mu
    head = sum(a**k / math.factorial(k) for k in range(c))
    tail = a**c / (math.factorial(c) * (1 - rho))
    p_wait = tail / (head + tail)
    wq = p_wait / (c * mu - lam)
    w = wq + 1 / mu
    return QueueResult(L=lam * w, W=w, Lq=lam * wq, Wq=wq)


def mm1(lam: float, mu: float) -> QueueResult:
    return mmc(lam, mu, 1)


def jackson_tandem(lam: float, stations: list[tuple[float, int]]) -> QueueResult:
    """Tandem of M/M/c stations with infinite buffers and Poisson(lam) arrivals: by Jackson's
    theorem each station behaves as an independent M/M/c, so the means add up."""
    parts = [mmc(lam, mu, c) for mu, c in stations]
    return QueueResult(
        L=sum(p.L for p in parts),
        W=sum(p.W for p in parts),
        Lq=sum(p.Lq for p in parts),
        Wq=sum(p.Wq for p in parts),
    )


def two_machine_exponential(mu1: float, mu2: float, buffer: int) -> float:
    """Throughput of a saturated two-machine line, exponential times, `buffer` places between
    them, blocking after service.

    The parts between the machines (in the buffer, on machine 2, and one blocked on machine 1)
    form a birth-death chain on 0..N with N = buffer + 2, births mu1, deaths mu2.
    """
    n = buffer + 2
    if math.isclose(mu1, mu2):
        return mu2 * n / (n + 1)
    rho = mu1 / mu2
    return mu2 * (rho - rho ** (n + 1)) / (1 - rho ** (n + 1))
