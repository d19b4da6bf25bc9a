"""Things drawn over a finished frame: the key-help card and the "computing" notice.

Why separate from the renderer: they belong to the interactive window (what the keys do,
that a learned pane is still being computed), not to a picture of the line, so exported
frames never show them and the pure drawing functions stay about the line.
"""

from __future__ import annotations

import pygame

from factory_twin.viz import theme
from factory_twin.viz.text import cache

KEYS: tuple[tuple[str, str], ...] = (
    ("space", "pause / resume"),
    ("right  /  left", "while paused: one frame's worth of time on / back (back: replays)"),
    ("PgDn  /  PgUp", "jump an hour on / back (also ]  /  [; back: replays)"),
    ("Home  /  End  /  0-9", "jump to the start / the end / that tenth of the run"),
    ("+  /  -", "double / halve the speed (simulated minutes per second)"),
    ("g", "KPI panel or charts: throughput, WIP, Gantt strip of station states"),
    ("click a station", "its detail panel in every pane; click again to close"),
    ("h  or  ?", "show / hide this help"),
    ("Esc", "quit"),
)


def _card(surface: pygame.Surface, rect: pygame.Rect) -> None:
    shade = pygame.Surface(rect.size, pygame.SRCALPHA)
    shade.fill((*theme.PANEL_BG, 235))
    surface.blit(shade, rect)
    pygame.draw.rect(surface, theme.ACCENT, rect, 1, border_radius=6)


def draw_help(surface: pygame.Surface) -> pygame.Rect:
    """The key list, centred on `surface`; returns the card's rectangle."""
    text = cache()
    key_w = max(text.font(theme.FONT_TEXT, True).size(k)[0] for k, _ in KEYS) + 24
    what_w = max(text.font(theme.FONT_TEXT).size(w)[0] for _, w in KEYS)
    row_h = 24
    size = (min(key_w + what_w + 40, surface.get_width() - 20), row_h * (len(KEYS) + 1) + 28)
    rect = pygame.Rect((0, 0), size)
    rect.center = surface.get_rect().center
    _card(surface, rect)
    text.blit(surface, "keys", (rect.x + 16, rect.y + 12), theme.FONT_TEXT, theme.TEXT_DIM, True)
    for i, (key, what) in enumerate(KEYS):
        y = rect.y + 14 + row_h * (i + 1)
        text.blit(surface, key, (rect.x + 16, y), theme.FONT_TEXT, theme.ACCENT, True)
        text.blit(surface, what, (rect.x + 16 + key_w, y), theme.FONT_TEXT, theme.TEXT,
                  max_width=rect.right - 16 - (rect.x + 16 + key_w))  # fmt: skip
    return rect


def draw_notice(surface: pygame.Surface, area: pygame.Rect, message: str) -> pygame.Rect:
    """A one-line card centred in `area` (e.g. a pane whose policy is still computing)."""
    text = cache()
    w = min(text.font(theme.FONT_TEXT, True).size(message)[0] + 40, area.width - 20)
    rect = pygame.Rect(0, 0, w, 40)
    rect.center = area.center
    _card(surface, rect)
    text.blit(surface, message, rect.center, theme.FONT_TEXT, theme.WARN, True, "center",
              rect.width - 20)  # fmt: skip
    return rect
