"""Small drawing pieces shared by the panels: a titled panel background (and where its
content goes) and a stacked time-in-state bar (the same bar in the KPI panel and the station
detail panel)."""

from __future__ import annotations

import pygame

from factory_twin.sim.line import STATES
from factory_twin.viz import theme
from factory_twin.viz.text import cache


def content(rect: pygame.Rect) -> pygame.Rect:
    """The content area of a panel drawn in `rect` (below its title)."""
    return pygame.Rect(rect.x + 10, rect.y + 28, rect.width - 20, rect.height - 36)


def panel(surface: pygame.Surface, rect: pygame.Rect, title: str) -> pygame.Rect:
    """Panel background and title; returns the content area below the title."""
    pygame.draw.rect(surface, theme.PANEL_BG, rect, border_radius=6)
    cache().blit(surface, title, (rect.x + 10, rect.y + 7), theme.FONT_TEXT, theme.TEXT_DIM, True,
                 max_width=rect.width - 20)  # fmt: skip
    return content(rect)


def stacked_bar(surface: pygame.Surface, rect: pygame.Rect, fractions: dict[str, float]) -> None:
    """One bar split into the states' shares, in state order and colours."""
    pygame.draw.rect(surface, theme.BAR_BG, rect)
    total = sum(fractions.values())
    if total <= 0:
        return
    x, acc = rect.x, 0.0
    for s in STATES:
        acc += fractions.get(s, 0.0) / total
        edge = rect.x + round(rect.width * acc)
        if edge > x:
            pygame.draw.rect(surface, theme.state_colour(s), (x, rect.y, edge - x, rect.height))
        x = edge
