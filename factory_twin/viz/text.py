"""Cached fonts and rendered text for the visualizer.

Why: rendering a string with a TrueType font is the most expensive thing a frame does, and
almost every label (station names, legend, axis titles) is the same from one frame to the
next. Fonts are loaded once per size, and rendered surfaces are kept in a bounded LRU so
changing numbers cannot grow memory without limit.
"""

from __future__ import annotations

from collections import OrderedDict

import pygame

from factory_twin.viz import theme

_MAX_SURFACES = 4096


class TextCache:
    """Fonts by (size, bold) and rendered text surfaces by (text, size, colour, bold)."""

    def __init__(self) -> None:
        self._fonts: dict[tuple[int, bool], pygame.font.Font] = {}
        self._surfaces: OrderedDict[tuple, pygame.Surface] = OrderedDict()
        self._fits: dict[tuple, str] = {}
        self._paths: dict[bool, str | None] = {}

    def _path(self, bold: bool) -> str | None:
        if bold not in self._paths:
            path = None
            for face in theme.FONT_FACES:
                path = pygame.font.match_font(face, bold=bold)
                if path:
                    break
            self._paths[bold] = path  # None: pygame's bundled default font
        return self._paths[bold]

    def font(self, size: int, bold: bool = False) -> pygame.font.Font:
        if not pygame.font.get_init():  # first use, or someone called pygame.quit()
            pygame.font.init()
            self._fonts.clear()  # fonts of a previous font session are dead
        key = (size, bold)
        font = self._fonts.get(key)
        if font is None:
            path = self._path(bold)
            font = pygame.font.Font(path, size)
            if path is None and bold:
                font.set_bold(True)
            self._fonts[key] = font
        return font

    def render(
        self, text: str, size: int, colour: theme.Colour = theme.TEXT, bold: bool = False
    ) -> pygame.Surface:
        key = (text, size, colour, bold)
        surf = self._surfaces.get(key)
        if surf is not None:
            self._surfaces.move_to_end(key)
            return surf
        surf = self.font(size, bold).render(text, True, colour)
        self._surfaces[key] = surf
        if len(self._surfaces) > _MAX_SURFACES:
            self._surfaces.popitem(last=False)
        return surf

    def fit(
        self, text: str, size: int, width: int, bold: bool = False, middle: bool = False
    ) -> str:
        """`text`, shortened with an ellipsis if needed so it renders within `width` pixels;
        `middle` cuts from the middle and keeps the end (names like "station-07" differ
        at their end)."""
        key = (text, size, width, bold, middle)
        hit = self._fits.get(key)
        if hit is not None:
            return hit
        font = self.font(size, bold)
        out = text
        if font.size(text)[0] > width:

            def cut(k: int) -> str:
                if not middle:
                    return text[:k] + "…"
                tail = (k + 1) // 2
                return text[: k - tail] + "…" + text[len(text) - tail :]

            lo, hi = 0, len(text)
            while lo < hi:  # the most characters that fit with the ellipsis
                mid = (lo + hi + 1) // 2
                if font.size(cut(mid))[0] <= width:
                    lo = mid
                else:
                    hi = mid - 1
            out = cut(lo) if lo else ""
        if len(self._fits) > _MAX_SURFACES:
            self._fits.clear()
        self._fits[key] = out
        return out

    def blit(
        self,
        surface: pygame.Surface,
        text: str,
        pos: tuple[float, float],
        size: int = theme.FONT_TEXT,
        colour: theme.Colour = theme.TEXT,
        bold: bool = False,
        anchor: str = "topleft",
        max_width: int | None = None,
        middle: bool = False,
    ) -> pygame.Rect:
        """Draw `text` with its `anchor` point (a pygame.Rect attribute name) at `pos`."""
        if max_width is not None:
            text = self.fit(text, size, max_width, bold, middle)
        surf = self.render(text, size, colour, bold)
        rect = surf.get_rect(**{anchor: (round(pos[0]), round(pos[1]))})
        surface.blit(surf, rect)
        return rect


_CACHE: TextCache | None = None


def cache() -> TextCache:
    """The process-wide text cache (created on first use, after pygame.font can start)."""
    global _CACHE
    if _CACHE is None:
        _CACHE = TextCache()
    return _CACHE
