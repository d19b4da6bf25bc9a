"""Pixel tests of the charts view: the Gantt strip shows each station's state over the right
stretch of simulated time, the throughput and WIP lines sit at the heights their values
give, and side by side both panes use one set of axes.

Headless (SDL dummy driver). Positions come from the same geometry functions the renderer
uses (`charts_layout`, `gantt_rows`, `time_x`, `plot_rect`, `value_y`).
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import pygame  # noqa: E402

from factory_twin.sim.snapshot import LineSnap, MachineSnap, StationSnap  # noqa: E402
from factory_twin.viz import theme  # noqa: E402
from factory_twin.viz.app import App  # noqa: E402
from factory_twin.viz.charts import (  # noqa: E402
    OTHER_SERIES,
    charts_layout,
    nice_ceiling,
    plot_rect,
    shared_axes,
    value_y,
)
from factory_twin.viz.detail import machine_rows  # noqa: E402
from factory_twin.viz.drivers import HeuristicDriver  # noqa: E402
from factory_twin.viz.gantt import gantt_rows, time_x  # noqa: E402
from factory_twin.viz.pane import PaneState  # noqa: E402
from factory_twin.viz.render import draw_frame  # noqa: E402
from factory_twin.viz.timeline import station_state  # noqa: E402
from factory_twin.viz.widgets import content  # noqa: E402

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
SIZE = (1280, 760)
BUSY, DOWN = theme.STATE_COLOURS["busy"], theme.STATE_COLOURS["down"]


@pytest.fixture(scope="module", autouse=True)
def _fonts() -> None:
    pygame.font.init()


def snap_at(t: float, down: set[int] = frozenset(), wip: int = 10, good: int = 0) -> LineSnap:
    """Three one-machine stations (the middle one with two machines), all busy except the
    stations in `down`, whose first machine is down."""
    stations = []
    for i, name in enumerate(("cut", "weld", "paint")):
        states = ["down" if i in down else "busy"] + (["busy"] if i == 1 else [])
        stations.append(
            StationSnap(
                name, [1], 5, [MachineSnap(s, 0, 1.0) for s in states], 0, 0, 0, 0, 0, {"busy": 1.0}
            )  # fmt: skip
        )
    return LineSnap(t, ["a"], stations, good, 0, wip, 0.0, {"warmup": 0.0, "end": 1000.0})


def play(snaps: list[LineSnap]) -> PaneState:
    pane = PaneState.start("test", snaps[0])
    for s in snaps[1:]:
        pane.update(s)
    return pane


def known_run() -> list[LineSnap]:
    """Every 5 minutes for 240 minutes: `weld` (station 1) down from 100 to 160, WIP 10 until
    120 and 30 after, 20 good parts an hour."""
    return [
        snap_at(t, {1} if 100 <= t < 160 else set(), 10 if t < 120 else 30, round(t / 3))
        for t in range(0, 241, 5)
    ]


def chart_areas(surface: pygame.Surface, panes: list[PaneState]):
    lays = draw_frame(surface, panes, view="charts")
    pairs = zip(lays, panes, strict=True)
    return [charts_layout(content(lay.kpi), len(p.snap.stations)) for lay, p in pairs]


def near(surface: pygame.Surface, x: int, y: int, colour: tuple[int, int, int]) -> bool:
    """`colour` within one pixel of (x, y) (lines are 2 pixels wide, antialiasing off)."""
    return any(
        tuple(surface.get_at((x + dx, y + dy)))[:3] == colour
        for dx in (-1, 0, 1)
        for dy in (-1, 0, 1)
    )


def test_gantt_row_of_a_station_forced_down_is_red_over_its_downtime() -> None:
    surface = pygame.Surface(SIZE)
    pane = play(known_run())
    ((_, _, gantt, _),) = chart_areas(surface, [pane])
    axes = shared_axes([pane])
    assert (axes.t0, axes.t1) == (0.0, 240.0)
    _, rows = gantt_rows(gantt, 3)
    weld, cut = rows[1], rows[0]

    def colour(row: pygame.Rect, t: float) -> tuple[int, int, int]:
        return tuple(surface.get_at((time_x(row, 0.0, 240.0, t), row.centery)))[:3]

    for t in (102, 130, 158):
        assert colour(weld, t) == DOWN, t
        assert colour(cut, t) == BUSY, t
    for t in (2, 60, 98, 162, 238):
        assert colour(weld, t) == BUSY, t
    # the red run spans exactly the pixels of [100, 160]
    y = weld.centery
    red = [x for x in range(weld.left, weld.right) if tuple(surface.get_at((x, y)))[:3] == DOWN]
    assert red[0] == time_x(weld, 0.0, 240.0, 100.0)
    assert red[-1] == time_x(weld, 0.0, 240.0, 160.0) - 1


def test_detail_panel_shows_the_down_machine_row_only_for_that_machine() -> None:
    surface = pygame.Surface(SIZE)
    pane = play(known_run())
    (lay,) = draw_frame(surface, [pane], selected=1, view="charts")
    area = content(lay.detail)
    col_w = (area.width - 16) // 2
    # below the two machine lines (17 px each, then 4)
    rows = machine_rows(pygame.Rect(area.x, area.y + 2 * 17 + 4, col_w, area.bottom), 2)
    assert len(rows) == 2
    at = time_x(rows[0], 0.0, 240.0, 130.0)
    assert tuple(surface.get_at((at, rows[0].centery)))[:3] == DOWN
    assert tuple(surface.get_at((at, rows[1].centery)))[:3] == BUSY
    assert tuple(surface.get_at((time_x(rows[0], 0.0, 240.0, 200.0), rows[0].centery)))[:3] == BUSY


def test_wip_and_throughput_lines_sit_at_their_values() -> None:
    surface = pygame.Surface(SIZE)
    pane = play(known_run())
    ((thr, wip, _, _),) = chart_areas(surface, [pane])
    axes = shared_axes([pane])
    assert axes.wip_max == nice_ceiling(30) == 50
    plot = plot_rect(wip)
    for t, v in ((60.0, 10), (200.0, 30)):
        x = time_x(plot, axes.t0, axes.t1, t)
        assert near(surface, x, value_y(plot, v, 50), theme.SPARK), (t, v)
    x = time_x(plot, axes.t0, axes.t1, 60.0)
    assert not near(surface, x, value_y(plot, 30, 50), theme.SPARK)  # not at the later level
    # 20 good parts per hour, once the rolling hour is full
    assert pane.history[-1][1] == pytest.approx(20.0, abs=0.5)
    assert axes.throughput_max == nice_ceiling(max(v for _, v in pane.history)) == 25
    plot = plot_rect(thr)
    x = time_x(plot, axes.t0, axes.t1, 200.0)
    assert near(surface, x, value_y(plot, 20.0, 25), theme.SPARK)


def test_side_by_side_charts_share_axes_and_draw_the_other_pane_thin() -> None:
    surface = pygame.Surface(SIZE)
    high = play(known_run())
    low = play([snap_at(t, wip=10) for t in range(0, 241, 5)])
    areas = chart_areas(surface, [low, high])
    axes = shared_axes([low, high])
    assert axes.wip_max == 50  # the larger pane's range, for both
    plot = plot_rect(areas[0][1])  # the low pane's WIP chart
    x = time_x(plot, axes.t0, axes.t1, 200.0)
    assert near(surface, x, value_y(plot, 10, 50), theme.SPARK)  # its own line
    assert near(surface, x, value_y(plot, 30, 50), OTHER_SERIES)  # the other pane's, thin
    other = plot_rect(areas[1][1])
    assert near(
        surface, time_x(other, axes.t0, axes.t1, 200.0), value_y(other, 30, 50), theme.SPARK
    )


def test_gantt_of_a_real_run_ends_in_each_stations_current_state() -> None:
    driver = HeuristicDriver(SCENARIOS / "engine.yaml", 0, "min-setup")
    app = App([driver], surface=pygame.Surface(SIZE))
    app.view = "charts"
    app.seek(900.0)
    app.draw()
    ((_, _, gantt, _),) = [charts_layout(content(lay.kpi), 5) for lay in app.layouts]
    _, rows = gantt_rows(gantt, len(app.panes[0].snap.stations))
    axes = shared_axes(app.panes)
    assert axes.t1 == pytest.approx(900.0) and axes.t0 == pytest.approx(900.0 - 480.0)
    snaps_seen = {tuple(s for _, s in runs) for runs in app.panes[0].timeline.stations}
    assert any(len(states) > 1 for states in snaps_seen)  # states did change over the window
    for row, st in zip(rows, app.panes[0].snap.stations, strict=True):
        last = tuple(app.surface.get_at((row.right - 1, row.centery)))[:3]
        assert last == theme.state_colour(station_state(st)), st.name


def test_key_g_switches_between_kpis_and_charts() -> None:
    pane_snaps = known_run()
    app = App([_Fixed(pane_snaps)], surface=pygame.Surface(SIZE))
    app.seek(240.0)
    app.draw()
    kpis = pygame.image.tobytes(app.surface, "RGB")
    app.handle(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_g, mod=0, unicode="g"))
    assert app.view == "charts"
    app.draw()
    assert pygame.image.tobytes(app.surface, "RGB") != kpis
    (_, _, gantt, _) = charts_layout(content(app.layouts[0].kpi), 3)
    _, rows = gantt_rows(gantt, 3)
    assert tuple(app.surface.get_at((time_x(rows[1], 0, 240, 130), rows[1].centery)))[:3] == DOWN


class _Fixed:
    """A driver over a list of snapshots (forward only), for App tests."""

    label = "fixed"
    grid = 0.0
    available = float("inf")

    def __init__(self, snaps: list[LineSnap]) -> None:
        self.snaps, self.i = snaps, 0

    @property
    def time(self) -> float:
        return self.snaps[self.i].time

    @property
    def done(self) -> bool:
        return self.i == len(self.snaps) - 1

    def snapshot(self) -> LineSnap:
        return copy.deepcopy(self.snaps[self.i])

    def advance_to(self, time: float, wait: bool = True) -> LineSnap:
        while self.i + 1 < len(self.snaps) and self.snaps[self.i + 1].time <= time + 1e-9:
            self.i += 1
        return self.snaps[self.i]

    def advance(self, minutes: float) -> LineSnap:
        return self.advance_to(self.time + minutes)
