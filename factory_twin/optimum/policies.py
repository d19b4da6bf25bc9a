"""Fixed policies written on the chain's state: the all-normal and all-fast yardsticks and
the heuristics of `policy.heuristics` that a Markovian line can express.

Each mirrors its simulator decider decision for decision (the tests check the values against
simulation). FIFO needs the buffers in arrival order and min-setup the product each machine
last worked, so `Named` says which state detail a policy reads; the chain keeps only those.
None of them chooses preventive maintenance.
"""

from __future__ import annotations

from dataclasses import dataclass

from factory_twin.optimum.chain import Policy
from factory_twin.optimum.model import LineModel
from factory_twin.optimum.state import Machine
from factory_twin.policy.heuristics import pm_threshold_age
from factory_twin.scenario import Scenario
from factory_twin.sim import actions


def all_normal(model: LineModel, i: int, buf: tuple[int, ...], machine: Machine) -> int:
    """The oldest waiting part, at normal speed (the `fifo` heuristic)."""
    return actions.process(buf[0])


def all_fast(model: LineModel, i: int, buf: tuple[int, ...], machine: Machine) -> int:
    """The oldest waiting part, fast wherever the station has a fast mode."""
    return actions.process(buf[0], fast=model.stations[i].has_fast)


def min_setup(model: LineModel, i: int, buf: tuple[int, ...], machine: Machine) -> int:
    """Stay on the product the machine last worked while any is waiting; else FIFO."""
    last = machine[5]
    if last >= 0 and last in buf:
        return actions.process(last)
    return all_normal(model, i, buf, machine)


@dataclass(frozen=True)
class Named:
    policy: Policy
    ordered: bool  # reads the buffers' arrival order
    track_last: bool  # reads each machine's last product
    conwip: bool = False  # evaluated on the line re-released under CONWIP


def expressible(name: str, scenario: Scenario) -> bool:
    """False for pm-threshold on a line where it maintains: it acts on the wear-age in
    minutes, which the chain does not hold (it holds Erlang wear phases)."""
    if name != "pm-threshold":
        return True
    return all(pm_threshold_age(st) is None for st in scenario.stations)


def named_policies(n_products: int) -> dict[str, Named]:
    """Fixed policies to value, by name. With one product FIFO order and the last product
    carry no information, so the chain is kept small."""
    multi = n_products > 1
    return {
        "all-normal": Named(all_normal, multi, False),
        "all-fast": Named(all_fast, multi, False),
        "fifo": Named(all_normal, multi, False),
        "min-setup": Named(min_setup, multi, multi),
        # min-setup wherever no station has a PM age threshold (`expressible`)
        "pm-threshold": Named(min_setup, multi, multi),
        "conwip": Named(all_normal, multi, False, conwip=True),
    }
