"""The window fits the screen: long lines reflow into rows, nothing is dropped at 40
stations, KPI tile values are never cut off."""

from __future__ import annotations

import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import pygame  # noqa: E402
import pytest  # noqa: E402
from test_viz import colours_in, station, synthetic  # noqa: E402

from factory_twin.viz import theme  # noqa: E402
from factory_twin.viz.compare import frame_areas  # noqa: E402
from factory_twin.viz.kpi_panel import (
    draw_utilisation,
    kpi_layout,
    kpi_tiles,
    tile_value_size,
)  # noqa: E402
from factory_twin.viz.layout import layout, preferred_size  # noqa: E402
from factory_twin.viz.pane import PaneState  # noqa: E402
from factory_twin.viz.render import draw_frame  # noqa: E402
from factory_twin.viz.text import cache  # noqa: E402

SCREEN = (1600, 1000)


@pytest.fixture(autouse=True)
def _fonts() -> None:
    pygame.font.init()


def line_of(n: int, machines: int = 1):
    return synthetic(
        [station(f"station-{i:02d}", [1, 1], 6, ["busy"] * machines) for i in range(n)]
    )


@pytest.mark.parametrize("panes", [1, 2])
@pytest.mark.parametrize("n", [6, 30, 40])
def test_window_fits_the_screen_and_every_station_is_on_it(panes: int, n: int) -> None:
    snaps = [line_of(n, 1 + (n == 30))] * panes
    w, h = preferred_size(snaps, SCREEN)
    assert w <= SCREEN[0] and h <= SCREEN[1]
    surface = pygame.Surface((w, h))
    lays = draw_frame(surface, [PaneState.start(f"p{i}", s) for i, s in enumerate(snaps)])
    for lay in lays:
        assert len(lay.stations) == n
        boxes = [s.box for s in lay.stations]
        assert all(lay.rect.contains(b) and lay.line_area.contains(b) for b in boxes)
        assert all(not a.colliderect(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])
        assert lay.line_area.bottom <= lay.kpi.top
        assert lay.kpi.height >= 200  # room for tiles, sparkline and time-in-state rows
        area = lay.kpi.inflate(-20, 0)
        area.height -= 36
        _, _, util = kpi_layout(area, 5, n)
        assert draw_utilisation(surface, util, snaps[0].stations) == n  # none dropped
        assert len({b.top for b in boxes}) == -(
            -n // len({b.left for b in boxes if b.top == boxes[0].top})
        )


def test_without_a_limit_side_by_side_keeps_its_natural_width() -> None:
    assert preferred_size([line_of(10)] * 2)[0] == 2 * 880 + 4
    assert preferred_size([line_of(10)] * 2, SCREEN)[0] <= SCREEN[0]


def test_time_in_state_rows_go_into_columns_and_say_what_is_hidden() -> None:
    stations = line_of(40).stations
    roomy = pygame.Rect(0, 0, 470, 220)
    surface = pygame.Surface((500, 300))
    assert draw_utilisation(surface, roomy, stations) == 40
    assert theme.WARN not in colours_in(surface, roomy)
    cramped = pygame.Rect(0, 0, 300, 60)
    surface.fill((0, 0, 0))
    drawn = draw_utilisation(surface, cramped, stations)
    assert 0 < drawn < 40
    assert theme.WARN in colours_in(surface, cramped)  # "+N more: enlarge the window"


def test_kpi_tile_values_fit_their_tiles_side_by_side() -> None:
    pane_w = (SCREEN[0] - 4) // 2
    lay = layout(line_of(30), pygame.Rect(0, 0, pane_w, SCREEN[1]))
    area = lay.kpi.inflate(-20, 0)
    for tile in kpi_tiles(area, 5):
        assert area.contains(tile)
        for value in ("12d 23:59", "123,456", "1234.5/h", "73.4/h"):
            size = tile_value_size(value, tile.width - 10)
            assert cache().font(size, True).size(value)[0] <= tile.width - 10


def test_two_panes_and_strip_share_the_limited_width() -> None:
    w, h = preferred_size([line_of(12)] * 2, SCREEN)
    panes, strip = frame_areas(pygame.Rect(0, 0, w, h), 2)
    assert strip is not None and strip.width == w and panes[1].right <= w
