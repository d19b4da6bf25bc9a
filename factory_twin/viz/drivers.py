"""Sources of line snapshots for the viewer: a live simulation, or a recorded run.

Why a protocol: the viewer only ever asks "move on by so many minutes and tell me what the
line looks like", so a heuristic run, a learned policy and a replay from the event log are
interchangeable, and side-by-side comparisons mix them freely. This module never imports
pygame: recording a run for later replay must work on a machine without a display stack.

A heuristic run is driven on the simulator directly, not through the env: heuristics decide
inside the simulator and need no observations. `HeuristicDriver` uses exactly `Line(scenario,
seed, decider)`, `Line.run_to`, `Line.now`, `Line.warmup`, `Line.end` and
`sim.snapshot.snapshot`, the viewer's part of the simulator API (`factory_twin.sim`).

Lockstep: the viewer moves every pane to the same absolute time with `advance_to`, never by
"so many minutes from where this driver happens to be", so panes cannot drift apart. Drivers
that can only stop at certain times (a learned policy's precomputed captures) say so with
`grid`; the viewer then only asks for multiples of it. `available` is how far a driver can go
without waiting (infinite for a live simulation computed on demand).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from factory_twin.policy.registry import heuristic
from factory_twin.scenario import Scenario, load_scenario
from factory_twin.sim.line import Line
from factory_twin.sim.snapshot import LineSnap, snapshot

EventRow = tuple[int, float, dict[str, Any]]


@runtime_checkable
class Driver(Protocol):
    """What the viewer needs from anything that produces snapshots."""

    label: str

    @property
    def done(self) -> bool:
        """True once advancing further cannot change the picture (end of horizon or record)."""
        ...

    def advance(self, minutes: float) -> LineSnap:
        """Move `minutes` of simulated time forward and return the snapshot there."""
        ...

    def snapshot(self) -> LineSnap:
        """The snapshot at the current time, without moving."""
        ...

    def advance_to(self, time: float, wait: bool = True) -> LineSnap:
        """Move to absolute simulated `time` (clamped to the end) and return the snapshot
        there; with `wait=False` a precomputing driver stops at what it has so far."""
        ...

    @property
    def available(self) -> float:
        """The latest time `advance_to` reaches without waiting."""
        ...

    @property
    def grid(self) -> float:
        """Times this driver can stop at are multiples of `grid` (0: any time)."""
        ...


def close_all(drivers: Iterable[Driver]) -> None:
    """Stop drivers that compute in the background (their `close`), e.g. when Esc is hit."""
    for driver in drivers:
        close = getattr(driver, "close", None)
        if close is not None:
            close()


class HeuristicDriver:
    """A live simulation of a scenario under one of the rule-based policies.

    Snapshots carry `extra = {"warmup", "end", "policy", "seed", "scenario"}` so the viewer can
    say when counters start and the horizon ends, also when the run is replayed later.
    """

    def __init__(
        self,
        scenario: Scenario | str | Path,
        seed: int = 0,
        policy_name: str = "min-setup",
        label: str | None = None,
    ) -> None:
        base = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
        scn, decider = heuristic(policy_name, base)
        self.scenario = scn
        self.seed = seed
        self.policy_name = policy_name
        self.line = Line(scn, seed, decider)
        self.label = label or f"{scn.name} · {policy_name} · seed {seed}"
        self._snap: LineSnap | None = None

    @property
    def time(self) -> float:
        return float(self.line.now)

    @property
    def done(self) -> bool:
        return self.line.now >= self.line.end

    available = math.inf
    grid = 0.0

    def advance(self, minutes: float) -> LineSnap:
        return self.advance_to(self.line.now + max(minutes, 0.0))

    def advance_to(self, time: float, wait: bool = True) -> LineSnap:
        target = min(time, self.line.end)
        if target > self.line.now:
            self.line.run_to(target)
            self._snap = None
        return self.snapshot()

    def snapshot(self) -> LineSnap:
        if self._snap is None:  # a snapshot is only rebuilt when the clock has moved
            snap = snapshot(self.line)
            snap.extra = {
                "warmup": self.line.warmup,
                "end": self.line.end,
                "policy": self.policy_name,
                "seed": self.seed,
                "scenario": self.scenario.name,
            }
            self._snap = snap
        return self._snap


class ReplayDriver:
    """Plays back recorded snapshots: at time t it shows the last one recorded at or before t."""

    def __init__(self, snaps: Sequence[LineSnap], label: str = "replay") -> None:
        if not snaps:
            raise ValueError("a replay needs at least one snapshot")
        self.snaps = sorted(snaps, key=lambda s: s.time)
        self._times = [s.time for s in self.snaps]
        self.label = label
        self._time = self._times[0]
        self._index = 0

    @property
    def time(self) -> float:
        return self._time

    @property
    def done(self) -> bool:
        return self._time >= self._times[-1]

    available = math.inf
    grid = 0.0

    def advance(self, minutes: float) -> LineSnap:
        return self.advance_to(self._time + max(minutes, 0.0))

    def advance_to(self, time: float, wait: bool = True) -> LineSnap:
        self._time = min(max(time, self._time), self._times[-1])
        # snapshot times are rounded to 1e-4: stepping by the recording interval must land on each
        self._index = max(bisect.bisect_right(self._times, self._time + 1e-3) - 1, 0)
        return self.snaps[self._index]

    def snapshot(self) -> LineSnap:
        return self.snaps[self._index]


def record(driver: Driver, every: float, until: float) -> list[EventRow]:
    """Event rows `(seq, time, snapshot dict)` for `Database.add_events`: the current snapshot,
    then one every `every` minutes until `until` (or the driver's end).

    Targets are absolute multiples of `every`, so float steps never drift off the grid.
    """
    if every <= 0:
        raise ValueError("every must be positive")
    snap = driver.snapshot()
    start = snap.time
    rows: list[EventRow] = [(0, snap.time, snap.to_dict())]
    k = 0
    while not driver.done and snap.time < until - 1e-9:
        k += 1
        target = min(start + k * every, until)
        snap = driver.advance(target - snap.time)
        rows.append((k, snap.time, snap.to_dict()))
    return rows


def replay_from_rows(
    rows: Iterable[tuple[int, float, Mapping[str, Any]]], label: str = "replay"
) -> ReplayDriver:
    """A ReplayDriver over event rows as `record` makes them or `Database.events` returns them."""
    ordered = sorted(rows, key=lambda r: r[0])
    return ReplayDriver([LineSnap.from_dict(dict(payload)) for _, _, payload in ordered], label)


def replay_run(db: Any, run_id: int, label: str | None = None) -> ReplayDriver:
    """A ReplayDriver over a stored run's events (`db` is a `store.runlog.Database`)."""
    rows = db.events(run_id)
    if not rows:
        raise ValueError(f"run {run_id} has no recorded events to replay")
    return replay_from_rows(rows, label or f"replay of run {run_id}")
