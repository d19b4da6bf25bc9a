"""The difference strip under two panes: numbers, wording, and where its bars are drawn."""

from __future__ import annotations

import copy
import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import pygame  # noqa: E402
from test_viz import colours_in, pixel, station, synthetic  # noqa: E402

from factory_twin.viz import theme  # noqa: E402
from factory_twin.viz.compare import frame_areas, gap_cells, gaps  # noqa: E402
from factory_twin.viz.pane import PaneState  # noqa: E402
from factory_twin.viz.render import draw_frame  # noqa: E402


def two_snaps():
    left = synthetic([station("cut", [1, 0], 4, ["busy"]), station("pack", [0, 0], 4, ["busy"])])
    right = copy.deepcopy(left)
    right.good, right.wip = 15, 9  # 6 more good parts (better), 2 more WIP (worse)
    return left, right


def test_gaps_are_right_minus_left_with_a_verdict() -> None:
    good, throughput, wip = gaps(*two_snaps())
    assert (good.delta, good.better, good.text()) == (6, True, "good parts +6  (right better)")
    assert throughput.delta == 0 and throughput.better is None
    assert "level" in throughput.text()
    assert (wip.delta, wip.better) == (2, False)
    assert good.share == 6 / 15


def test_strip_draws_signed_bars_below_both_panes() -> None:
    pygame.font.init()
    surface = pygame.Surface((1600, 800))
    left, right = two_snaps()
    lays = draw_frame(surface, [PaneState.start("l", left), PaneState.start("r", right)])
    panes, strip = frame_areas(surface.get_rect(), 2)
    assert strip is not None and all(p.bottom <= strip.top for p in panes)
    assert [lay.rect for lay in lays] == panes
    (_, good), (_, level), (_, wip) = gap_cells(strip, 3)
    y = good.centery
    assert pixel(surface, (good.centerx + 4, y)) == theme.GAP_BETTER
    assert pixel(surface, (good.centerx - 4, y)) == theme.BAR_BG  # the bar grows to the right
    assert pixel(surface, (wip.centerx + 4, y)) == theme.GAP_WORSE
    assert not {theme.GAP_BETTER, theme.GAP_WORSE} & colours_in(surface, level)
    one = pygame.Surface((900, 800))
    draw_frame(one, [PaneState.start("l", left)])
    assert frame_areas(one.get_rect(), 1)[1] is None
    assert theme.GAP_BETTER not in colours_in(one, one.get_rect())
