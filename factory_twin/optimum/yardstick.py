"""The use case behind `factory-twin optimum`: solve a Markovian line exactly and hold the
fixed policies against it; and `line_optimum`, the two optima alone, solved once per scenario
content in a process, for the "% of optimum" of `run` and `compare`.

Two optima are reported: the policy of maximal team reward (the scenario's `costs`, the
reward the learned stations share) and, separately, the policy of maximal good throughput
(the most any policy the environment allows can deliver). Then the all-normal and all-fast
policies and every heuristic the chain can express, each as a share of both.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

from factory_twin.errors import NotMarkovianError, StateSpaceTooLargeError
from factory_twin.optimum.chain import MAX_STATES, build_chain
from factory_twin.optimum.markovian import markovian_model
from factory_twin.optimum.policies import expressible, named_policies
from factory_twin.optimum.solve import fixed, optimise
from factory_twin.optimum.structure import habits, sentences
from factory_twin.optimum.value import LineOptimum
from factory_twin.policy.heuristics import conwip_limit, with_conwip
from factory_twin.scenario import Scenario, order_rate

PER_HOUR = 60.0
_SOLVED: dict[str, LineOptimum | None] = {}  # scenario content hash -> its optimum


@dataclass
class PolicyValue:
    name: str
    throughput: float  # good parts per hour
    reward: float  # team reward per hour
    scrap: float  # scrapped parts per hour
    states: int
    throughput_pct: float = 100.0  # of the maximal throughput
    reward_pct: float = 100.0  # of the maximal team reward (meaningful when it is positive)
    note: str = ""


@dataclass
class OptimumReport:
    line: str
    states: int  # of the chain with every action allowed
    iterations: int  # policy iterations for the team-reward optimum
    seconds: float  # building the chain and solving both optima
    best_reward: PolicyValue
    best_throughput: PolicyValue
    policies: list[PolicyValue]
    structure: list[str]  # plain words about the reward-optimal policy
    habits: list[dict] = field(default_factory=list)
    not_valued: list[str] = field(default_factory=list)  # heuristics the chain cannot express

    def to_json(self) -> dict:
        return asdict(self)


def optimum_report(
    scenario: Scenario, file: str = "<scenario>", max_states: int | None = None
) -> OptimumReport:
    """Solve the line; NotMarkovianError or StateSpaceTooLargeError when it cannot be.
    `max_states` defaults to the chain's MAX_STATES."""
    max_states = MAX_STATES if max_states is None else max_states
    model = markovian_model(scenario, file)
    start = time.perf_counter()
    chain = build_chain(model, max_states=max_states)
    reward_opt = optimise(chain, objective=0)
    throughput_opt = optimise(chain, objective=1)
    seconds = time.perf_counter() - start
    best_reward = _value("optimal (team reward)", reward_opt.gains, chain.n_states)
    best_throughput = _value("optimal (throughput)", throughput_opt.gains, chain.n_states)
    names = [n for n in named_policies(1) if expressible(n, scenario)]
    policies = [_fixed(scenario, file, name, max_states) for name in names]
    for v in [best_reward, best_throughput, *policies]:
        v.throughput_pct = _pct(v.throughput, best_throughput.throughput)
        v.reward_pct = _pct(v.reward, best_reward.reward)
    found = habits(model, chain, reward_opt.choice, reward_opt.visits)
    return OptimumReport(
        line=scenario.name,
        states=chain.n_states,
        iterations=reward_opt.iterations,
        seconds=seconds,
        best_reward=best_reward,
        best_throughput=best_throughput,
        policies=policies,
        structure=sentences(model, found),
        habits=[h.to_json() for h in found],
        not_valued=[n for n in named_policies(1) if n not in names],
    )


def line_optimum(scenario: Scenario) -> LineOptimum | None:
    """The line's optima (throughput and team reward), or None when it cannot be solved (not
    Markovian, or too many states). Solved once per scenario content in this process: small
    lines take seconds, and a line that is not Markovian is refused at once."""
    key = scenario.content_hash()
    if key not in _SOLVED:
        try:
            chain = build_chain(markovian_model(scenario))
        except (NotMarkovianError, StateSpaceTooLargeError):
            _SOLVED[key] = None
        else:
            reward, throughput = optimise(chain, objective=0), optimise(chain, objective=1)
            _SOLVED[key] = LineOptimum(
                float(throughput.gains[1]), float(reward.gains[0]), chain.n_states, scenario.costs
            )
    return _SOLVED[key]


def _fixed(scenario: Scenario, file: str, name: str, max_states: int) -> PolicyValue:
    named = named_policies(len(scenario.products))[name]
    note = ""
    if named.conwip:
        cap = conwip_limit(scenario)
        scenario = with_conwip(scenario)
        note = (
            f"CONWIP release (limit {cap}): a different line"
            if order_rate(scenario.source) is None
            else f"orders admitted under a CONWIP cap of {cap}, the rest lost: not a "
            "decision the optimum has"
        )
    model = markovian_model(scenario, file)
    chain = build_chain(model, named.policy, named.ordered, named.track_last, max_states)
    value = _value(name, fixed(chain).gains, chain.n_states)
    value.note = note
    return value


def _value(name: str, gains, states: int) -> PolicyValue:
    return PolicyValue(
        name=name,
        throughput=float(gains[1]) * PER_HOUR,
        reward=float(gains[0]) * PER_HOUR,
        scrap=float(gains[2]) * PER_HOUR,
        states=states,
    )


def _pct(value: float, best: float) -> float:
    return 100.0 * value / best if best > 0 else float("nan")
