"""The viewer's marks and buffer levels: `validate`'s bottleneck and the station limiting the
line right now (active-period method) on the station boxes, and each buffer's level over
time in the charts view.

Headless (SDL dummy driver). Positions come from the renderer's own geometry functions.
"""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import pygame  # noqa: E402

from factory_twin.scenario.capacity import nominal_bound  # noqa: E402
from factory_twin.scenario.loading import parse_scenario  # noqa: E402
from factory_twin.sim.snapshot import LineSnap, MachineSnap, StationSnap  # noqa: E402
from factory_twin.viz import theme  # noqa: E402
from factory_twin.viz.app import App  # noqa: E402
from factory_twin.viz.charts import charts_layout, shared_axes  # noqa: E402
from factory_twin.viz.drivers import HeuristicDriver  # noqa: E402
from factory_twin.viz.gantt import time_x  # noqa: E402
from factory_twin.viz.levels import level_colour, levels_rows, row_scales  # noqa: E402
from factory_twin.viz.pane import PaneState  # noqa: E402
from factory_twin.viz.render import bottleneck_bar, draw_frame  # noqa: E402
from factory_twin.viz.timeline import active_since, limiting_station  # noqa: E402
from factory_twin.viz.widgets import content  # noqa: E402

SIZE = (1280, 760)


@pytest.fixture(scope="module", autouse=True)
def _fonts() -> None:
    pygame.font.init()


def colour_at(surface: pygame.Surface, x: int, y: int) -> tuple[int, int, int]:
    return tuple(surface.get_at((x, y)))[:3]


# --- the limiting station ------------------------------------------------------------------


def test_active_period_starts_after_the_last_wait_and_ends_with_a_wait() -> None:
    runs = [(0.0, "busy"), (10.0, "starved"), (20.0, "busy"), (30.0, "down"), (45.0, "setup")]
    assert active_since(runs) == 20.0  # down and setup continue the active period
    assert active_since([*runs, (50.0, "blocked")]) is None
    assert active_since([(0.0, "busy"), (5.0, "pm")]) == 0.0  # from the oldest remembered run
    assert active_since([]) is None


def test_limiting_station_is_the_longest_active_one_with_no_machine_waiting() -> None:
    machines = [
        [[(0.0, "busy"), (90.0, "starved"), (95.0, "busy")]],  # active 5 min
        [[(0.0, "busy"), (40.0, "down")], [(0.0, "busy"), (60.0, "idle")]],  # one waits
        [[(0.0, "starved"), (70.0, "busy")], [(50.0, "setup")]],  # active since 70: 30 min
    ]
    assert limiting_station(machines, 100.0) == (2, 30.0)
    machines[2][0].append((99.0, "blocked"))
    assert limiting_station(machines, 100.0) == (0, 5.0)
    machines[0][0].append((99.5, "starved"))
    assert limiting_station(machines, 100.0) is None


def line_snap(t: float, states: list[str], levels: list[int], extra: dict) -> LineSnap:
    """One one-machine station per state, each with its buffer of capacity 8 at `levels`."""
    stations = [
        StationSnap(f"s{i}", [lvl], 8, [MachineSnap(s, 0, 0.0)], 0, 0, 0, 0, 0, {s: 1.0})
        for i, (s, lvl) in enumerate(zip(states, levels, strict=True))
    ]
    return LineSnap(t, ["a"], stations, 0, 0, sum(levels), 0.0, {"warmup": 0.0, **extra})


def alternating_run() -> list[LineSnap]:
    """Every 5 minutes for 240: s1 always busy, s0 and s2 starved every other step; s2's
    buffer full from 100 to 160, half full after, empty before."""
    snaps = []
    for k, t in enumerate(range(0, 241, 5)):
        wait = "starved" if k % 2 else "busy"
        level = 0 if t < 100 else (8 if t < 160 else 4)
        snaps.append(line_snap(t, [wait, "busy", wait], [3, 3, level], {"bottleneck": 2}))
    return snaps


def play(snaps: list[LineSnap]) -> PaneState:
    pane = PaneState.start("marks", snaps[0])
    for s in snaps[1:]:
        pane.update(s)
    return pane


def test_boxes_mark_validates_bottleneck_and_the_station_limiting_now() -> None:
    surface = pygame.Surface(SIZE)
    pane = play(alternating_run())
    assert pane.bottleneck == 2
    assert pane.limiting == (1, 240.0)
    assert pane.marks_text(pane.limiting) == "bottleneck s2  ·  limiting now s1 (active 240 min)"
    (lay,) = draw_frame(surface, [pane])
    for i, sl in enumerate(lay.stations):
        bar = bottleneck_bar(sl)
        assert (colour_at(surface, *bar.center) == theme.BOTTLENECK_MARK) == (i == 2), i
        ring = sl.box.inflate(8, 8)
        ring_pixel = colour_at(surface, ring.centerx, ring.top + 1)
        assert (ring_pixel == theme.LIMITING_MARK) == (i == 1), i


def test_a_recording_without_a_bottleneck_marks_none() -> None:
    snap = line_snap(0.0, ["busy"], [0], {})
    assert PaneState.start("old", snap).bottleneck is None
    assert (
        PaneState.start("arrivals", line_snap(0.0, ["busy"], [0], {"bottleneck": -1})).bottleneck
        is None
    )


# --- buffer levels over time ---------------------------------------------------------------


def test_buffer_strip_shades_each_buffer_by_its_level_over_the_window() -> None:
    surface = pygame.Surface(SIZE)
    pane = play(alternating_run())
    (lay,) = draw_frame(surface, [pane], view="charts")
    _, _, _, levels = charts_layout(content(lay.kpi), 3)
    axes = shared_axes([pane])
    rows = levels_rows(levels, 3)
    assert row_scales(pane.timeline.buffers, [8, 8, 8], axes.t0) == [8, 8, 8]
    full, half = level_colour(8, 8), level_colour(4, 8)
    assert full == theme.LEVEL_FULL and half not in (full, theme.BAR_BG)

    def at(row: pygame.Rect, t: float) -> tuple[int, int, int]:
        return colour_at(surface, time_x(row, axes.t0, axes.t1, t), row.centery)

    for t in (20, 90):
        assert at(rows[2], t) == theme.BAR_BG, t
    for t in (105, 130, 155):
        assert at(rows[2], t) == full, t
    for t in (165, 230):
        assert at(rows[2], t) == half, t
    assert at(rows[0], 130) == level_colour(3, 8)


def test_open_ended_buffer_scale_follows_the_windows_peak() -> None:
    samples = [(0.0, (5, 0)), (10.0, (37, 0)), (20.0, (12, 0))]
    assert row_scales(samples, [None, 4], 0.0) == [40, 4]
    assert row_scales(samples, [None, 4], 15.0) == [20, 4]  # the 37 is outside the window


# --- a real run ----------------------------------------------------------------------------


def slow_middle_line():
    """Three exponential stations; the middle one is four times slower than its neighbours."""
    doc = {
        "name": "slow-middle",
        "horizon": {"warmup": 60.0, "length": 2000.0},
        "products": [{"name": "a"}],
        "source": {"kind": "saturated"},
        "stations": [
            {"name": name, "buffer": 5, "process": {"dist": "exponential", "mean": mean}}
            for name, mean in (("fast-in", 0.5), ("slow", 2.0), ("fast-out", 0.5))
        ],
    }
    return parse_scenario(doc, "slow-middle")


def test_live_driver_names_validates_bottleneck_and_the_slow_station_limits_most() -> None:
    scenario = slow_middle_line()
    driver = HeuristicDriver(scenario, 0, "fifo")
    assert driver.snapshot().extra["bottleneck"] == nominal_bound(scenario).bottleneck == 1
    app = App([driver], surface=pygame.Surface(SIZE))
    seen = []
    for t in range(100, 1100, 10):
        app.seek(float(t))
        now = app.panes[0].limiting
        if now is not None:
            seen.append(now[0])
    assert len(seen) >= 50
    assert seen.count(1) / len(seen) >= 0.8, seen


@pytest.mark.parametrize(("width", "side_by_side"), [(900, True), (400, False)])
def test_strips_sit_below_the_charts_side_by_side_when_wide(width: int, side_by_side: bool):
    area = pygame.Rect(10, 20, width, 600)
    thr, wip, gantt, levels = charts_layout(area, 6)
    for r in (thr, wip, gantt, levels):
        assert area.contains(r), r
    assert not gantt.colliderect(levels)
    assert max(thr.bottom, wip.bottom) <= min(gantt.top, levels.top)
    if side_by_side:
        assert (gantt.y, gantt.height) == (levels.y, levels.height) and gantt.right < levels.x
    else:
        assert gantt.bottom < levels.top and gantt.width == levels.width == area.width
