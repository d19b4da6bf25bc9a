"""Rule-based station policies: the baselines a learned policy has to beat.

A policy here is a decider `f(station, machine) -> action code` (see `sim.actions`); the
simulator calls it synchronously at each decision point. CONWIP is a release rule rather than a
dispatching rule, so it is expressed as a change of the scenario's source (`with_conwip`) plus
FIFO dispatching. `policy.registry` names the heuristics and says how each one is built.
"""

from __future__ import annotations

from factory_twin.scenario import ConwipSource, Scenario, Station, order_rate
from factory_twin.sim import actions
from factory_twin.sim.line import Decider, Machine, StationSim


def fifo(station: StationSim, machine: Machine) -> int:
    """Process the part that has waited longest, at normal speed."""
    return actions.process(station.buffer.oldest_product())


def min_setup(station: StationSim, machine: Machine) -> int:
    """Stay on the product the machine is set up for while any is waiting; else FIFO."""
    last = machine.last_product
    if last >= 0 and station.buffer.queues[last]:
        return actions.process(last)
    return fifo(station, machine)


def pm_threshold_age(spec: Station) -> float | None:
    """Age (wear minutes) at which PM-threshold acts: the scenario's `pm.threshold`, else half
    the mean time to failure (a common rule of thumb for wear-out failures)."""
    if spec.pm is None:
        return None
    if spec.pm.threshold is not None:
        return spec.pm.threshold
    if spec.failure is not None:
        return 0.5 * spec.failure.ttf.mean
    return None


def pm_threshold(station: StationSim, machine: Machine) -> int:
    """Preventive maintenance once the machine's age passes its threshold; min-setup otherwise."""
    limit = pm_threshold_age(station.spec)
    if limit is not None and machine.age >= limit:
        return actions.pm(station.line.n_products)
    return min_setup(station, machine)


def hurried(decider: Decider) -> Decider:
    """`decider`'s choice, run in fast mode wherever the station has one: with
    `Line(..., deciders={i: hurried(fifo)})` a planner (or a test) measures what rushing one
    station costs or gains, the figures the scenario headers quote for their hidden quirks."""

    def decide(station: StationSim, machine: Machine) -> int:
        action = decider(station, machine)
        kind, product, _ = actions.decode(action, station.line.n_products)
        if kind != "process" or station.spec.speed_modes.fast is None:
            return action
        return actions.process(product, fast=True)

    return decide


def conwip_limit(scenario: Scenario) -> int:
    """Default CONWIP cap: two parts per machine on the line, enough to keep the bottleneck fed
    while keeping WIP far below an uncapped saturated line."""
    return 2 * sum(st.machines for st in scenario.stations)


def with_conwip(scenario: Scenario, limit: int | None = None) -> Scenario:
    """The same line released under CONWIP (a new part enters only when one leaves); a
    Poisson line keeps its orders, admitted only under the cap (demand is not invented)."""
    cap = limit if limit is not None else conwip_limit(scenario)
    rate = order_rate(scenario.source)
    return scenario.model_copy(update={"source": ConwipSource(kind="conwip", limit=cap, rate=rate)})
