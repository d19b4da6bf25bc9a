"""A whole run recorded compactly for replay: a key snapshot every simulated hour and, in
between, only what changed at each simulated minute.

Why not frames: a full snapshot every minute of an 88-hour horizon is megabytes per run,
yet from one minute to the next only a few machines change state and a few counters move.
So each event row (`Database.add_events`) holds one hour as a chunk:

    {"format": FORMAT, "key": <LineSnap dict at the hour's start>,
     "steps": [[time, changes], ...] or [[time, changes, slow], ...]}

`changes` is a flat list `[slot, change, slot, change, ...]`: the whole-number fields that
changed since the previous step and by how much (`slots`: line totals, then per station its
buffer counts, counters and each machine's state and product). `slow` (every SLOW_MINUTES)
carries the fields that drift continuously: time-in-state fractions and machine ages,
rounded, and a learned policy's action probabilities. Throughput is recomputed from the
good parts.

Size, measured by tests/test_viz_replay.py over the whole horizon of the shipped lines
(five or six stations, min-setup): 5.1 to 6.8 KB of JSON per simulated hour (under 8 KB is
checked), a twentieth of what a full snapshot every minute takes (113 to 134 KB per hour).
Whole-number fields replay exactly at every recorded minute; the slow fields are at most
SLOW_MINUTES old and rounded (fractions to 0.001, ages to whole minutes). Nothing here
imports pygame.
"""

from __future__ import annotations

import bisect
import copy
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from factory_twin.sim.line import STATES
from factory_twin.sim.snapshot import LineSnap, MachineSnap, StationSnap

FORMAT = "keyed-changes/1"
STEP_MINUTES = 1.0  # the recording's time resolution
KEY_MINUTES = 60.0  # one key snapshot (and one event row) per simulated hour
SLOW_MINUTES = 10.0

EventRow = tuple[int, float, dict[str, Any]]


def slots(snap: LineSnap) -> list[int]:
    """The snapshot's whole-number fields in a fixed order (the `changes` slots)."""
    out = [snap.good, snap.scrapped, snap.wip]
    for st in snap.stations:
        out += st.buffer
        out += [st.processed, st.scrapped, st.setups, st.pms, st.failures]
        for m in st.machines:
            out += [STATES.index(m.state), m.product]
    return out


def slow_fields(snap: LineSnap) -> list[list[float]]:
    """Per station: its fractions in STATES order, its machines' ages, then action probs."""
    return [
        [round(st.state_fractions.get(s, 0.0), 3) for s in STATES]
        + [round(m.age) for m in st.machines]
        + [round(p, 3) for p in st.action_probs or []]
        for st in snap.stations
    ]


def _changes(old: Sequence[int], new: Sequence[int]) -> list[int]:
    out: list[int] = []
    for i, (a, b) in enumerate(zip(old, new, strict=True)):
        if a != b:
            out += [i, b - a]
    return out


def _key(snap: LineSnap) -> dict[str, Any]:
    """The snapshot as a key: its slow fields rounded as in `slow_fields` (an hour's key is
    no more precise than its steps)."""
    d = snap.to_dict()
    for st, row in zip(d["stations"], slow_fields(snap), strict=True):
        n = len(STATES)
        st["state_fractions"] = dict(zip(STATES, row[:n], strict=True))
        for m, age in zip(st["machines"], row[n:], strict=False):
            m["age"] = age
        if st["action_probs"] is not None:
            st["action_probs"] = row[n + len(st["machines"]) :]
    return d


def _assemble(key: LineSnap, values: Sequence[int], slow: list[list[float]] | None, t: float):
    """A snapshot at `t` from the chunk's `key`, the current slot `values` and slow fields."""
    it = iter(values[3:])
    stations = []
    for k, st in enumerate(key.stations):
        buffer = [next(it) for _ in st.buffer]
        processed, scrapped, setups, pms, failures = (next(it) for _ in range(5))
        states = [(STATES[next(it)], next(it)) for _ in st.machines]
        fractions, ages, probs = dict(st.state_fractions), [m.age for m in st.machines], None
        if slow is not None:
            row, n = slow[k], len(STATES)
            fractions = dict(zip(STATES, row[:n], strict=True))
            ages = row[n : n + len(st.machines)]
            probs = row[n + len(st.machines) :] or None
        elif st.action_probs is not None:
            probs = list(st.action_probs)
        machines = [MachineSnap(s, p, a) for (s, p), a in zip(states, ages, strict=True)]
        stations.append(
            StationSnap(
                st.name,
                buffer,
                st.capacity,
                machines,
                processed,
                scrapped,
                setups,
                pms,
                failures,
                fractions,
                probs,
            )  # fmt: skip
        )
    window = t - float(key.extra.get("warmup", 0.0))
    good = values[0]
    return LineSnap(t, list(key.products), stations, good, values[1], values[2],
                    good / window if window > 0 else 0.0, copy.deepcopy(key.extra))  # fmt: skip


def record_run(
    driver: Any, until: float | None = None, step: float = STEP_MINUTES
) -> list[EventRow]:
    """Event rows for the run of `driver` (a viewer driver) from where it is to `until` (default:
    its end), one chunk per KEY_MINUTES. The step is rounded up to the driver's grid."""
    grid = float(getattr(driver, "grid", 0.0))
    step = math.ceil(step / grid - 1e-9) * grid if grid > 0 else step
    snap = driver.snapshot()
    origin = snap.time
    end = float(snap.extra.get("end", math.inf)) if until is None else until
    rows: list[EventRow] = []
    steps: list[list[Any]] = []
    previous: list[int] = []
    chunk_start = last_slow = -math.inf
    k = 0
    while True:
        values = slots(snap)
        if snap.time - chunk_start >= KEY_MINUTES - 1e-9:
            steps = []
            chunk = {"format": FORMAT, "key": _key(snap), "steps": steps}
            rows.append((len(rows), snap.time, chunk))
            chunk_start = last_slow = snap.time
        else:
            entry: list[Any] = [snap.time, _changes(previous, values)]
            if snap.time - last_slow >= SLOW_MINUTES - 1e-9:
                entry.append(slow_fields(snap))
                last_slow = snap.time
            steps.append(entry)
        previous = values
        if driver.done or snap.time >= end - 1e-9:
            return rows
        k += 1
        snap = driver.advance_to(min(origin + k * step, end))


class Recording:
    """Decoded chunks with random access: `at(t)` is the state recorded at or before `t`.
    Playing forward applies one step's changes at a time; going back restarts from the
    hour's key snapshot (at most KEY_MINUTES / STEP_MINUTES steps)."""

    def __init__(self, chunks: Iterable[Mapping[str, Any]]) -> None:
        self.keys: list[LineSnap] = []
        self.steps: list[list[list[Any]]] = []
        for chunk in sorted(chunks, key=lambda c: c["key"]["time"]):
            self.keys.append(LineSnap.from_dict(copy.deepcopy(dict(chunk["key"]))))
            self.steps.append(list(chunk.get("steps", [])))
        if not self.keys:
            raise ValueError("a replay needs at least one recorded snapshot")
        self._key_times = [k.time for k in self.keys]
        self._pos = (-1, -1)  # (chunk, step) of `_snap`; step -1 is the key itself
        self._values: list[int] = []
        self._slow: list[list[float]] | None = None
        self._snap = self.keys[0]

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[int, float, Mapping[str, Any]]]) -> Recording:
        """From event rows; rows that hold a plain snapshot (older recordings) become keys."""
        ordered = [dict(p) for _, _, p in sorted(rows, key=lambda r: r[0])]
        return cls(p if p.get("format") == FORMAT else {"key": p} for p in ordered)

    @classmethod
    def from_snaps(cls, snaps: Sequence[LineSnap]) -> Recording:
        return cls({"key": s.to_dict()} for s in snaps)

    @property
    def start(self) -> float:
        return self.keys[0].time

    @property
    def end(self) -> float:
        last = self.steps[-1]
        return float(last[-1][0]) if last else self.keys[-1].time

    def at(self, t: float) -> LineSnap:
        # times are rounded to 1e-4 in snapshots: stepping by the interval must land on each
        chunk = max(bisect.bisect_right(self._key_times, t + 1e-3) - 1, 0)
        steps = self.steps[chunk]
        times = [s[0] for s in steps]  # short: at most one hour of steps
        target = bisect.bisect_right(times, t + 1e-3) - 1
        c, s = self._pos
        if c != chunk or s > target:  # another hour, or back in time: start from the key
            key = self.keys[chunk]
            c, s, self._values, self._slow = chunk, -1, slots(key), None
            self._snap = key
        for entry in steps[s + 1 : target + 1]:
            changes = entry[1]
            for i in range(0, len(changes), 2):
                self._values[changes[i]] += changes[i + 1]
            if len(entry) > 2:
                self._slow = entry[2]
        if target > s:
            self._snap = _assemble(self.keys[chunk], self._values, self._slow, steps[target][0])
        self._pos = (c, max(s, target))
        return self._snap
