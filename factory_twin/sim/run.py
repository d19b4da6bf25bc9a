"""One-call simulation of a scenario under a decider: what the CLI, tests and benchmarks use."""

from __future__ import annotations

from factory_twin.scenario import Scenario
from factory_twin.sim.kpi import KPIs, collect
from factory_twin.sim.line import Decider, Line


def simulate(scenario: Scenario, seed: int, decider: Decider) -> KPIs:
    """Run the scenario's whole horizon with every station using `decider`."""
    line = Line(scenario, seed, decider)
    line.run()
    return collect(line)
