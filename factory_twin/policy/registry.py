"""Every policy by name: the one table the CLI, sweeps, training, evaluation and the viewer read.

A name is a heuristic (a decider from `heuristics`, run on the scenario as given or, for CONWIP,
on the scenario re-released under a WIP cap) or a learned method (the actor kind the trainer
builds for it, and the label tables and charts show). Aliases are the planner's words:
`shared` and `adapted` for the stored PS and LoRASA policies, `heuristic` for the viewer's
default rule. The table is data only - no torch, no trainer - so the simulation-only commands
and the viewer can check names without loading any learning code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from factory_twin.errors import UnknownPolicyError
from factory_twin.policy.heuristics import fifo, min_setup, pm_threshold, with_conwip
from factory_twin.scenario import Scenario
from factory_twin.sim.line import Decider

Kind = Literal["heuristic", "learned"]


@dataclass(frozen=True)
class PolicySpec:
    """One policy. Heuristics carry `decider` (and `release` when they change how parts enter
    the line); learned methods carry `actor_kind` (an `ActorConfig.kind`)."""

    name: str
    kind: Kind
    label: str
    decider: Decider | None = None
    release: Callable[[Scenario], Scenario] | None = None
    actor_kind: str | None = None


POLICIES: tuple[PolicySpec, ...] = (
    PolicySpec("fifo", "heuristic", "fifo", decider=fifo),
    PolicySpec("min-setup", "heuristic", "min-setup", decider=min_setup),
    PolicySpec("pm-threshold", "heuristic", "pm-threshold", decider=pm_threshold),
    # a release rule, not a dispatching rule: the capped line dispatches FIFO
    PolicySpec("conwip", "heuristic", "conwip", decider=fifo, release=with_conwip),
    PolicySpec("ps", "learned", "shared (PS)", actor_kind="shared"),
    PolicySpec("ps-id", "learned", "shared + station id", actor_kind="shared-id"),
    PolicySpec("nps", "learned", "separate networks (NPS)", actor_kind="separate"),
    PolicySpec("lorasa", "learned", "LoRASA (shared + adapters)", actor_kind="lora"),
)
ALIASES: dict[str, str] = {"shared": "ps", "adapted": "lorasa", "heuristic": "pm-threshold"}

_BY_NAME = {p.name: p for p in POLICIES}
HEURISTICS: tuple[str, ...] = tuple(p.name for p in POLICIES if p.kind == "heuristic")
METHODS: tuple[str, ...] = tuple(p.name for p in POLICIES if p.kind == "learned")


def names(kind: Kind | None = None) -> tuple[str, ...]:
    """Every name a planner may type (policies first, then aliases), optionally of one kind."""
    accepted = (*_BY_NAME, *ALIASES)
    return tuple(n for n in accepted if kind is None or _BY_NAME[ALIASES.get(n, n)].kind == kind)


def resolve(name: str, kind: Kind | None = None) -> PolicySpec:
    """The policy a name or alias stands for; with `kind`, only a policy of that kind."""
    spec = _BY_NAME.get(ALIASES.get(name, name))
    if spec is None or (kind is not None and spec.kind != kind):
        what = {None: "policy", "heuristic": "heuristic", "learned": "learned policy"}[kind]
        raise UnknownPolicyError(name, names(kind), what)
    return spec


def training_method(name: str) -> PolicySpec:
    """A learned method by its own name, as a training run's config stores it (no aliases)."""
    if name not in METHODS:
        raise UnknownPolicyError(name, METHODS, what="method")
    return _BY_NAME[name]


def label(name: str) -> str:
    """What tables, charts and progress bars call the policy."""
    return resolve(name).label


def heuristic(name: str, scenario: Scenario) -> tuple[Scenario, Decider]:
    """The scenario as the heuristic runs it (re-released for CONWIP) and its decider."""
    spec = resolve(name, "heuristic")
    released = scenario if spec.release is None else spec.release(scenario)
    return released, spec.decider
