"""What a pane remembers about the recent past for its charts: state runs per station and per
machine (the Gantt strip), WIP samples (the WIP chart; throughput is `PaneState.history`) and
buffer-level samples (the level strip), and which station limits the line right now.

Why runs and not samples: a state holds for minutes to hours, so storing only the times it
changes keeps the memory small and lets the Gantt strip draw one rectangle per run. The runs
come from the snapshots the pane is given (at least every `pane.SAMPLE_MINUTES`, usually every
frame), so a state shorter than the step between two snapshots can be missed: the strip is as
fine as the view's steps. Nothing here imports pygame.

The station limiting the line right now is found by the active-period method (Roser, Nakano
and Tanaka, 2001): a station is active while none of its machines waits (busy, setting up,
in PM or down; not starved, blocked or idle), and the station whose current active period is
the longest is the one the others are waiting for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from factory_twin.sim.snapshot import LineSnap, StationSnap
from factory_twin.viz import theme

WINDOW_MINUTES = 480.0  # the charts and the Gantt strip show the last eight simulated hours
_KEEP_MINUTES = 2 * WINDOW_MINUTES  # runs older than this are dropped

Run = tuple[float, str]  # (start time, state); the run lasts until the next one starts
ACTIVE_STATES = frozenset({"busy", "setup", "pm", "down"})  # a machine not waiting for anything


def station_state(st: StationSnap) -> str:
    """The state a station shows (header, Gantt row): the most notable among its machines."""
    states = {m.state for m in st.machines}
    for s in theme.STATE_PRIORITY:
        if s in states:
            return s
    return "starved"


def _extend(runs: list[Run], time: float, state: str) -> None:
    if not runs or runs[-1][1] != state:
        runs.append((time, state))


def _trim(runs: list[Run], before: float) -> None:
    """Drop runs that ended before `before` (the run in force at `before` is kept)."""
    k = 0
    while k + 1 < len(runs) and runs[k + 1][0] <= before:
        k += 1
    del runs[:k]


def spans(runs: list[Run], t0: float, t1: float) -> list[tuple[float, float, str]]:
    """(start, end, state) of the runs clipped to [t0, t1], the last one ending at `t1`."""
    out = []
    for k, (start, state) in enumerate(runs):
        end = runs[k + 1][0] if k + 1 < len(runs) else t1
        lo, hi = max(start, t0), min(end, t1)
        if hi > lo:
            out.append((lo, hi, state))
    return out


def active_since(runs: list[Run]) -> float | None:
    """When the machine's current active period began (None while it waits). A period that
    began before the remembered runs counts from the oldest run."""
    if not runs or runs[-1][1] not in ACTIVE_STATES:
        return None
    k = len(runs) - 1
    while k > 0 and runs[k - 1][1] in ACTIVE_STATES:
        k -= 1
    return runs[k][0]


def limiting_station(
    machines: Sequence[Sequence[list[Run]]], now: float
) -> tuple[int, float] | None:
    """(station index, minutes active) of the station with the longest current active period,
    every one of its machines active; None when every station has a machine waiting."""
    best: tuple[int, float] | None = None
    for i, per_machine in enumerate(machines):
        starts = [active_since(runs) for runs in per_machine]
        if not starts or None in starts:
            continue
        length = now - max(s for s in starts if s is not None)
        if best is None or length > best[1]:
            best = (i, length)
    return best


@dataclass
class Timeline:
    """State runs per station (`stations`) and per machine (`machines[station][machine]`),
    (time, WIP) samples and (time, parts waiting per station) samples, for the last
    `_KEEP_MINUTES` of simulated time."""

    stations: list[list[Run]] = field(default_factory=list)
    machines: list[list[list[Run]]] = field(default_factory=list)
    wip: list[tuple[float, int]] = field(default_factory=list)
    buffers: list[tuple[float, tuple[int, ...]]] = field(default_factory=list)

    def observe(self, snap: LineSnap, sample_minutes: float) -> None:
        """Take a snapshot (times must not go back); WIP is kept every `sample_minutes`."""
        if len(self.stations) != len(snap.stations):
            self.stations = [[] for _ in snap.stations]
            self.machines = [[[] for _ in st.machines] for st in snap.stations]
        t = snap.time
        for runs, per_machine, st in zip(self.stations, self.machines, snap.stations, strict=True):
            _extend(runs, t, station_state(st))
            for m_runs, m in zip(per_machine, st.machines, strict=False):
                _extend(m_runs, t, m.state)
        if not self.wip or t - self.wip[-1][0] >= sample_minutes - 1e-9:
            self.wip.append((t, snap.wip))
            self.buffers.append((t, tuple(sum(st.buffer) for st in snap.stations)))
        self._forget(t - _KEEP_MINUTES)

    def _forget(self, before: float) -> None:
        for runs, per_machine in zip(self.stations, self.machines, strict=True):
            _trim(runs, before)
            for m_runs in per_machine:
                _trim(m_runs, before)
        for samples in (self.wip, self.buffers):
            k = 0
            while k < len(samples) and samples[k][0] < before:
                k += 1
            del samples[:k]
