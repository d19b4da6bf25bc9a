"""SimPy model of a serial production line.

A part is released by the source into the first station's input buffer, waits, is set up for,
processed (possibly interrupted by breakdowns), possibly scrapped, and then waits ON the machine
until the next buffer has room (blocking after service) before moving on; the last station
hands parts to the sink.

Whenever a machine is free and parts wait, the station asks its `decider` which action to take
(see `actions`). A decider is a plain function (heuristics) or `None`, in which case the request
is parked in `Line.pending` and the machine sleeps until someone outside (the multi-agent
environment) answers it with `Line.answer`. That is the only hook learning code needs; nothing
here knows about learning.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import simpy

from factory_twin.scenario import (
    ConwipSource,
    Distribution,
    Exponential,
    Scenario,
    Station,
    order_rate,
)
from factory_twin.sim import actions
from factory_twin.sim.buffer import Buffer, Part
from factory_twin.sim.distributions import Coin, Sampler, sampler, streams

STATES = ("busy", "setup", "pm", "down", "blocked", "starved", "idle")
BUSY, SETUP, PM, DOWN, BLOCKED, STARVED, IDLE = range(len(STATES))


@dataclass(slots=True)
class Request:
    """A machine asking its station's policy what to do next."""

    station: StationSim
    machine: Machine
    event: simpy.Event
    time: float


Decider = Callable[["StationSim", "Machine"], int]


@dataclass
class StationStats:
    processed: int = 0
    scrapped: int = 0
    setups: int = 0
    pms: int = 0
    failures: int = 0
    fast: int = 0  # parts processed in fast mode
    waits: int = 0  # wait actions chosen although parts were waiting
    ideal_time: float = 0.0  # ideal (fastest-mode mean) minutes of the parts processed, for OEE


class Machine:
    """One machine of a station; its SimPy process is `run`."""

    def __init__(self, line: Line, station: StationSim, index: int) -> None:
        self.line, self.station, self.index = line, station, index
        self.env = line.env
        self._changed, self._slot = line.machines_changed, station.index  # see Line
        self.state = STARVED
        self.since = 0.0
        self.time_in = [0.0] * len(STATES)  # after warm-up only
        self.last_product = -1
        self.current_product = -1
        self.age = 0.0  # wear minutes since the last repair or PM
        self.fail_age = math.inf
        self._renew()
        self.process = self.env.process(self.run())

    # --- bookkeeping ---------------------------------------------------------------------
    def set_state(self, new: int) -> None:
        now = self.env.now
        start = self.since if self.since > self.line.warmup else self.line.warmup
        if now > start:
            self.time_in[self.state] += now - start
        self.state, self.since = new, now
        self._changed[self._slot] = True

    def _renew(self) -> None:
        self._changed[self._slot] = True
        self.age = 0.0
        ttf = self.station.ttf
        self.fail_age = ttf() if ttf is not None else math.inf

    # --- the process ---------------------------------------------------------------------
    def run(self):
        st, env, n_prod = self.station, self.env, self.line.n_products
        while True:
            if st.buffer.count == 0:
                self.set_state(STARVED)
                yield st.buffer.when_items()
                continue
            action = st.decide(self)
            if isinstance(action, simpy.Event):
                self.set_state(IDLE)
                action = yield action
            if action == actions.RECHECK:
                continue
            kind, product, fast = actions.decode(action, n_prod)
            if kind == "wait":
                if self.line.measuring:
                    st.stats.waits += 1
                self.set_state(IDLE)
                yield env.timeout(self.line.wait_time)
            elif kind == "pm":
                yield from self._preventive_maintenance()
            else:
                yield from self._produce(product, fast)

    def _preventive_maintenance(self):
        st = self.station
        self.set_state(PM)
        self.line.pm_count += 1
        if self.line.measuring:
            st.stats.pms += 1
        yield self.env.timeout(st.pm_time())
        if st.spec.pm.resets_age:
            self._renew()

    def _produce(self, product: int, fast: bool):
        st, line = self.station, self.line
        part = st.buffer.take(product)
        if self.last_product >= 0 and self.last_product != product:
            setup = st.setup_time[self.last_product][product]
            if setup is not None:
                self.set_state(SETUP)
                if line.measuring:
                    st.stats.setups += 1
                yield self.env.timeout(setup())
        self.last_product = self.current_product = product
        self._changed[self._slot] = True
        mode = st.fast if fast else None
        time_factor = mode.time_factor if mode else 1.0
        wear = mode.wear_factor if mode else 1.0
        yield from self._work(st.process_time[product]() * time_factor, wear)
        self.current_product = -1
        scrap_p = mode.scrap_prob if mode else st.spec.scrap_prob
        scrapped = st.coin(scrap_p)
        if line.measuring:
            st.stats.processed += 1
            st.stats.fast += fast
            st.stats.scrapped += scrapped
            st.stats.ideal_time += st.process_time[product].mean * st.ideal_factor
        if scrapped:
            line.depart(part, good=False)
            return
        downstream = st.downstream
        if downstream is None:
            line.depart(part, good=True)
            return
        while not downstream.has_room():
            self.set_state(BLOCKED)
            yield downstream.when_space()
        downstream.add(part)

    def _work(self, duration: float, wear: float):
        """Process for `duration` minutes; a breakdown (wear-age based) pauses the work."""
        st = self.station
        remaining = duration
        while remaining > 0:
            to_failure = (self.fail_age - self.age) / wear
            self.set_state(BUSY)
            if to_failure >= remaining:
                yield self.env.timeout(remaining)
                self.age += remaining * wear
                self._changed[self._slot] = True
                return
            yield self.env.timeout(to_failure)
            remaining -= to_failure
            self.set_state(DOWN)
            if self.line.measuring:
                st.stats.failures += 1
            yield self.env.timeout(st.ttr())
            self._renew()


class StationSim:
    """Runtime state of one station: its buffer, machines, samplers and decider."""

    def __init__(self, line: Line, index: int, spec: Station, seed: int) -> None:
        self.line, self.index, self.spec, self.name = line, index, spec, spec.name
        products = line.scenario.product_names
        self.buffer = Buffer(line.env, spec.buffer, len(products), line.buffers_changed, index)
        self.downstream: Buffer | None = None
        self.process_time = [
            Sampler(spec.process_for(p), streams(seed, spec.name, "process", p)) for p in products
        ]
        pairs = spec.setup.distributions() if spec.setup else {}
        # per (from, to) product pair a sampler of the changeover, None where it takes no time
        self.setup_time: list[list[Sampler | None]] = [
            [_changeover(pairs.get((a, b)), seed, spec.name, a, b) for b in products]
            for a in products
        ]
        self.pm_time = sampler(spec.pm.time, seed, spec.name, "pm") if spec.pm else None
        fail = spec.failure
        self.ttf = Sampler(fail.ttf, streams(seed, spec.name, "ttf")) if fail else None
        self.ttr = Sampler(fail.ttr, streams(seed, spec.name, "ttr")) if fail else None
        self.fast = spec.speed_modes.fast
        # OEE's ideal cycle time is the fastest the station may run, so performance <= ~1
        self.ideal_factor = self.fast.time_factor if self.fast else 1.0
        self.coin = Coin(streams(seed, spec.name, "scrap"))
        self.stats = StationStats()
        self.decider: Decider | None = None
        self.pending: deque[Request] = deque()
        self.machines: list[Machine] = []

    def start(self) -> None:
        self.machines = [Machine(self.line, self, i) for i in range(self.spec.machines)]

    def decide(self, machine: Machine) -> int | simpy.Event:
        if self.decider is not None:
            return self.decider(self, machine)
        line = self.line
        req = Request(self, machine, line.env.event(), line.env.now)
        self.pending.append(req)
        line.n_pending += 1
        line.machines_changed[self.index] = True
        return req.event


@dataclass
class LineTotals:
    released: int = 0
    lost: int = 0  # Poisson arrivals that found the first buffer full, after warm-up
    good: int = 0
    scrapped: int = 0
    lead_times: list[float] = field(default_factory=list)  # good parts, after warm-up
    sojourns_all: float = 0.0  # sum of time in system of every part leaving after warm-up
    departures: int = 0  # every part leaving after warm-up (good or scrap)
    wip_area: float = 0.0


class Line:
    """A whole line: source, stations, sink, on one SimPy environment.

    `deciders` maps station index to a decider; stations without one park their requests in
    `pending` (the environment answers them). Same scenario + seed + deciders = same trajectory.
    """

    def __init__(
        self,
        scenario: Scenario,
        seed: int,
        deciders: dict[int, Decider] | Decider | None = None,
        warmup: float | None = None,
        length: float | None = None,
    ) -> None:
        self.scenario = scenario
        self.seed = seed
        self.env = simpy.Environment()
        self.n_products = len(scenario.products)
        self.warmup = scenario.horizon.warmup if warmup is None else warmup
        self.length = scenario.horizon.length if length is None else length
        self.end = self.warmup + self.length
        self.wait_time = scenario.wait_time
        self.totals = LineTotals()
        self.pm_count = 0
        self.wip = 0
        self._wip_since = 0.0
        self._next_id = 0
        self._exit_ev: simpy.Event | None = None
        # per station: has anything an observer reads changed since it last cleared the flag?
        # Buffer contents, and separately its machines (state, last product, wear age) and
        # pending requests. Lets the environment rewrite only the features that changed.
        self.buffers_changed = [True] * len(scenario.stations)
        self.machines_changed = [True] * len(scenario.stations)
        self.n_pending = 0  # requests parked in all stations' `pending`
        self.stations = [StationSim(self, i, s, seed) for i, s in enumerate(scenario.stations)]
        self._multi_machine_stations = [st for st in self.stations if st.spec.machines > 1]
        for up, down in zip(self.stations, self.stations[1:], strict=False):
            up.downstream = down.buffer
        for i, st in enumerate(self.stations):
            st.decider = deciders.get(i) if isinstance(deciders, dict) else deciders
        self._mix_rng = streams(seed, "source", "mix")
        self._mix_cum = _cumulative([p.mix for p in scenario.products])
        self._mix_buf: list[float] = []
        rate = order_rate(scenario.source)
        self._arrivals = (
            Sampler(
                Exponential(dist="exponential", mean=1.0 / rate),
                streams(seed, "source", "arrivals"),
            )
            if rate is not None
            else None
        )
        for st in self.stations:
            st.start()
        self.env.process(self._source())

    # --- source and sink -----------------------------------------------------------------
    def _new_part(self) -> Part:
        if not self._mix_buf:
            self._mix_buf = self._mix_rng.random(256).tolist()[::-1]
        u = self._mix_buf.pop()
        product = next(k for k, c in enumerate(self._mix_cum) if u < c)
        self._next_id += 1
        self._change_wip(+1)
        self.totals.released += 1
        return Part(self._next_id, product, self.env.now)

    def _source(self):
        first = self.stations[0].buffer
        src = self.scenario.source
        limit = src.limit if isinstance(src, ConwipSource) else math.inf
        if self._arrivals is not None:
            while True:  # orders: admitted while the line has room (and WIP is under a cap)
                yield self.env.timeout(self._arrivals())
                if first.has_room() and self.wip < limit:
                    first.add(self._new_part())
                elif self.measuring:  # like every KPI, only the measured window counts
                    self.totals.lost += 1
        while True:
            while self.wip >= limit:
                yield self._when_exit()
            while not first.has_room():
                yield first.when_space()
            first.add(self._new_part())

    def _when_exit(self) -> simpy.Event:
        if self._exit_ev is None:
            self._exit_ev = self.env.event()
        return self._exit_ev

    def depart(self, part: Part, good: bool) -> None:
        now = self.env.now
        self._change_wip(-1)
        if now >= self.warmup:
            t = self.totals
            t.departures += 1
            t.sojourns_all += now - part.released
            if good:
                t.good += 1
                t.lead_times.append(now - part.released)
            else:
                t.scrapped += 1
        if self._exit_ev is not None:
            ev, self._exit_ev = self._exit_ev, None
            ev.succeed()

    def _change_wip(self, delta: int) -> None:
        now = self.env.now
        start = self._wip_since if self._wip_since > self.warmup else self.warmup
        if now > start:
            self.totals.wip_area += self.wip * (now - start)
        self.wip += delta
        self._wip_since = now

    # --- driving -------------------------------------------------------------------------
    def run(self) -> None:
        """Run to the end of the horizon (all stations must have deciders)."""
        self.run_to(self.end)
        self.flush()

    def run_to(self, time: float) -> None:
        """Run the clock to `time`, at most to the end of the horizon (all stations must have
        deciders): how the viewer animates a heuristic run piece by piece. Time accounting
        stays open; `kpi.collect` and `snapshot.snapshot` close it when they read."""
        self.env.run(until=min(time, self.end))

    def advance(self, until: float | None = None) -> bool:
        """Step the simulation until some station has a pending request or the horizon ends.

        Returns False once the horizon is reached. Stale requests (their part was taken by a
        sibling machine meanwhile) are answered with RECHECK here so callers never see them.
        """
        end = self.end if until is None else min(until, self.end)
        env = self.env
        peek, step = env.peek, env.step
        now = env.now
        while True:
            t = peek()
            if t > now:
                # everything due now has settled (answered requests have taken their parts),
                # so the buffers are what a decision should see
                if self.n_pending:
                    self._drop_stale()
                    if self.n_pending:
                        return True
                    continue  # the dropped requests' re-checks are due now
                if t >= end:
                    if now < end:
                        env.run(until=end)
                    return False
                now = t
            step()

    def _drop_stale(self) -> None:
        # only a sibling machine can take the part a request was made for
        for st in self._multi_machine_stations:
            while st.pending and st.buffer.count == 0:
                self.answer(st.index, actions.RECHECK)

    def answer(self, station: int, action: int) -> None:
        """Answer the oldest pending request of a station with an action code."""
        request = self.stations[station].pending.popleft()
        self.n_pending -= 1
        self.machines_changed[station] = True
        request.event.succeed(action)

    def flush_wip(self) -> None:
        """Bring the WIP time integral up to the current clock."""
        self._change_wip(0)

    def flush(self) -> None:
        """Close the time accounting at the current clock (call before reading KPIs)."""
        self.flush_wip()
        for st in self.stations:
            for m in st.machines:
                m.set_state(m.state)

    @property
    def now(self) -> float:
        return self.env.now

    @property
    def measuring(self) -> bool:
        """True once the warm-up is over: counters only include the measured window."""
        return self.env.now >= self.warmup


def _changeover(
    spec: Distribution | None, seed: int, station: str, a: str, b: str
) -> Sampler | None:
    """The changeover's sampler, or None when it takes no time (a missing pair, a fixed 0)."""
    if spec is None or spec.mean <= 0:
        return None
    return sampler(spec, seed, station, "setup", a, b)


def _cumulative(weights: list[float]) -> list[float]:
    total, out = 0.0, []
    for w in weights:
        total += w
        out.append(total)
    out[-1] = math.inf  # guard against rounding: every u in [0, 1) maps to a product
    return out
