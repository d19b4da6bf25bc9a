"""The state of a Markovian line, and the instantaneous moves the simulator makes at once.

A state is a tuple with one entry per station: (input buffer, machines). The buffer is a tuple
of product indices, oldest first (kept in arrival order only where a policy reads the order,
FIFO; otherwise sorted, since the dynamics depend on the counts alone). Machines are tuples
(status, product, mode, phase, held, last, stage), sorted within a station because parallel
machines are interchangeable:

- status FREE (no part), BUSY (working product `product` in speed `mode`), DOWN (broken while
  working it; the part stays on the machine), BLOCKED (holding a finished good part until
  the next buffer has room: blocking after service), SETUP (changing over to `product`, whose
  part it has already taken from the buffer) or MAINT (preventive maintenance, no part);
- phase: the Erlang phase of the machine's time to failure (its wear-age);
- held: a FREE machine whose policy chose to wait at this instant (cleared by the next event);
- last: the product the machine last worked, kept where the dynamics (setups) or a policy
  (min-setup) read it; during a changeover it is still the product changed over from, as in
  the simulator;
- stage: the Erlang stage of the changeover or maintenance under way (0 otherwise).

A buffer's capacity counts waiting parts only: parts on machines, blocked ones included, do
not take a place, as in the simulator.
"""

from __future__ import annotations

from factory_twin.optimum.model import LineModel
from factory_twin.sim import actions

FREE, BUSY, DOWN, BLOCKED, SETUP, MAINT = range(6)
WITH_PART = (BUSY, DOWN, BLOCKED, SETUP)  # statuses of a machine that holds a part

Machine = tuple[int, int, int, int, int, int, int]
StationState = tuple[tuple[int, ...], tuple[Machine, ...]]
State = tuple[StationState, ...]
Work = list[list]  # a state being changed: per station [buffer list, machine list]


def free_machine(phase: int = 0, last: int = -1) -> Machine:
    return (FREE, -1, 0, phase, 0, last, 0)


def empty_line(model: LineModel) -> Work:
    return [[[], [free_machine()] * st.machines] for st in model.stations]


def to_work(state: State) -> Work:
    return [[list(buf), list(ms)] for buf, ms in state]


def freeze(work: Work, ordered: bool) -> State:
    """The canonical, hashable form of a work state."""
    return tuple(
        (tuple(buf) if ordered else tuple(sorted(buf)), tuple(sorted(ms))) for buf, ms in work
    )


def wip(state: State | Work) -> int:
    """Parts in the line: waiting in buffers or on machines (working, down or blocked)."""
    return sum(len(buf) + sum(m[0] in WITH_PART for m in ms) for buf, ms in state)


def admits_order(model: LineModel, state: State) -> bool:
    """An arriving order enters: the first buffer has room and WIP is under the cap, if any."""
    room = len(state[0][0]) < model.stations[0].capacity
    return room and (model.wip_limit == 0 or wip(state) < model.wip_limit)


def pending(model: LineModel, state: State) -> tuple[int, int] | None:
    """(station, machine) of the first machine that must decide now: free, not holding, with
    parts waiting; None when the state is tangible (time passes until the next event)."""
    for i, (buf, ms) in enumerate(state):
        if buf:
            for j, m in enumerate(ms):
                if m[0] == FREE and not m[4]:
                    return i, j
    return None


def decide(
    model: LineModel, state: State, i: int, j: int, action: int, ordered: bool, track_last: bool
) -> list[tuple[float, State]]:
    """Machine j of station i answers `action` (an action code): it takes the oldest part of
    the product and starts it (changing over first where the product it last worked needs
    it), holds, or starts preventive maintenance; then whatever follows at once (`settle`)."""
    work = to_work(state)
    buf, ms = work[i]
    m = ms[j]
    st = model.stations[i]
    kind, k, fast = actions.decode(action, len(model.products))
    if kind == "wait":
        ms[j] = (FREE, -1, 0, m[3], 1, m[5], 0)
    elif kind == "process":
        buf.remove(k)  # the oldest part of product k
        last = m[5]
        if last >= 0 and st.setup and st.setup[last][k] is not None:
            ms[j] = (SETUP, k, int(fast), m[3], 0, last, 0)
        else:
            ms[j] = (BUSY, k, int(fast), m[3], 0, k if track_last else -1, 0)
    elif st.pm is not None:
        ms[j] = (MAINT, -1, 0, m[3], 0, m[5], 0)
    else:
        raise ValueError(f"station {st.name} has no preventive maintenance (action {action})")
    return settle(model, work, ordered)


def settle(model: LineModel, work: Work, ordered: bool) -> list[tuple[float, State]]:
    """Apply what happens at once after a change: blocked machines push their parts into
    buffers that have room, and the source fills the first buffer (saturated) or releases
    parts up to the WIP limit (CONWIP). A release draws its product from the mix, so the
    result is a distribution over states."""
    for i in range(len(work) - 1, 0, -1):
        _unblock(model, work, i)
    room = _release_room(model, work)
    if room == 0:
        return [(1.0, freeze(work, ordered))]
    out: dict[State, float] = {}
    for prob, added in _draws(model.mix, room):
        trial = [[list(buf), ms] for buf, ms in work]
        trial[0][0].extend(added)
        state = freeze(trial, ordered)
        out[state] = out.get(state, 0.0) + prob
    return [(p, s) for s, p in out.items()]


def _unblock(model: LineModel, work: Work, i: int) -> None:
    """Move parts of blocked machines at station i-1 into station i's buffer while it has
    room."""
    buf, up = work[i][0], work[i - 1][1]
    cap = model.stations[i].capacity
    for j, m in enumerate(up):
        if len(buf) >= cap:
            return
        if m[0] == BLOCKED:
            buf.append(m[1])
            up[j] = (FREE, -1, 0, m[3], 0, m[5], 0)


def _release_room(model: LineModel, work: Work) -> int:
    free_places = model.stations[0].capacity - len(work[0][0])
    if model.source == "saturated":
        return free_places
    if model.source == "conwip":
        return max(0, min(free_places, model.wip_limit - wip(work)))
    return 0


def _draws(mix: tuple[float, ...], n: int) -> list[tuple[float, list[int]]]:
    """Every sequence of n products drawn from the mix, with its probability."""
    out: list[tuple[float, list[int]]] = [(1.0, [])]
    for _ in range(n):
        out = [(p * q, seq + [k]) for p, seq in out for k, q in enumerate(mix) if q > 0]
    return out
