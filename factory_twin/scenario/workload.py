"""How much work a scenario asks of the simulator, estimated before anything runs.

A scenario can be valid and still take days: a horizon of 1e9 minutes, or Poisson arrivals
far above what the line can process (the queue before the bottleneck then grows without
limit, and every queued part costs memory and time). The loader warns about both, with one
line naming the field, instead of refusing: a planner may mean it.

The estimate counts simulation events: an arrival per part released, and a start and a
finish per part at each station, over warm-up plus length. ``EVENTS_PER_SECOND`` is the
simulator's rough speed with a heuristic deciding (measured on the shipped lines, order of
magnitude only); a replication estimated above ``SLOW_RUN_S`` seconds is warned about.
"""

from __future__ import annotations

import math

from factory_twin.scenario.capacity import nominal_bound
from factory_twin.scenario.model import PoissonSource, Scenario

__all__ = ["EVENTS_PER_SECOND", "SLOW_RUN_S", "estimated_seconds", "workload_warnings"]

EVENTS_PER_SECOND = 20_000.0
SLOW_RUN_S = 3600.0


def _station_capacity(scenario: Scenario) -> tuple[float, int]:
    """(parts per minute the stations can deliver at best, index of the bottleneck)."""
    per_station = nominal_bound(scenario).per_station
    best = min(range(len(per_station)), key=per_station.__getitem__)
    return per_station[best], best


def _arrival_rate(scenario: Scenario) -> float:
    """Parts released per minute: the Poisson rate, else what the stations can take."""
    if isinstance(scenario.source, PoissonSource):
        return scenario.source.rate
    good = nominal_bound(scenario).rate
    return good / math.prod(1.0 - st.scrap_prob for st in scenario.stations)


def estimated_seconds(scenario: Scenario) -> float:
    """Rough wall-clock seconds of one replication (module doc)."""
    minutes = scenario.horizon.warmup + scenario.horizon.length
    released = _arrival_rate(scenario)
    processed = min(released, _station_capacity(scenario)[0])
    events = minutes * (released + 2 * len(scenario.stations) * processed)
    return events / EVENTS_PER_SECOND


def _overload(scenario: Scenario) -> str | None:
    """A warning when Poisson arrivals exceed the stations' capacity and an infinite buffer
    up to the bottleneck lets the queue grow without limit."""
    if not isinstance(scenario.source, PoissonSource):
        return None
    capacity, neck = _station_capacity(scenario)
    arriving = scenario.source.rate * math.prod(1.0 - st.scrap_prob for st in scenario.stations)
    unbounded = any(st.buffer is None for st in scenario.stations[: neck + 1])
    if arriving <= capacity or not unbounded:
        return None
    return (
        f"{scenario.source.rate:.3g} parts/min arrive, {arriving / capacity:.3g} times what the "
        f"line can process ({capacity:.3g} good parts/min at "
        f"{scenario.stations[neck].name!r}); the queue grows without limit"
    )


def workload_warnings(scenario: Scenario) -> list[tuple[str, str]]:
    """(field path, message) for each reason this scenario would run unreasonably long."""
    found = []
    overload = _overload(scenario)
    if overload is not None:
        found.append(("source.rate", overload))
    seconds = estimated_seconds(scenario)
    if seconds > SLOW_RUN_S:
        found.append((
            "horizon",
            f"warm-up + length of {scenario.horizon.warmup + scenario.horizon.length:.3g} min "
            f"make about {seconds / 3600:.3g} hours of simulation per replication",
        ))  # fmt: skip
    return found
