"""What each station sees, and the code that keeps it current as the line runs.

Observation of a station (same layout for every station, slots named by `Layout`), built
around the machine that is asking (a station with several machines answers them one by one):
  per product k: parts of k waiting (share of the buffer capacity), whether the asking machine
  is set up for k, and the changeover it would need to run k next as setup / (setup + process
  time), so "stay on the product you are set up for" is visible per action instead of having
  to be inferred from an index; then buffer fill, the asking machine's wear age (relative to
  mean time to failure, capped at `AGE_CAP`; 0 for machines that never fail), upstream and
  downstream buffer fill, and the share of the station's machines in each state. No clock:
  the line runs indefinitely, and a policy that read the clock would not transfer to longer
  horizons.

Every feature lies in [0, 1] except the wear age, in [0, AGE_CAP] (`Layout.bounds`, the env's
declared observation space). An unlimited buffer has no capacity to divide by: its parts are
shown as a share of (parts waiting + INF_BUFFER_SCALE), so its fill reads 0.5 at 20 parts and
stays below 1 however long the queue grows, while short queues still differ clearly.

The action mask offers what is possible to the stations that are asking (see `sim.actions`)
and only action 0 to the others.

Speed matters here: the observation is refreshed at every decision of every episode of
training. The line flags the stations whose buffer changed and, separately, those whose
machines or requests changed (`Line.buffers_changed`, `Line.machines_changed`); only those
features are rewritten, by writer closures bound to each station's slots, storing through
flat memoryviews of the numpy arrays (a third of the cost of numpy item assignment).
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from itertools import compress

import numpy as np

from factory_twin.scenario import Scenario, Station
from factory_twin.sim import actions
from factory_twin.sim.line import STATES, Line, StationSim

INF_BUFFER_SCALE = 20.0  # parts at which an unlimited buffer reads half full
AGE_CAP = 3.0  # wear age is shown up to three mean times to failure
N_STATES = len(STATES)
assert N_STATES <= 8  # machine-state combinations are keyed as base-8 numbers (_StateRows)

# a product's block of features, one block per product at the start of the row
WAITING, SET_UP, CHANGEOVER = range(3)  # offsets inside the block
BLOCK = 3  # features per product


@dataclass(frozen=True)
class Layout:
    """Where each feature sits in a station's row for a number of products: the product
    blocks, then the station features from `fill` on, then the machine-state shares (one
    slot per entry of `STATES`). The one place that knows these offsets."""

    n_products: int

    def product(self, k: int, offset: int) -> int:
        """Slot of feature `offset` (WAITING, SET_UP, CHANGEOVER) of product k."""
        return BLOCK * k + offset

    @property
    def fill(self) -> int:
        return BLOCK * self.n_products

    @property
    def age(self) -> int:
        return self.fill + 1

    @property
    def upstream(self) -> int:
        return self.fill + 2

    @property
    def downstream(self) -> int:
        return self.fill + 3

    @property
    def states(self) -> int:
        return self.fill + 4

    @property
    def dim(self) -> int:
        return self.states + N_STATES

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """(low, high) of every slot: [0, 1], the wear age [0, AGE_CAP]."""
        low, high = np.zeros(self.dim, np.float32), np.ones(self.dim, np.float32)
        high[self.age] = AGE_CAP
        return low, high


def obs_dim(n_products: int) -> int:
    return Layout(n_products).dim


Arrays = tuple[np.ndarray, np.ndarray, np.ndarray]  # observations, action masks, acting flags


class Observer:
    """The (stations x features) observations, action masks and acting flags of one line.

    `attach` binds a new line (each episode) and builds every row; `update` rewrites the rows
    of stations flagged as changed since the last call. The arrays are reused: callers that
    keep them across steps must copy. `out` lets a caller that batches several lines hand in
    slices of its own arrays, so that nothing needs copying at all."""

    def __init__(self, scenario: Scenario, out: Arrays | None = None) -> None:
        self.scenario = scenario
        self.n_products = len(scenario.products)
        self.n_stations = len(scenario.stations)
        self.layout = Layout(self.n_products)
        self.dim = self.layout.dim
        self.n_actions = actions.n_actions(self.n_products)
        n = self.n_stations
        if out is None:
            out = (
                np.zeros((n, self.dim), dtype=np.float32),
                np.zeros((n, self.n_actions), dtype=bool),
                np.zeros(n, dtype=bool),
            )
        _check_out(out, ((n, self.dim), (n, self.n_actions), (n,)))
        self.obs, self.mask, self.acting = out
        self.acting_stations: list[int] = []  # indices of the True entries of `acting`
        self._stations = range(n)
        self.mask_flat = memoryview(self.mask).cast("B")  # read by the env's action check
        self._line: Line | None = None
        self._writers: list[Callable[[bool, bool], None]] = []
        self._requests: list = []  # each station's pending requests (a deque)
        # per-station lookups that depend only on the scenario: built once, reused by every
        # episode's writers
        names = scenario.product_names
        self._blocks = [
            _product_blocks(_switch_costs(st, names), self.layout) for st in scenario.stations
        ]
        self._state_rows = [_StateRows(st.machines) for st in scenario.stations]

    def attach(self, line: Line) -> None:
        self._line = line
        self._writers = [self._row_writer(i, st) for i, st in enumerate(line.stations)]
        self._requests = [st.pending for st in line.stations]
        self.obs.fill(0.0)
        # the first station's upstream slot: no buffer change ever rewrites it
        saturated = self.scenario.source.kind == "saturated"
        self.obs[0, self.layout.upstream] = 1.0 if saturated else 0.0
        line.machines_changed[:] = [True] * self.n_stations
        self.update()

    def update(self) -> None:
        """Rewrite the flagged stations' rows. Writers touch disjoint slots (a row's own, and
        the neighbour slots only its buffer writes), so the order does not matter; the flag
        scans run in C (`compress`), which keeps a long line's step close to a short one's."""
        line, writers, stations = self._line, self._writers, self._stations
        buffers, machines = line.buffers_changed, line.machines_changed
        for i in compress(stations, machines):
            machines[i] = False
            writers[i](True, buffers[i])
            buffers[i] = False
        for i in compress(stations, buffers):
            buffers[i] = False
            writers[i](False, True)
        self.acting_stations = list(compress(stations, self._requests))

    def _row_writer(self, i: int, st: StationSim) -> Callable[[bool, bool], None]:
        """A function that rewrites station i's features after its machines or requests
        changed (`machines_changed`: asking machine, its last product and wear age, machine
        states, acting flag) and/or its buffer changed (`buffer_changed`: waiting counts,
        fill, the neighbour slots that show this fill in the rows before and after it). The
        mask follows both. Pieces of the row that cannot have changed (same last product,
        same machine states) are not rewritten."""
        spec: Station = st.spec
        P, n, dim, width = self.n_products, self.n_stations, self.dim, self.n_actions
        lay = self.layout
        obs = memoryview(self.obs).cast("B").cast("f")
        mask, acting = self.mask_flat, memoryview(self.acting).cast("B")
        base = i * dim  # slots of this row in the flat observation array
        fill_slot, age_slot, states_slot = base + lay.fill, base + lay.age, base + lay.states
        up_of_next = (i + 1) * dim + lay.upstream if i + 1 < n else None
        down_of_prev = (i - 1) * dim + lay.downstream if i > 0 else None
        buffer, queues, pending, machines = st.buffer, st.buffer.queues, st.pending, st.machines
        capacity = float(spec.buffer) if spec.buffer is not None else None  # None: unlimited
        age_scale = _age_scale(spec)
        wears = math.isfinite(age_scale)  # else the age feature stays 0
        blocks, state_rows = self._blocks[i], self._state_rows[i]
        single = len(machines) == 1  # then the key is the machine's state itself
        mrow = i * width  # slots of this row in the flat mask
        wait_slot, pm_slot = mrow + actions.WAIT, mrow + actions.pm(P)
        idle = bytes(a == actions.WAIT for a in range(width))  # not asking: only waiting
        fast, pm = spec.speed_modes.fast is not None, spec.pm is not None
        count_slots = [(base + lay.product(k, WAITING), queues[k]) for k in range(P)]
        process_slots = [
            (mrow + actions.process(k), mrow + actions.process(k, fast=True), queues[k])
            for k in range(P)
        ]
        shown_last: int | None = None  # last product of the block in the row
        shown_states = -1  # key of the machine states shown in the row

        def write(machines_changed: bool, buffer_changed: bool) -> None:
            nonlocal shown_last, shown_states
            if machines_changed:
                asking = pending[0].machine if pending else machines[0]
                if asking.last_product != shown_last:
                    shown_last = asking.last_product
                    obs[base:fill_slot] = blocks[shown_last]  # zeroes the waiting counts too
                    buffer_changed = True
                if wears:
                    obs[age_slot] = min(asking.age / age_scale, AGE_CAP)
                key = machines[0].state if single else state_rows.key(machines)
                if key != shown_states:
                    shown_states = key
                    obs[states_slot : states_slot + N_STATES] = state_rows.row(key)
                if pending:
                    acting[i] = 1
                    mask[pm_slot] = pm
                else:
                    acting[i] = 0
                    mask[mrow : mrow + width] = idle
            if buffer_changed:
                scale = capacity if capacity is not None else buffer.count + INF_BUFFER_SCALE
                for slot, queue in count_slots:
                    obs[slot] = len(queue) / scale
                fill = buffer.count / scale
                obs[fill_slot] = fill
                if up_of_next is not None:
                    obs[up_of_next] = fill
                if down_of_prev is not None:
                    obs[down_of_prev] = fill
            if pending:
                # waiting is offered only while something can still arrive: with a full
                # input buffer it can only idle the machine, and a policy that prefers it
                # there (say, holding out for the product it is set up for) would stall
                # the line
                mask[wait_slot] = buffer.count < buffer.capacity
                for normal, quick, queue in process_slots:
                    waiting = len(queue) > 0
                    mask[normal] = waiting
                    mask[quick] = waiting and fast

        return write


class _StateRows:
    """The machine-state shares of a station as ready-made float32 rows, one per ordered
    combination of its machines' states seen so far (a line spends most of its time in a
    few), so that a count-and-convert becomes a lookup. A combination's key is the machines'
    states as the digits of a base-8 number."""

    def __init__(self, n_machines: int) -> None:
        self.n_machines = n_machines
        self._rows: dict[int, array] = {}

    @staticmethod
    def key(machines: list) -> int:
        key = 0
        for m in machines:
            key = key * 8 + m.state
        return key

    def row(self, key: int) -> array:
        row = self._rows.get(key)
        if row is None:
            # accumulate in float32, one machine at a time: the rounding trained policies saw;
            # ten or more machines in one state can sum to 1 + 1e-7, so cap at 1 (the bound)
            shares, rest = np.zeros(N_STATES, np.float32), key
            for _ in range(self.n_machines):
                rest, state = divmod(rest, 8)
                shares[state] += 1.0 / self.n_machines
            np.minimum(shares, 1.0, out=shares)
            row = self._rows[key] = array("f", shares.tolist())
        return row


def _check_out(out: Arrays, shapes: tuple[tuple[int, ...], ...]) -> None:
    for array_, shape, dtype in zip(out, shapes, (np.float32, np.bool_, np.bool_), strict=True):
        if array_.shape != shape or array_.dtype != dtype or not array_.flags.c_contiguous:
            raise ValueError(
                f"observer arrays must be C-contiguous {shapes} of float32, bool, bool; got "
                f"{array_.shape} {array_.dtype}"
            )


def _age_scale(station: Station) -> float:
    """Wear age is shown relative to the mean time to failure. A machine that never fails shows
    0: its age predicts nothing, and a clock that only grows would tell a shared policy which
    station it is through a feature that carries no decision-relevant information."""
    if station.failure is None:
        return math.inf
    mean = float(station.failure.ttf.mean)
    return mean if mean > 0 and math.isfinite(mean) else math.inf


def _product_blocks(switch: list[list[float]], layout: Layout) -> list[array]:
    """Per last product (the last entry, index -1, for "none yet"), the station's product
    blocks [waiting, set up for k, changeover to k] * P, with the waiting slots left at 0."""
    n = len(switch)
    blocks = []
    for last in [*range(n), -1]:
        block = [0.0] * layout.fill
        for k in range(n):
            block[layout.product(k, SET_UP)] = 1.0 if k == last else 0.0
            block[layout.product(k, CHANGEOVER)] = switch[last][k] if last >= 0 else 0.0
        blocks.append(array("f", block))
    return blocks


def _switch_costs(station: Station, products: list[str]) -> list[list[float]]:
    """[from][to] changeover cost as setup / (setup + mean process time of `to`): 0 without a
    changeover, towards 1 when the setup dwarfs the part's own processing."""
    pairs = station.setup.pairs() if station.setup else {}
    out = []
    for a in products:
        row = []
        for b in products:
            setup = pairs.get((a, b), 0.0)
            proc = float(station.process_for(b).mean)
            row.append(setup / (setup + proc) if setup > 0 else 0.0)
        out.append(row)
    return out
