"""The buffer-level strip: one row per station's input buffer, shaded by how full it was over
the charts' window (dark: empty, bright: full), on the same rows and time axis as the Gantt
strip beside it.

Why shading and not one line chart per buffer: a planner looks for where parts pile up and
where they run dry along a line of up to 40 stations; rows of shade show that at a glance
where 40 small line charts would not. The scale of each row is written at its right: the
buffer's capacity, or for an open-ended buffer the scale its bar uses for the window's peak.
"""

from __future__ import annotations

from collections.abc import Sequence

import pygame

from factory_twin.viz import theme
from factory_twin.viz.gantt import gantt_rows, time_x
from factory_twin.viz.text import cache

Samples = Sequence[tuple[float, tuple[int, ...]]]
SCALE_W = 30  # room right of the rows for each row's scale


def buffer_scale(count: int, capacity: int | None) -> int:
    """Parts a full bar stands for: the capacity, or for an infinite buffer the smallest of
    10, 20, 40, ... that holds `count` (the bar then shows ticks on that scale)."""
    if capacity is not None:
        return max(capacity, 1)
    scale = 10
    while scale < count:
        scale *= 2
    return scale


def level_colour(level: int, scale: int) -> theme.Colour:
    """The shade of `level` parts on a row whose full scale is `scale`."""
    return theme.mix(theme.BAR_BG, theme.LEVEL_FULL, min(level / max(scale, 1), 1.0))


def row_scales(samples: Samples, capacities: Sequence[int | None], t0: float) -> list[int]:
    """Each row's full scale over the window starting at `t0`."""
    peaks = [0] * len(capacities)
    for t, levels in samples:
        if t >= t0 and len(levels) == len(peaks):
            peaks = [max(p, v) for p, v in zip(peaks, levels, strict=True)]
    return [buffer_scale(p, c) for p, c in zip(peaks, capacities, strict=True)]


def levels_rows(rect: pygame.Rect, n: int) -> list[pygame.Rect]:
    """One row rectangle per buffer: the Gantt strip's rows, less the scale column."""
    _, rows = gantt_rows(pygame.Rect(rect.x, rect.y, rect.width - SCALE_W, rect.height), n)
    return rows


def draw_levels(
    surface: pygame.Surface,
    rect: pygame.Rect,
    names: Sequence[str],
    samples: Samples,
    capacities: Sequence[int | None],
    window: tuple[float, float],
) -> list[pygame.Rect]:
    """Labelled rows of buffer levels over `window` = (t0, t1): each sample's shade holds
    until the next sample (the last one until t1). Returns the row rectangles."""
    text = cache()
    t0, t1 = window
    rows = levels_rows(rect, len(names))
    scales = row_scales(samples, capacities, t0)
    usable = [(t, v) for t, v in samples if len(v) == len(names)]
    size = theme.FONT_SMALL if rows and rows[0].height >= 11 else 9
    show_names = bool(rows) and rows[0].height >= 7
    for i, (row, name) in enumerate(zip(rows, names, strict=True)):
        pygame.draw.rect(surface, theme.BAR_BG, row)
        for k, (t, levels) in enumerate(usable):
            end = usable[k + 1][0] if k + 1 < len(usable) else t1
            x0, x1 = time_x(row, t0, t1, max(t, t0)), time_x(row, t0, t1, min(end, t1))
            if x1 > x0 and levels[i]:
                colour = level_colour(levels[i], scales[i])
                pygame.draw.rect(surface, colour, (x0, row.y, x1 - x0, row.height))
        if show_names:
            text.blit(surface, name, (row.x - 5, row.centery), size, theme.TEXT_DIM,
                      anchor="midright", max_width=row.x - rect.x - 6, middle=True)  # fmt: skip
            text.blit(surface, str(scales[i]), (row.right + 4, row.centery), 9, theme.TEXT_DIM,
                      anchor="midleft", max_width=SCALE_W - 4, middle=True)  # fmt: skip
    return rows
