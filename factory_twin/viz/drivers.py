"""Sources of line snapshots for the viewer: a live simulation, or a recorded run (the
recording format is in `recording`).

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

import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from factory_twin.policy.registry import heuristic
from factory_twin.scenario import Scenario, load_scenario
from factory_twin.scenario.capacity import nominal_bound
from factory_twin.sim.line import Line
from factory_twin.sim.snapshot import LineSnap, snapshot
from factory_twin.viz.recording import Recording


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


def snapshot_extra(scenario: Scenario, policy: str, seed: int) -> dict[str, Any]:
    """What every live driver's snapshots carry besides the line's state, so the viewer can say
    when counters start and the horizon ends, what runs, and which station `validate` names as
    the bottleneck (-1: the arrivals), also when the run is replayed later."""
    h = scenario.horizon
    return {
        "warmup": h.warmup,
        "end": h.warmup + h.length,
        "policy": policy,
        "seed": seed,
        "scenario": scenario.name,
        "bottleneck": nominal_bound(scenario).bottleneck,
    }


class HeuristicDriver:
    """A live simulation of a scenario under one of the rule-based policies; its snapshots
    carry `snapshot_extra`."""

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
        self._extra = snapshot_extra(scn, policy_name, seed)
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
            snap.extra = dict(self._extra)
            self._snap = snap
        return self._snap


class ReplayDriver:
    """Plays back a `recording.Recording`: at time t it shows the state recorded at or before
    t. Unlike a live run it can `rewind`, which is what lets the viewer seek back."""

    def __init__(self, recording: Recording, label: str = "replay") -> None:
        self.recording = recording
        self.label = label
        self._time = recording.start

    @property
    def time(self) -> float:
        return self._time

    @property
    def done(self) -> bool:
        return self._time >= self.recording.end

    @property
    def end(self) -> float:
        return self.recording.end

    available = math.inf
    grid = 0.0

    def advance(self, minutes: float) -> LineSnap:
        return self.advance_to(self._time + max(minutes, 0.0))

    def advance_to(self, time: float, wait: bool = True) -> LineSnap:
        self._time = min(max(time, self._time), self.recording.end)
        return self.snapshot()

    def rewind(self, time: float) -> LineSnap:
        """Go back (or forward) to `time`, clamped to the recording."""
        self._time = min(max(time, self.recording.start), self.recording.end)
        return self.snapshot()

    def snapshot(self) -> LineSnap:
        return self.recording.at(self._time)


def replay_label(run_id: int, snap: LineSnap) -> str:
    """What a replay shows: the run and, where the recording says, scenario, policy and seed."""
    extra = snap.extra
    parts = [f"replay of run {run_id}"]
    parts += [str(extra[k]) for k in ("scenario", "policy") if k in extra]
    if "seed" in extra:
        parts.append(f"seed {extra['seed']}")
    return " · ".join(parts)


def replay_from_rows(
    rows: Iterable[tuple[int, float, Mapping[str, Any]]], label: str = "replay"
) -> ReplayDriver:
    """A ReplayDriver over event rows as `record_run` makes them or `Database.events` returns."""
    return ReplayDriver(Recording.from_rows(rows), label)


def replay_run(db: Any, run_id: int) -> ReplayDriver:
    """A ReplayDriver over a stored run's events (`db` is a `store.runlog.Database`)."""
    rows = db.events(run_id)
    if not rows:
        raise ValueError(f"run {run_id} has no recorded events to replay")
    recording = Recording.from_rows(rows)
    return ReplayDriver(recording, replay_label(run_id, recording.keys[0]))
