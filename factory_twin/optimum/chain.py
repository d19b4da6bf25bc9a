"""The controlled Markov chain of a line, with the simulator's semantics, as sparse matrices.

It is a semi-Markov decision process over the reachable states (see `state`):

- in a *decision* state a free machine with parts waiting chooses, at once (no time passes),
  one of the actions the environment's mask allows: process a waiting product at normal or
  fast speed, wait (only while its buffer has room), or preventive maintenance (where the
  station has it; its cost is the choice's reward). Machines decide one at a time, in
  station order, each seeing the choices made before it at the same instant;
- in a *tangible* state time passes until the next event: a part finishes (scrapped with the
  mode's probability, else it moves on or blocks its machine), a machine's wear-age moves to
  its next Erlang phase (the last one ends in a breakdown), a repair ends (the part's
  remaining work restarts: exponential times have no memory), a changeover or maintenance
  moves to its next Erlang stage (after the last, the part starts, or the machine is free
  and, if PM renews it, back in its first wear phase), or an order arrives.

Waiting: in the simulator a machine that waits holds for a fixed `wait_time`, which no Markov
chain can represent. Here it holds until the next event anywhere in the line and then decides
again: a policy may start work at any event, which is at least as much choice as the
simulator's fixed hold gives, so the optimum stays an upper bound for every policy the
environment allows. Only when nothing at all can happen does a held machine wake up by
itself, at rate 1/`wait_time`.

Each choice c (one per tangible state, one per allowed action in a decision state) has a
mean duration tau[c] (0 for decisions), expected rewards over it (columns `REWARDS`: team
reward from the scenario's costs, good parts out, scrapped parts) and a row of `P`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from math import comb

import numpy as np
import scipy.sparse as sp

from factory_twin.errors import StateSpaceTooLargeError
from factory_twin.optimum.model import LineModel
from factory_twin.optimum.state import (
    BLOCKED,
    BUSY,
    DOWN,
    FREE,
    MAINT,
    SETUP,
    Machine,
    State,
    admits_order,
    decide,
    empty_line,
    pending,
    settle,
    to_work,
    wip,
)
from factory_twin.sim import actions

MAX_STATES = 50_000
REWARDS = ("team", "good", "scrap")  # columns of Chain.rewards
TANGIBLE = -2  # the action of a tangible state's single choice

# policy(model, station, buffer, machine) -> action code: a fixed (stationary) policy
Policy = Callable[[LineModel, int, tuple[int, ...], Machine], int]


@dataclass
class Chain:
    states: list[State]
    starts: np.ndarray  # first choice of each state (choices of one state are contiguous)
    choice_state: np.ndarray
    choice_action: np.ndarray  # action code; TANGIBLE for a tangible state
    choice_station: np.ndarray  # the deciding station; -1 for tangible states
    tau: np.ndarray
    rewards: np.ndarray  # [choices, len(REWARDS)]
    P: sp.csr_matrix  # [choices, states]

    @property
    def n_states(self) -> int:
        return len(self.states)


def build_chain(
    model: LineModel,
    policy: Policy | None = None,
    ordered: bool = False,
    track_last: bool = False,
    max_states: int = MAX_STATES,
) -> Chain:
    """Enumerate the states reachable from an empty line (under `policy`, or under every
    allowed action when it is None) and the choices in each. With changeovers the machines'
    last products are always kept: the dynamics read them."""
    builder = _Builder(model, policy, ordered, track_last or model.has_setups, max_states)
    return builder.run()


class _Builder:
    def __init__(self, model, policy, ordered, track_last, max_states) -> None:
        self.model, self.policy, self.max_states = model, policy, max_states
        self.ordered, self.track_last = ordered, track_last
        self.index: dict[State, int] = {}
        self.states: list[State] = []
        self.n_cols = len(REWARDS)
        self.c_state: list[int] = []
        self.c_action: list[int] = []
        self.c_station: list[int] = []
        self.tau: list[float] = []
        self.rew: list[list[float]] = []
        self.rows: list[int] = []
        self.cols: list[int] = []
        self.probs: list[float] = []

    def run(self) -> Chain:
        for _, s in settle(self.model, empty_line(self.model), self.ordered):
            self._id(s)
        k = 0
        starts = []
        while k < len(self.states):
            starts.append(len(self.c_state))
            self._expand(k, self.states[k])
            k += 1
        n = len(self.states)
        P = sp.csr_matrix(
            (self.probs, (self.rows, self.cols)), shape=(len(self.c_state), n), dtype=float
        )
        return Chain(
            states=self.states,
            starts=np.asarray(starts, dtype=np.int64),
            choice_state=np.asarray(self.c_state, dtype=np.int64),
            choice_action=np.asarray(self.c_action, dtype=np.int64),
            choice_station=np.asarray(self.c_station, dtype=np.int64),
            tau=np.asarray(self.tau, dtype=float),
            rewards=np.asarray(self.rew, dtype=float).reshape(-1, self.n_cols),
            P=P,
        )

    def _id(self, state: State) -> int:
        i = self.index.get(state)
        if i is None:
            if len(self.states) >= self.max_states:
                raise StateSpaceTooLargeError(
                    f"the line has more than {self.max_states} states (upper estimate "
                    f"{state_estimate(self.model, self.track_last):.3g}), above the limit of "
                    f"{self.max_states}: use fewer buffer places, machines or Erlang phases"
                )
            i = self.index[state] = len(self.states)
            self.states.append(state)
        return i

    def _add(self, s, action, station, tau, rewards, outcomes) -> None:
        c = len(self.c_state)
        self.c_state.append(s)
        self.c_action.append(action)
        self.c_station.append(station)
        self.tau.append(tau)
        self.rew.append(rewards)
        merged: dict[int, float] = {}
        for p, nxt in outcomes:
            j = self._id(nxt)
            merged[j] = merged.get(j, 0.0) + p
        for j, p in merged.items():
            self.rows.append(c)
            self.cols.append(j)
            self.probs.append(p)

    def _expand(self, s: int, state: State) -> None:
        who = pending(self.model, state)
        if who is None:
            self._tangible(s, state)
            return
        i, j = who
        buf, ms = state[i]
        options = (
            [self.policy(self.model, i, buf, ms[j])]
            if self.policy is not None
            else allowed(self.model, i, buf)
        )
        pm = actions.pm(len(self.model.products))
        for a in options:
            rewards = [0.0] * self.n_cols
            if a == pm:
                rewards[0] = -self.model.pm_cost
            self._add(s, a, i, 0.0, rewards, self._decide(state, i, j, a))

    def _decide(self, state: State, i: int, j: int, a: int) -> list[tuple[float, State]]:
        return decide(self.model, state, i, j, a, self.ordered, self.track_last)

    def _tangible(self, s: int, state: State) -> None:
        model = self.model
        events = list(self._events(state))
        total = sum(rate for rate, *_ in events)
        held = any(m[4] for _, ms in state for m in ms)
        if total == 0 and held:
            events = [(1.0 / model.wait_time, 0, 0, _clear_held(state))]
            total = events[0][0]
        if total == 0:
            raise RuntimeError(f"no event can happen in state {state}")
        team = sum(r * (model.good_unit * g - model.scrap_cost * x) for r, g, x, _ in events)
        team -= model.wip_cost * wip(state)
        rewards = [0.0] * self.n_cols
        rewards[0] = team / total
        rewards[1] = sum(r * g for r, g, _, _ in events) / total
        rewards[2] = sum(r * x for r, _, x, _ in events) / total
        outcomes = []
        for rate, _, _, work in events:
            for p, nxt in settle(model, work, self.ordered):
                outcomes.append((rate / total * p, nxt))
        self._add(s, TANGIBLE, -1, 1.0 / total, rewards, outcomes)

    def _events(self, state: State):
        """(rate, good parts out, scrapped parts, work state after) of each event. Events
        clear every held flag: held machines decide again after anything happens."""
        model = self.model
        base = _clear_held(state)
        if model.source == "poisson" and admits_order(model, state):
            for k, q in enumerate(model.mix):
                work = to_work(base)
                work[0][0].append(k)
                yield model.arrival_rate * q, 0, 0, work
        for i, (_, ms) in enumerate(base):
            for j, m in enumerate(ms):
                if j > 0 and ms[j - 1] == m:
                    continue  # the same events as the identical machine before it
                same = sum(x == m for x in ms)
                if m[0] == BUSY:
                    yield from self._busy_events(base, i, j, same)
                elif m[0] == DOWN:
                    fixed = (BUSY, m[1], m[2], 0, 0, m[5], 0)
                    rate = same * model.stations[i].repair_rate
                    yield rate, 0, 0, _replace(base, i, j, fixed)
                elif m[0] in (SETUP, MAINT):
                    yield self._stage_event(base, i, j, same)

    def _stage_event(self, base: State, i: int, j: int, same: int):
        """A changeover or maintenance (one of `same` identical ones) ends its stage."""
        st = self.model.stations[i]
        status, k, mode, phase, _, last, stage = base[i][1][j]
        stages = st.setup[last][k] if status == SETUP else st.pm
        if stage + 1 < stages.count:
            after = (status, k, mode, phase, 0, last, stage + 1)
        elif status == SETUP:
            after = (BUSY, k, mode, phase, 0, k, 0)
        else:
            after = (FREE, -1, 0, 0 if st.pm_resets else phase, 0, last, 0)
        return same * stages.rate, 0, 0, _replace(base, i, j, after)

    def _busy_events(self, base: State, i: int, j: int, same: int):
        """A working machine (one of `same` identical ones) finishes its part, which is
        scrapped, leaves the line, moves on or blocks the machine; or it wears a phase."""
        model = self.model
        st = model.stations[i]
        _, k, mode, phase, _, last, _ = base[i][1][j]
        spec = st.modes[mode]
        rate = same * st.process_rate[k] / spec.time_factor
        done = (FREE, -1, 0, phase, 0, last, 0)
        if spec.scrap_prob > 0:
            yield rate * spec.scrap_prob, 0, 1, _replace(base, i, j, done)
        work = _replace(base, i, j, done)
        good_rate = rate * (1 - spec.scrap_prob)
        if i == len(base) - 1:
            yield good_rate, 1, 0, work
        else:
            nxt = work[i + 1][0]
            if len(nxt) < model.stations[i + 1].capacity:
                nxt.append(k)
            else:
                work[i][1][j] = (BLOCKED, k, 0, phase, 0, last, 0)
            yield good_rate, 0, 0, work
        if st.phases:
            worn = (
                (BUSY, k, mode, phase + 1, 0, last, 0)
                if phase + 1 < st.phases
                else (DOWN, k, mode, 0, 0, last, 0)
            )
            yield same * st.phase_rate * spec.wear_factor, 0, 0, _replace(base, i, j, worn)


def allowed(model: LineModel, i: int, buf: tuple[int, ...]) -> list[int]:
    """The actions the environment's mask allows a machine of station i with `buf` waiting:
    each waiting product at normal (and, with a fast mode, fast) speed; waiting only while the
    buffer has room; preventive maintenance where the station has it."""
    st = model.stations[i]
    out = [actions.WAIT] if len(buf) < st.capacity else []
    for k in sorted(set(buf)):
        out.append(actions.process(k))
        if st.has_fast:
            out.append(actions.process(k, fast=True))
    if st.pm is not None:
        out.append(actions.pm(len(model.products)))
    return out


def _clear_held(state: State) -> State:
    if not any(m[4] for _, ms in state for m in ms):
        return state
    return tuple((buf, tuple(sorted(m[:4] + (0,) + m[5:] for m in ms))) for buf, ms in state)


def _replace(state: State, i: int, j: int, machine: Machine):
    work = to_work(state)
    work[i][1][j] = machine
    return work


def state_estimate(model: LineModel, track_last: bool = False) -> float:
    """An upper estimate of the number of states: per station, buffer contents times machine
    combinations (multisets of single-machine states)."""
    n_prod = len(model.products)
    lasts = n_prod + 1 if track_last or model.has_setups else 1
    total = 1.0
    for st in model.stations:
        phases = max(st.phases, 1)
        modes = len(st.modes)
        setup_stages = max((s.count for row in st.setup for s in row if s), default=0)
        singles = (
            phases * 2 * lasts  # free (held or not)
            + n_prod * modes * phases * lasts  # busy
            + (n_prod * modes * lasts if st.phases else 0)  # down
            + n_prod * phases * lasts  # blocked
            + n_prod * modes * phases * lasts * setup_stages  # changing over
            + (phases * lasts * st.pm.count if st.pm else 0)  # in maintenance
        )
        buffers = comb(st.capacity + n_prod, n_prod)
        total *= buffers * comb(singles + st.machines - 1, st.machines)
    return total
