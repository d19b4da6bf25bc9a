"""The Gantt strip: one row per station (or per machine), coloured by state over a recent
window of simulated time, in the same state colours as the lamps.

Why rows of runs: setups, breakdowns, PM and the batching a policy settles into are patterns
in time that a single frame cannot show. Geometry (`gantt_rows`, `time_x`) is exposed so the
pixel tests read colours where the renderer put them.
"""

from __future__ import annotations

from collections.abc import Sequence

import pygame

from factory_twin.viz import theme
from factory_twin.viz.text import cache
from factory_twin.viz.timeline import Run, spans

ROW_H_MAX = 18
_ROW_GAP = 1
LABEL_W_MAX = 96


def time_x(strip: pygame.Rect, t0: float, t1: float, t: float) -> int:
    """The x pixel of simulated time `t` in a strip showing [t0, t1]."""
    span = max(t1 - t0, 1e-9)
    return strip.x + round((min(max(t, t0), t1) - t0) / span * strip.width)


def gantt_rows(rect: pygame.Rect, n: int) -> tuple[pygame.Rect, list[pygame.Rect]]:
    """(the strip area right of the labels, one row rectangle per line) inside `rect`. Rows
    share the height (at most 18 pixels each, at least 1); all rows use the same x range."""
    n = max(n, 1)
    label_w = min(LABEL_W_MAX, rect.width // 4)
    strip = pygame.Rect(rect.x + label_w, rect.y, rect.width - label_w, rect.height)
    row_h = max(min(ROW_H_MAX, rect.height // n - _ROW_GAP), 1)
    pitch = row_h + (_ROW_GAP if rect.height // n > row_h else 0)
    rows = [pygame.Rect(strip.x, rect.y + i * pitch, strip.width, row_h) for i in range(n)]
    return strip, rows


def draw_runs(
    surface: pygame.Surface, row: pygame.Rect, runs: list[Run], t0: float, t1: float
) -> None:
    """One row: background, then one rectangle per state run inside [t0, t1]; the state in
    force at `t1` (just seen, so its run may have no length yet) takes the last pixel."""
    pygame.draw.rect(surface, theme.BAR_BG, row)
    for lo, hi, state in spans(runs, t0, t1):
        x0, x1 = time_x(row, t0, t1, lo), time_x(row, t0, t1, hi)
        if x1 > x0:
            pygame.draw.rect(surface, theme.state_colour(state), (x0, row.y, x1 - x0, row.height))
    if runs and runs[-1][0] <= t1:
        colour = theme.state_colour(runs[-1][1])
        pygame.draw.rect(surface, colour, (row.right - 1, row.y, 1, row.height))


def draw_gantt(
    surface: pygame.Surface,
    rect: pygame.Rect,
    names: Sequence[str],
    runs: Sequence[list[Run]],
    window: tuple[float, float],
    selected: int | None = None,
) -> list[pygame.Rect]:
    """Labelled rows for `names` with their `runs` over `window` = (t0, t1); the `selected`
    row is outlined and its name highlighted. Returns the row rectangles."""
    text = cache()
    t0, t1 = window
    _, rows = gantt_rows(rect, len(names))
    size = theme.FONT_SMALL if rows and rows[0].height >= 11 else 9
    show_names = bool(rows) and rows[0].height >= 7
    for i, (row, name, row_runs) in enumerate(zip(rows, names, runs, strict=False)):
        draw_runs(surface, row, row_runs, t0, t1)
        chosen = i == selected
        if show_names or chosen:
            colour = theme.SELECTED_BORDER if chosen else theme.TEXT_DIM
            text.blit(surface, name, (row.x - 5, row.centery), size, colour, chosen, "midright",
                      row.x - rect.x - 6, middle=True)  # fmt: skip
        if chosen:
            pygame.draw.rect(surface, theme.SELECTED_BORDER, row.inflate(2, 2), 1)
    return rows
