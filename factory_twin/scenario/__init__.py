"""Scenarios: what a planner writes in YAML to describe a production line.

- `model`: the pydantic models and the rules a line must satisfy to be simulated;
- `loading`: YAML text or files in, a validated `Scenario` (or one `ScenarioError`) out;
- `capacity`: station rates, the line's normal-speed (nominal) capacity and the throughput
  bound no policy can beat;
- `workload`: how long a replication would run (the loader warns when unreasonably long).

`model` imports nothing from the others, `capacity` only `model`, `workload` those two,
`loading` all three. The names
below are the package's public API: `from factory_twin.scenario import Scenario, load_scenario`.
"""

from factory_twin.scenario.loading import (
    json_schema,
    load_scenario,
    parse_scenario,
    parse_scenario_text,
)
from factory_twin.scenario.model import (
    PM,
    ConwipSource,
    Costs,
    Deterministic,
    Distribution,
    Erlang,
    Exponential,
    Failure,
    Gamma,
    Horizon,
    LogNormal,
    Normal,
    PoissonSource,
    Product,
    SaturatedSource,
    Scenario,
    Setup,
    Source,
    SpeedMode,
    SpeedModes,
    Station,
    Uniform,
    Weibull,
    order_rate,
)

__all__ = [
    "PM",
    "ConwipSource",
    "Costs",
    "Deterministic",
    "Distribution",
    "Erlang",
    "Exponential",
    "Failure",
    "Gamma",
    "Horizon",
    "LogNormal",
    "Normal",
    "PoissonSource",
    "Product",
    "SaturatedSource",
    "Scenario",
    "Setup",
    "Source",
    "SpeedMode",
    "SpeedModes",
    "Station",
    "Uniform",
    "Weibull",
    "json_schema",
    "load_scenario",
    "parse_scenario",
    "parse_scenario_text",
    "order_rate",
]
