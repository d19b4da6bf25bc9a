"""The charts view of a pane: throughput and WIP over the last hours with labelled axes, and
below them the Gantt strip of station states beside the strip of buffer levels (key `g`
switches a pane between its KPI panel and this view).

Why shared axes: side by side, two charts with their own scales invite comparing heights
that mean different things. `shared_axes` gives every pane the same time window and the same
value ranges, and each chart also draws the other pane's series thinly, so the gap is read
on one set of axes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import pygame

from factory_twin.viz import theme
from factory_twin.viz.gantt import ROW_H_MAX as GANTT_ROW_MAX
from factory_twin.viz.gantt import draw_gantt, time_x
from factory_twin.viz.levels import draw_levels
from factory_twin.viz.pane import ROLLING_MINUTES, PaneState, clock_text
from factory_twin.viz.text import cache
from factory_twin.viz.timeline import WINDOW_MINUTES
from factory_twin.viz.widgets import panel

Series = Sequence[tuple[float, float]]
OTHER_SERIES: theme.Colour = theme.mix(theme.BAR_BG, theme.TEXT_DIM, 0.6)
_AXIS_W = 34  # room for the value labels left of a chart
_CHART_H_MAX = 220
_CAPTION_H = 22  # the Gantt strip's caption


@dataclass(frozen=True)
class Axes:
    """One time window and one value range per chart, the same for every pane."""

    t0: float
    t1: float
    throughput_max: float
    wip_max: float


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 times a power of ten that is >= `value` (at least 1)."""
    if value <= 1:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value - 1e-9:
            return step * power
    raise AssertionError("unreachable")


def _in_window(series: Series, t0: float) -> list[tuple[float, float]]:
    return [(t, v) for t, v in series if t >= t0]


def shared_axes(panes: Sequence[PaneState], window: float = WINDOW_MINUTES) -> Axes:
    """The last `window` minutes up to the panes' (common) time; before that much has been
    seen, the window starts where the oldest memory starts."""
    t1 = max(p.snap.time for p in panes)
    seen = min(min((r[0][0] for r in p.timeline.stations if r), default=t1) for p in panes)
    t0 = min(max(t1 - window, seen), t1 - 1.0)
    thr = [v for p in panes for _, v in _in_window(p.history, t0)]
    wip = [v for p in panes for _, v in _in_window(p.timeline.wip, t0)]
    return Axes(t0, t1, nice_ceiling(max(thr, default=0.0)), nice_ceiling(max(wip, default=0.0)))


def plot_rect(rect: pygame.Rect) -> pygame.Rect:
    """The plotting area of a chart drawn in `rect` (axis labels left and below)."""
    return pygame.Rect(rect.x + _AXIS_W, rect.y + 16, rect.width - _AXIS_W - 4, rect.height - 30)


def value_y(plot: pygame.Rect, value: float, top: float) -> int:
    return plot.bottom - round(min(max(value / max(top, 1e-9), 0.0), 1.0) * plot.height)


def _points(plot: pygame.Rect, series: Series, axes: Axes, top: float) -> list[tuple[int, int]]:
    return [
        (time_x(plot, axes.t0, axes.t1, t), value_y(plot, v, top))
        for t, v in _in_window(series, axes.t0)
    ]


def draw_chart(
    surface: pygame.Surface,
    rect: pygame.Rect,
    title: str,
    axes: Axes,
    top: float,
    own: Series,
    others: Sequence[Series] = (),
) -> pygame.Rect:
    """A line chart: title, value axis 0..`top` (three labels), time axis with the window's
    start, middle and end as clock times, the other panes' series thin and grey under this
    pane's own series. Returns the plotting area."""
    text = cache()
    plot = plot_rect(rect)
    text.blit(surface, title, (rect.x, rect.y), theme.FONT_SMALL, theme.TEXT_DIM,
              max_width=rect.width)  # fmt: skip
    pygame.draw.rect(surface, theme.BAR_BG, plot)
    for frac in (0.0, 0.5, 1.0):
        y = value_y(plot, top * frac, top)
        if frac:
            pygame.draw.line(surface, theme.PANEL_BG, (plot.x, y), (plot.right - 1, y))
        text.blit(surface, f"{top * frac:g}", (plot.x - 4, y), 10, theme.TEXT_DIM,
                  anchor="midright")  # fmt: skip
    for frac, anchor in ((0.0, "topleft"), (0.5, "midtop"), (1.0, "topright")):
        t = axes.t0 + (axes.t1 - axes.t0) * frac
        text.blit(surface, clock_text(t), (time_x(plot, axes.t0, axes.t1, t), plot.bottom + 2),
                  10, theme.TEXT_DIM, anchor=anchor)  # fmt: skip
    pygame.draw.line(surface, theme.BOX_BORDER, plot.bottomleft, plot.bottomright)
    pygame.draw.line(surface, theme.BOX_BORDER, plot.topleft, plot.bottomleft)
    for series in others:
        pts = _points(plot, series, axes, top)
        if len(pts) >= 2:
            pygame.draw.lines(surface, OTHER_SERIES, False, pts, 1)
    pts = _points(plot, own, axes, top)
    if len(pts) >= 2:
        pygame.draw.lines(surface, theme.SPARK, False, pts, 2)
    elif not pts:
        text.blit(surface, "no data yet", plot.center, 10, theme.TEXT_DIM, anchor="center")
    return plot


def charts_layout(area: pygame.Rect, n_stations: int) -> tuple[pygame.Rect, ...]:
    """(throughput chart, WIP chart, Gantt strip, buffer-level strip) inside the panel's
    content `area`: the two strips at the bottom, as tall as their rows need (up to half the
    area), side by side with the same rows when the panel is wide, stacked when narrow; the
    charts above them with the rest, likewise side by side or stacked."""
    wide = area.width >= 520
    rows_h = min(n_stations * (GANTT_ROW_MAX + 1), max(area.height // 2, 3 * n_stations))
    if wide:
        half = (area.width - 12) // 2
        gantt = pygame.Rect(area.x, area.bottom - rows_h, half, rows_h)
        levels = pygame.Rect(area.right - half, gantt.y, half, rows_h)
    else:
        rows_h = min(n_stations * (GANTT_ROW_MAX + 1), max(area.height // 4, 2 * n_stations))
        levels = pygame.Rect(area.x, area.bottom - rows_h, area.width, rows_h)
        gantt = pygame.Rect(area.x, levels.y - _CAPTION_H - rows_h, area.width, rows_h)
    room = gantt.top - _CAPTION_H - area.y
    if wide:
        chart_h = min(max(room, 44), _CHART_H_MAX)
        thr = pygame.Rect(area.x, area.y, half, chart_h)
        wip = pygame.Rect(area.right - half, area.y, half, chart_h)
    else:
        chart_h = min(max((room - 4) // 2, 44), _CHART_H_MAX)
        thr = pygame.Rect(area.x, area.y, area.width, chart_h)
        wip = pygame.Rect(area.x, thr.bottom + 4, area.width, chart_h)
    return thr, wip, gantt, levels


def draw_charts(
    surface: pygame.Surface,
    rect: pygame.Rect,
    pane: PaneState,
    axes: Axes,
    others: Sequence[PaneState] = (),
    selected: int | None = None,
) -> tuple[pygame.Rect, ...]:
    """The charts view in `rect`. Returns (throughput plot, WIP plot, Gantt area, level area)."""
    text = cache()
    hours = (axes.t1 - axes.t0) / 60.0
    area = panel(surface, rect, f"Over time  ·  last {hours:.1f} h of simulated time")
    thr, wip, gantt, levels = charts_layout(area, len(pane.snap.stations))
    thr_plot = draw_chart(surface, thr, f"throughput, rolling {ROLLING_MINUTES:.0f} min (good/h)",
                          axes, axes.throughput_max, pane.history,
                          [o.history for o in others])  # fmt: skip
    wip_plot = draw_chart(surface, wip, "WIP (parts in line)", axes, axes.wip_max,
                          pane.timeline.wip, [o.timeline.wip for o in others])  # fmt: skip
    caption = "station states (Gantt)" + ("  ·  grey line: other pane" if others else "")
    text.blit(surface, caption, (gantt.x, gantt.y - 16), theme.FONT_SMALL, theme.TEXT_DIM,
              max_width=gantt.width)  # fmt: skip
    text.blit(surface, "input buffers: dark empty, bright full (scale at right)",
              (levels.x, levels.y - 16), theme.FONT_SMALL, theme.TEXT_DIM,
              max_width=levels.width)  # fmt: skip
    names = [st.name for st in pane.snap.stations]
    window = (axes.t0, axes.t1)
    draw_gantt(surface, gantt, names, pane.timeline.stations, window, selected)
    capacities = [st.capacity for st in pane.snap.stations]
    draw_levels(surface, levels, names, pane.timeline.buffers, capacities, window)
    return thr_plot, wip_plot, gantt, levels
