"""What one pane remembers between frames: its latest snapshot, a throughput history for the
sparkline and the charts, the timeline for the Gantt strip, and the phase of the part dots.

Why here and not in the renderer: a snapshot is one instant, but a sparkline and moving dots
need the past. Keeping that memory in a small object that the caller updates keeps drawing a
pure function of (snapshot, pane state), so the same frame can be drawn twice identically.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from factory_twin.sim.snapshot import LineSnap
from factory_twin.viz.timeline import Timeline, limiting_station

ROLLING_MINUTES = 60.0  # window of the sparkline's rolling throughput
SAMPLE_MINUTES = 5.0  # one sparkline point per this many simulated minutes
MAX_HISTORY = 720
# Dot motion is counted in dot spacings (one part moved = one spacing). Per frame the dots move
# at most _MAX_STEP, so a burst of parts never makes them jump (or alias into standing still).
_MAX_STEP = 0.3
_MIN_STEP = 0.06
_MAX_BACKLOG = 3.0


@dataclass
class PaneState:
    """Per-pane memory. `history` holds (time, good parts per hour over the last hour)."""

    label: str
    snap: LineSnap
    history: list[tuple[float, float]] = field(default_factory=list)
    flow: list[float] = field(default_factory=list)  # dot offset per arrow, in spacings [0, 1)
    timeline: Timeline = field(default_factory=Timeline)  # state runs and WIP for the charts
    _backlog: list[float] = field(default_factory=list, repr=False)
    _goods: deque[tuple[float, int]] = field(default_factory=deque, repr=False)

    @classmethod
    def start(cls, label: str, snap: LineSnap) -> PaneState:
        arrows = len(snap.stations) + 1
        pane = cls(label, snap, flow=[0.0] * arrows, _backlog=[0.0] * arrows)
        pane.timeline.observe(snap, SAMPLE_MINUTES)
        return pane

    @property
    def warmup(self) -> float:
        return float(self.snap.extra.get("warmup", 0.0))

    @property
    def bottleneck(self) -> int | None:
        """The station `validate` names as the bottleneck, where the driver says (None when
        the arrivals limit the line, or for a recording made before drivers said)."""
        index = self.snap.extra.get("bottleneck")
        return index if isinstance(index, int) and 0 <= index < len(self.snap.stations) else None

    @property
    def limiting(self) -> tuple[int, float] | None:
        """(station, minutes) of the station limiting the line now (`limiting_station`)."""
        return limiting_station(self.timeline.machines, self.snap.time)

    def marks_text(self, now: tuple[int, float] | None) -> str:
        """The bottleneck and the limiting station `now` (`limiting`) in words, for the title
        bar."""
        names = [st.name for st in self.snap.stations]
        parts = []
        if self.bottleneck is not None:
            parts.append(f"bottleneck {names[self.bottleneck]}")
        if now is not None:
            parts.append(f"limiting now {names[now[0]]} (active {now[1]:.0f} min)")
        return "  ·  ".join(parts)

    def update(self, snap: LineSnap) -> None:
        """Take the next snapshot: extend the history and queue part-dot motion. Call it as
        often as you like per frame (e.g. in small simulated steps); `animate` once per frame."""
        old, self.snap = self.snap, snap
        if len(self.flow) != len(snap.stations) + 1:
            self.flow = [0.0] * (len(snap.stations) + 1)
            self._backlog = [0.0] * len(self.flow)
        self._queue_flow(old, snap)
        if snap.time > old.time:
            self._record_good(snap)
            self.timeline.observe(snap, SAMPLE_MINUTES)

    def animate(self) -> None:
        """Move the part dots by one frame, easing out the motion queued by `update`."""
        for j, left in enumerate(self._backlog):
            step = min(left, max(_MIN_STEP, left * 0.3), _MAX_STEP)
            self.flow[j] = (self.flow[j] + step) % 1.0
            self._backlog[j] = left - step

    def _queue_flow(self, old: LineSnap, new: LineSnap) -> None:
        """Parts that crossed each arrow since `old`. Counters only run after the warm-up, so
        before that the dots move with the busy share of the upstream station instead."""
        dt = new.time - old.time
        if dt <= 0 or len(old.stations) != len(new.stations):
            return
        counting = new.time >= self.warmup and old.time >= self.warmup
        for j in range(len(self.flow)):
            u = max(j - 1, 0)
            a, b = old.stations[u], new.stations[u]
            if counting:
                moved = (b.processed - a.processed) - (b.scrapped - a.scrapped if j else 0)
                self._backlog[j] += max(moved, 0)
            else:
                busy = sum(m.state == "busy" for m in b.machines) / max(len(b.machines), 1)
                self._backlog[j] += busy * dt
            self._backlog[j] = min(self._backlog[j], _MAX_BACKLOG)

    def _record_good(self, snap: LineSnap) -> None:
        """Rolling good-parts rate; nothing before the warm-up ends (counters are zero there)."""
        warmup = self.warmup
        if snap.time < warmup:
            return
        goods = self._goods
        while goods and goods[0][0] < warmup:
            goods.popleft()
        if not goods:
            goods.append((warmup, 0))  # counters start from zero at the end of the warm-up
        goods.append((snap.time, snap.good))
        while len(goods) > 2 and goods[1][0] <= snap.time - ROLLING_MINUTES:
            goods.popleft()
        t0, g0 = goods[0]
        if snap.time - t0 < SAMPLE_MINUTES:
            return  # too short a window for a meaningful rate
        rate = (snap.good - g0) / (snap.time - t0) * 60.0
        if not self.history or snap.time - self.history[-1][0] >= SAMPLE_MINUTES:
            self.history.append((snap.time, rate))
            if len(self.history) > MAX_HISTORY:
                del self.history[: len(self.history) - MAX_HISTORY]


def clock_text(minutes: float) -> str:
    """Simulated clock as '[Nd ]HH:MM' from minute 0."""
    total = int(minutes)
    days, rest = divmod(total, 1440)
    h, m = divmod(rest, 60)
    return f"{days}d {h:02d}:{m:02d}" if days else f"{h:02d}:{m:02d}"


def kpi_values(snap: LineSnap) -> dict[str, str]:
    """The KPI panel's texts. Counters and throughput cover the measured window (after warm-up)."""
    return {
        "clock": clock_text(snap.time),
        "minutes": f"{snap.time:,.0f} min",
        "good": f"{snap.good:,}",
        "throughput": f"{snap.throughput * 60.0:.1f}/h",
        "wip": f"{snap.wip:,}",
        "scrap": f"{snap.scrapped:,}",
    }
