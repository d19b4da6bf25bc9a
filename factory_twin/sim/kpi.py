"""KPIs of one simulated run, read off a finished `Line`.

Definitions (all over the measured window after warm-up):
- throughput: good parts leaving the line per minute;
- WIP: time-average number of parts in the line (buffers, machines, blocked parts);
- lead time: release-to-exit time of good parts (mean and 95th percentile);
- state fractions: share of each machine's time busy, setup, pm, down, blocked, starved, idle
  (idle = the policy chose to wait although parts were there); they sum to 1;
- OEE of a station = availability x performance x quality with planned time = window - PM,
  availability = (planned - down - setup) / planned, performance = ideal (fastest-mode) time of
  the parts processed / (planned - down - setup), quality = good / processed. The line's OEE is
  the OEE of its bottleneck station (the one the normal-speed `capacity.nominal_bound` names);
- bound_pct: throughput as a percentage of `capacity.throughput_bound`, the most any policy can
  deliver in the long run (a run can exceed it only by chance: arrivals and breakdowns are
  random).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from factory_twin.scenario import Costs
from factory_twin.scenario.capacity import nominal_bound, throughput_bound
from factory_twin.sim.line import STATES, Line


@dataclass
class StationKPI:
    name: str
    state_fractions: dict[str, float]
    utilisation: float
    oee: float
    processed: int
    scrapped: int
    setups: int
    pms: int
    failures: int
    fast: int = 0  # parts processed in fast mode
    waits: int = 0  # wait decisions taken while parts were waiting


@dataclass
class KPIs:
    throughput: float
    wip: float
    lead_time_mean: float
    lead_time_p95: float
    oee: float
    scrap_rate: float
    utilisation: float
    bound_pct: float
    good_parts: int
    scrapped_parts: int
    sim_minutes: float
    departure_rate: float  # every part leaving (good or scrap), for Little's law
    sojourn_mean: float  # mean time in system of every part leaving
    lost: int = 0
    stations: list[StationKPI] = field(default_factory=list)

    def summary(self) -> dict[str, float]:
        """The scalar KPIs stored per episode in the log."""
        d = asdict(self)
        d.pop("stations")
        return d


def team_reward(k: KPIs, costs: Costs) -> float:
    """The environment's team reward per minute of the measured window: good parts, scrap,
    preventive maintenance and WIP time at the scenario's costs."""
    pms = sum(s.pms for s in k.stations)
    return (
        costs.good_unit * k.throughput
        - costs.scrap * k.scrapped_parts / k.sim_minutes
        - costs.pm * pms / k.sim_minutes
        - costs.wip_per_minute * k.wip
    )


def _station_kpi(st, window: float) -> StationKPI:
    n = len(st.machines)
    totals = [sum(m.time_in[s] for m in st.machines) for s in range(len(STATES))]
    all_time = window * n
    fractions = {name: (totals[i] / all_time if all_time > 0 else 0.0) for i, name in
                 enumerate(STATES)}  # fmt: skip
    planned = all_time - totals[STATES.index("pm")]
    running = planned - totals[STATES.index("down")] - totals[STATES.index("setup")]
    s = st.stats
    good = s.processed - s.scrapped
    availability = running / planned if planned > 0 else 0.0
    performance = s.ideal_time / running if running > 0 else 0.0
    quality = good / s.processed if s.processed else 0.0
    return StationKPI(
        name=st.name,
        state_fractions=fractions,
        utilisation=fractions["busy"],
        oee=availability * performance * quality,
        processed=s.processed,
        scrapped=s.scrapped,
        setups=s.setups,
        pms=s.pms,
        failures=s.failures,
        fast=s.fast,
        waits=s.waits,
    )


def collect(line: Line) -> KPIs:
    """KPIs of the window [warm-up, now]; flushes the line's time accounting first."""
    line.flush()
    window = line.now - line.warmup
    if window <= 0:
        raise ValueError("the run has not passed its warm-up period; no KPIs to report")
    t = line.totals
    stations = [_station_kpi(st, window) for st in line.stations]
    lead = np.asarray(t.lead_times) if t.lead_times else np.zeros(1)
    nominal = nominal_bound(line.scenario)
    throughput = t.good / window
    neck = nominal.bottleneck if nominal.bottleneck >= 0 else 0
    processed = sum(s.processed for s in stations)
    return KPIs(
        throughput=throughput,
        wip=t.wip_area / window,
        lead_time_mean=float(lead.mean()) if t.lead_times else float("nan"),
        lead_time_p95=float(np.percentile(lead, 95)) if t.lead_times else float("nan"),
        oee=stations[neck].oee,
        scrap_rate=(sum(s.scrapped for s in stations) / processed) if processed else 0.0,
        utilisation=float(np.mean([s.utilisation for s in stations])),
        bound_pct=100.0 * throughput / throughput_bound(line.scenario).rate,
        good_parts=t.good,
        scrapped_parts=t.scrapped,
        sim_minutes=window,
        departure_rate=t.departures / window,
        sojourn_mean=t.sojourns_all / t.departures if t.departures else float("nan"),
        lost=t.lost,
        stations=stations,
    )
