"""The numbers of a Markovian line, read once from its scenario: what the chain is built from.

Times are minutes, rates are per minute. A station's time to failure is Erlang with `phases`
phases (1 = exponential, 0 = the station never fails), counted in wear-age: while a machine
works, each phase ends at rate `phase_rate` x the mode's wear factor; idle, blocked and down
machines do not age.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModeModel:
    """One speed mode of a station: normal, or the scenario's fast mode."""

    time_factor: float
    wear_factor: float
    scrap_prob: float


@dataclass(frozen=True)
class StationModel:
    name: str
    machines: int
    capacity: int  # waiting places of the input buffer (parts on machines are not counted)
    process_rate: tuple[float, ...]  # per product, at normal speed
    modes: tuple[ModeModel, ...]  # index 0 normal, 1 fast (when the station has a fast mode)
    phases: int
    phase_rate: float
    repair_rate: float

    @property
    def has_fast(self) -> bool:
        return len(self.modes) > 1


@dataclass(frozen=True)
class LineModel:
    products: tuple[str, ...]
    mix: tuple[float, ...]
    source: str  # "saturated", "poisson" or "conwip"
    arrival_rate: float  # poisson only
    wip_limit: int  # conwip only
    stations: tuple[StationModel, ...]
    wait_time: float  # the scenario's hold; used only when nothing else can happen
    good_unit: float
    scrap_cost: float
    wip_cost: float  # per part and minute
