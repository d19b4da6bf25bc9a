"""The numbers of a Markovian line, read once from its scenario: what the chain is built from.

Times are minutes, rates are per minute. A station's time to failure is Erlang with `phases`
phases (1 = exponential, 0 = the station never fails), counted in wear-age: while a machine
works, each phase ends at rate `phase_rate` x the mode's wear factor; idle, blocked, down,
changing-over and maintained machines do not age. Changeovers and preventive maintenance are
Erlang too (`Stages`; exponential is one stage), as the simulator draws them.
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
class Stages:
    """An Erlang duration: `count` stages, each ending at `rate` (exponential: one stage)."""

    count: int
    rate: float


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
    # setup[a][b]: the changeover from product a to b, None where it takes no time
    setup: tuple[tuple[Stages | None, ...], ...] = ()
    pm: Stages | None = None  # preventive maintenance, when the station may do it
    pm_resets: bool = True  # PM renews the wear-age (back to the first phase)

    @property
    def has_fast(self) -> bool:
        return len(self.modes) > 1

    @property
    def has_setups(self) -> bool:
        return any(s is not None for row in self.setup for s in row)


@dataclass(frozen=True)
class LineModel:
    products: tuple[str, ...]
    mix: tuple[float, ...]
    source: str  # "saturated", "poisson" (orders) or "conwip" (released when a part leaves)
    arrival_rate: float  # poisson only
    wip_limit: int  # conwip, or poisson orders admitted under a CONWIP cap; 0: no cap
    stations: tuple[StationModel, ...]
    wait_time: float  # the scenario's hold; used only when nothing else can happen
    good_unit: float
    scrap_cost: float
    wip_cost: float  # per part and minute
    pm_cost: float = 0.0  # per preventive maintenance

    @property
    def has_setups(self) -> bool:
        """Then the chain must hold each machine's last product: the dynamics read it."""
        return any(st.has_setups for st in self.stations)
