"""The window's overlays: key help on h / ?, and a notice while a learned pane computes."""

from __future__ import annotations

import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import pygame  # noqa: E402
from test_viz import colours_in  # noqa: E402
from test_viz_lockstep import short_smt, tiny_actor  # noqa: E402

from factory_twin.viz import theme  # noqa: E402
from factory_twin.viz.app import App  # noqa: E402
from factory_twin.viz.drivers import HeuristicDriver  # noqa: E402
from factory_twin.viz.learned import LearnedDriver  # noqa: E402
from factory_twin.viz.overlay import KEYS, draw_help  # noqa: E402


def key(app: App, k: int, unicode: str = "") -> None:
    app.handle(pygame.event.Event(pygame.KEYDOWN, key=k, mod=0, unicode=unicode))


def test_help_card_toggles_and_lists_every_key() -> None:
    pygame.font.init()
    app = App([HeuristicDriver(short_smt(), 0, "fifo")], surface=pygame.Surface((1280, 800)))
    app.draw()
    card = draw_help(pygame.Surface((1280, 800)))
    assert card.height >= 24 * len(KEYS)
    before = colours_in(app.surface, card)
    key(app, pygame.K_h)
    assert app.show_help
    app.draw()
    assert colours_in(app.surface, card) != before
    assert theme.ACCENT in colours_in(app.surface, card)
    key(app, pygame.K_SLASH, "?")
    assert not app.show_help


def test_pane_still_computing_shows_a_notice_and_exports_never_do() -> None:
    pygame.font.init()
    sc = short_smt()
    learned = LearnedDriver(sc, tiny_actor(sc), 0, "lorasa", start=60)
    app = App([learned], surface=pygame.Surface((1280, 800)), start=60.0)
    app.draw()  # nothing captured yet: the pane still shows minute 0
    line_area = app.layouts[0].line_area
    assert theme.WARN in colours_in(app.surface, line_area)
    app.show_status = False
    app.draw()
    assert theme.WARN not in colours_in(app.surface, line_area)
    app.show_status = True
    app.seek(70.0, wait=True)
    app.draw()
    assert theme.WARN not in colours_in(app.surface, line_area)
    learned.close()
