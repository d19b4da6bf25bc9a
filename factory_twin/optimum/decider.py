"""Play a solved policy in the simulator: the optimum as a station decider.

At each decision the simulator's line is read into the chain's state (waiting parts by
product; each machine free, working, down, blocked, changing over or in maintenance, with the
product and speed this decider started it with, and its last product where changeovers make
the chain keep it) and the asking machine takes the action with the best one-step lookahead
on the solved relative values. For the reward-optimal relative values that greedy choice is
the optimal policy, whatever order the simulator's machines happen to ask in.

The simulator hides one thing the chain needs: an Erlang time (to failure, of a changeover or
of a maintenance) is drawn whole, not stage by stage, so lines with more than one stage are
refused. Ties go to working rather than waiting, because the simulator's wait is a fixed hold.
"""

from __future__ import annotations

from factory_twin.optimum.chain import Chain, allowed
from factory_twin.optimum.model import LineModel, StationModel
from factory_twin.optimum.state import (
    BLOCKED,
    BUSY,
    DOWN,
    MAINT,
    SETUP,
    State,
    decide,
    free_machine,
    settle,
)
from factory_twin.sim import actions
from factory_twin.sim import line as sim

_STATUS = {sim.BUSY: BUSY, sim.DOWN: DOWN, sim.BLOCKED: BLOCKED, sim.SETUP: SETUP, sim.PM: MAINT}


class ChainDecider:
    """A simulator decider (station, machine) -> action code playing a solved chain."""

    def __init__(self, model: LineModel, chain: Chain, bias) -> None:
        if any(_stages(st) > 1 for st in model.stations):
            raise ValueError("Erlang wear phases or stages are not visible in the simulator")
        self.model, self.bias = model, bias
        self.track_last = model.has_setups
        self.index = {state: s for s, state in enumerate(chain.states)}
        self.started: dict[int, tuple[int, int]] = {}  # id(machine) -> (product, mode)
        self.misses = 0  # decisions whose next states the chain never reached
        self.asking = free_machine()  # the asking machine as the chain sees it

    def __call__(self, station: sim.StationSim, machine: sim.Machine) -> int:
        i = station.index
        self.asking = self._free(machine)
        now = settle(self.model, self._read(station.line, machine), ordered=False)
        # working first: on a tie it wins over waiting
        options = sorted(allowed(self.model, i, now[0][1][i][0]), key=lambda a: a == actions.WAIT)
        best, best_q = options[0], None
        for a in options:
            q = self._lookahead(now, i, a)
            if q is not None and (best_q is None or q > best_q + 1e-9 * (1 + abs(best_q))):
                best, best_q = a, q
        if best_q is None:
            self.misses += 1
        kind, k, fast = actions.decode(best, len(self.model.products))
        if kind == "process":
            self.started[id(machine)] = (k, int(fast))
        return best

    def _lookahead(self, now: list[tuple[float, State]], i: int, a: int) -> float | None:
        """Expected relative value after machine `i`'s choice `a`; None if the chain never
        reaches a state it leads to."""
        total = 0.0
        for p, state in now:
            j = state[i][1].index(self.asking)
            for q, nxt in decide(self.model, state, i, j, a, False, self.track_last):
                s = self.index.get(nxt)
                if s is None:
                    return None
                total += p * q * self.bias[s]
        return total

    def _read(self, line: sim.Line, asking: sim.Machine) -> list[list]:
        work = []
        for st in line.stations:
            buf = [k for k, queue in enumerate(st.buffer.queues) for _ in queue]
            work.append([buf, [self._machine(m, asking) for m in st.machines]])
        return work

    def _free(self, m: sim.Machine) -> tuple:
        return free_machine(last=m.last_product if self.track_last else -1)

    def _machine(self, m: sim.Machine, asking: sim.Machine) -> tuple:
        if m is asking or m.state in (sim.STARVED, sim.IDLE):
            return self._free(m)
        status = _STATUS[m.state]
        if status == MAINT:
            return (MAINT, -1, 0, 0, 0, self._free(m)[5], 0)
        k, mode = self.started[id(m)]
        # during a changeover the simulator's last product is still the one changed over from
        last = m.last_product if self.track_last else -1
        return (status, k, 0 if status == BLOCKED else mode, 0, 0, last, 0)


def _stages(st: StationModel) -> int:
    """The most Erlang stages any duration of the station has."""
    setups = [s.count for row in st.setup for s in row if s is not None]
    return max([st.phases, st.pm.count if st.pm else 0, *setups])
