"""Draw line snapshots onto pygame surfaces: no event loop, no clock, no simulation.

Why pure drawing: the interactive window, the PNG/GIF exporter, the benchmark and the pixel
tests all call the same functions with a surface and a rectangle, so what a test checks is what
a planner sees. Geometry comes from `layout`; memory between frames (sparkline, moving dots)
comes from `PaneState`; fonts and text surfaces come from the shared cache.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pygame

from factory_twin.sim.line import STATES
from factory_twin.sim.snapshot import LineSnap, StationSnap
from factory_twin.viz import theme
from factory_twin.viz.charts import Axes, draw_charts, shared_axes
from factory_twin.viz.compare import draw_diff_strip, frame_areas
from factory_twin.viz.detail import detail_hint, render_detail
from factory_twin.viz.kpi_panel import draw_kpis
from factory_twin.viz.layout import (
    PaneLayout,
    StationLayout,
    layout,
    pane_rects,
    point_along,
)
from factory_twin.viz.levels import buffer_scale
from factory_twin.viz.options import VIEWS
from factory_twin.viz.pane import PaneState, clock_text
from factory_twin.viz.text import cache
from factory_twin.viz.timeline import station_state

__all__ = [
    "PaneLayout",
    "PaneState",
    "StationLayout",
    "buffer_scale",
    "draw_frame",
    "draw_pane",
    "layout",
    "pane_rects",
    "render_detail",
    "station_state",
]


# --- small helpers ---------------------------------------------------------------------------


def _segments(widths_of: Sequence[int], total: int, scale: int, width: int) -> list[int]:
    """Pixel widths per product so that the sum is exactly round(width * total / scale)."""
    filled = round(width * min(total, scale) / scale) if scale else 0
    out, acc, cum = [], 0, 0
    for c in widths_of:
        cum += c
        edge = round(filled * cum / total) if total else 0
        out.append(edge - acc)
        acc = edge
    return out


def _product_names(st: StationSnap, products: list[str]) -> str:
    seen: list[str] = []
    for m in st.machines:
        if 0 <= m.product < len(products) and products[m.product] not in seen:
            seen.append(products[m.product])
    return ", ".join(seen) if seen else "—"


def _arrowhead(surface: pygame.Surface, tip: tuple[float, float], frm: tuple[float, float]) -> None:
    ang = math.atan2(tip[1] - frm[1], tip[0] - frm[0])
    size = 7
    pts = [
        tip,
        (tip[0] - size * math.cos(ang - 0.45), tip[1] - size * math.sin(ang - 0.45)),
        (tip[0] - size * math.cos(ang + 0.45), tip[1] - size * math.sin(ang + 0.45)),
    ]
    pygame.draw.polygon(surface, theme.ARROW, pts)


# --- the line --------------------------------------------------------------------------------


def draw_buffer(
    surface: pygame.Surface, bar: pygame.Rect, counts: list[int], capacity: int | None
) -> None:
    """Input buffer as a bar split by product colour; `bar` is the inner fill area."""
    pygame.draw.rect(surface, theme.BAR_BG, bar)
    total = sum(counts)
    scale = buffer_scale(total, capacity)
    x = bar.x
    for k, w in enumerate(_segments(counts, total, scale, bar.width)):
        if w > 0:
            pygame.draw.rect(surface, theme.product_colour(k), (x, bar.y, w, bar.height))
            x += w
    pygame.draw.rect(surface, theme.BOX_BORDER, bar.inflate(2, 2), 1)
    if capacity is None:  # open-ended: quarter ticks of the current scale
        for q in (1, 2, 3):
            tx = bar.x + round(bar.width * q / 4)
            pygame.draw.line(surface, theme.TEXT_DIM, (tx, bar.bottom - 3), (tx, bar.bottom - 1))


def _product_line(
    surface: pygame.Surface, p: pygame.Rect, st: StationSnap, current: int, products: list[str]
) -> None:
    """Colour swatch and product name(s), parts done at the right."""
    text = cache()
    swatch = pygame.Rect(p.x, p.centery - 5, 10, 10)
    pygame.draw.rect(surface, theme.product_colour(current), swatch, border_radius=2)
    done = text.blit(
        surface, f"{st.processed:,} done", (p.right, p.centery), theme.FONT_SMALL,
        theme.TEXT_DIM, anchor="midright",
    )  # fmt: skip
    text.blit(
        surface, _product_names(st, products), (swatch.right + 5, p.centery), theme.FONT_TEXT,
        theme.TEXT, anchor="midleft", max_width=max(done.left - swatch.right - 10, 0),
    )  # fmt: skip


def draw_station(
    surface: pygame.Surface,
    sl: StationLayout,
    st: StationSnap,
    products: list[str],
    selected: bool = False,
    bottleneck: bool = False,
    limiting: bool = False,
) -> None:
    """One station box; `validate`'s `bottleneck` gets a bar under its header, the station
    `limiting` the line right now a ring round the box."""
    text = cache()
    box = sl.box
    pygame.draw.rect(surface, theme.BOX_BG, box, border_radius=6)
    tint = theme.mix(theme.BOX_BG, theme.state_colour(station_state(st)), 0.45)
    pygame.draw.rect(surface, tint, sl.header, border_top_left_radius=6, border_top_right_radius=6)
    compact = sl.product.height == 0
    text.blit(
        surface, st.name, (box.x + 7, sl.header.centery), theme.FONT_NAME, theme.TEXT, True,
        "midleft", box.width - (30 if compact else 14), middle=True,
    )  # fmt: skip
    current = next((m.product for m in st.machines if m.product >= 0), -1)
    if compact:  # the product as a swatch in the header; names and counts in the detail panel
        swatch = pygame.Rect(box.right - 17, sl.header.centery - 5, 10, 10)
        pygame.draw.rect(surface, theme.product_colour(current), swatch, border_radius=2)
    else:
        _product_line(surface, sl.product, st, current, products)
    for lamp, m in zip(sl.lamps, st.machines, strict=False):
        pygame.draw.rect(surface, theme.state_colour(m.state), lamp, border_radius=3)
    if sl.lamps:
        last = sl.lamps[min(len(sl.lamps), len(st.machines)) - 1]
        label = st.machines[0].state if len(st.machines) == 1 else f"{len(st.machines)} machines"
        text.blit(
            surface, label, (last.right + 6, last.centery), theme.FONT_SMALL, theme.TEXT_DIM,
            anchor="midleft", max_width=max(box.right - last.right - 12, 0),
        )  # fmt: skip
    if sl.buffer_label.height:  # compact boxes leave the count to the detail panel
        total = sum(st.buffer)
        if st.capacity is None:
            cap = f"{total} / {theme.INFINITY} (bar = {buffer_scale(total, None)})"
        else:
            cap = f"{total} / {st.capacity}"
        text.blit(
            surface, f"buffer {cap}", sl.buffer_label.topleft, theme.FONT_SMALL,
            theme.TEXT_DIM, max_width=sl.buffer_label.width,
        )  # fmt: skip
    draw_buffer(surface, sl.buffer, st.buffer, st.capacity)
    border = theme.SELECTED_BORDER if selected else theme.BOX_BORDER
    pygame.draw.rect(surface, border, box, 2 if selected else 1, border_radius=6)
    if bottleneck:
        pygame.draw.rect(surface, theme.BOTTLENECK_MARK, bottleneck_bar(sl))
    if limiting:
        pygame.draw.rect(surface, theme.LIMITING_MARK, box.inflate(8, 8), 3, border_radius=8)


def bottleneck_bar(sl: StationLayout) -> pygame.Rect:
    """Where the bottleneck mark goes: a bar along the bottom of the header."""
    return pygame.Rect(sl.header.x + 2, sl.header.bottom - 3, sl.header.width - 4, 3)


def draw_line(
    surface: pygame.Surface,
    lay: PaneLayout,
    pane: PaneState,
    selected: int | None = None,
    limiting: int | None = None,
) -> None:
    """Arrows with moving part dots, then the station boxes on top (the `limiting` one ringed,
    `validate`'s bottleneck barred)."""
    for j, (poly, length) in enumerate(zip(lay.arrows, lay.arrow_lengths, strict=False)):
        pygame.draw.lines(surface, theme.ARROW, False, poly, 2)
        _arrowhead(surface, poly[-1], poly[-2])
        phase = pane.flow[j] if j < len(pane.flow) else 0.0
        pos = phase * theme.DOT_SPACING + 3
        while pos < length - 9:  # keep clear of the arrowhead
            x, y = point_along(poly, length, pos / length)
            pygame.draw.circle(surface, theme.PART_DOT, (round(x), round(y)), 3)
            pos += theme.DOT_SPACING
    snap = pane.snap
    bottleneck = pane.bottleneck
    for i, (sl, st) in enumerate(zip(lay.stations, snap.stations, strict=False)):
        draw_station(surface, sl, st, snap.products, selected == i, bottleneck == i,
                     limiting == i)  # fmt: skip


# --- legend, title, pane, frame --------------------------------------------------------------


def draw_legend(surface: pygame.Surface, rect: pygame.Rect, products: list[str]) -> None:
    text = cache()
    x, cy = rect.x + theme.MARGIN, rect.centery
    items = [(s, theme.state_colour(s)) for s in STATES]
    items += [("bottleneck", theme.BOTTLENECK_MARK), ("limiting now", theme.LIMITING_MARK)]
    items += [(p, theme.product_colour(k)) for k, p in enumerate(products)]
    for i, (name, colour) in enumerate(items):
        if i == len(STATES) + 2:
            pygame.draw.line(surface, theme.BOX_BORDER, (x, cy - 8), (x, cy + 8))
            x += 10
            text.blit(surface, "products:", (x, cy), theme.FONT_SMALL, theme.TEXT_DIM,
                      anchor="midleft")  # fmt: skip
            x += text.font(theme.FONT_SMALL).size("products:")[0] + 6
        pygame.draw.rect(surface, colour, (x, cy - 5, 10, 10), border_radius=2)
        r = text.blit(surface, name, (x + 14, cy), theme.FONT_SMALL, theme.TEXT, anchor="midleft")
        x = r.right + 12
        if x > rect.right - 40:
            break


def draw_title(
    surface: pygame.Surface,
    rect: pygame.Rect,
    label: str,
    status: str | None,
    time: float,
    marks: str = "",
) -> None:
    """What is shown (the pane's label: scenario, policy, seed or run) at the left; the
    window's status (speed, paused), the simulated clock and the `marks` (bottleneck,
    limiting station) at the right, the marks giving way first when the bar is short."""
    text = cache()
    pygame.draw.rect(surface, theme.PANEL_BG, rect)
    right = rect.right - theme.MARGIN
    if status:
        right = text.blit(surface, status, (right, rect.centery), theme.FONT_TEXT, theme.ACCENT,
                          anchor="midright").left - 12  # fmt: skip
    right = text.blit(surface, f"t {clock_text(time)}", (right, rect.centery), theme.FONT_TEXT,
                      theme.TEXT, True, "midright").left - 12  # fmt: skip
    label_w = text.font(theme.FONT_TITLE, True).size(label)[0]
    room = right - rect.x - theme.MARGIN - label_w - 24
    if marks and room > 80:
        right = text.blit(surface, marks, (right, rect.centery), theme.FONT_SMALL,
                          theme.TEXT_DIM, anchor="midright", max_width=room).left - 12  # fmt: skip
    text.blit(surface, label, (rect.x + theme.MARGIN, rect.centery), theme.FONT_TITLE, theme.TEXT,
              True, "midleft", max(right - rect.x - theme.MARGIN, 0))  # fmt: skip


def draw_pane(
    surface: pygame.Surface,
    rect: pygame.Rect,
    pane: PaneState,
    selected: int | None = None,
    status: str | None = None,
    view: str = VIEWS[0],
    axes: Axes | None = None,
    others: Sequence[PaneState] = (),
) -> PaneLayout:
    """One driver's pane: title, line, KPIs or charts (`view`; the charts on `axes`, default
    this pane's own, with `others`' series thin), detail panel (or a hint), legend."""
    snap: LineSnap = pane.snap
    lay = layout(snap, rect)
    pygame.draw.rect(surface, theme.PANE_BG, rect)
    now = pane.limiting  # the active-period scan, once per frame
    draw_title(surface, lay.title, pane.label, status, snap.time, pane.marks_text(now))
    draw_line(surface, lay, pane, selected, now[0] if now is not None else None)
    axes = axes or shared_axes([pane])
    if view == "charts":
        draw_charts(surface, lay.kpi, pane, axes, others, selected)
    else:
        draw_kpis(surface, lay.kpi, pane)
    if selected is not None and 0 <= selected < len(snap.stations):
        runs = pane.timeline.machines[selected] if selected < len(pane.timeline.machines) else []
        render_detail(surface, lay.detail, snap.stations[selected], snap.products, runs,
                      (axes.t0, axes.t1))  # fmt: skip
    else:
        detail_hint(surface, lay.detail)
    draw_legend(surface, lay.legend, snap.products)
    return lay


def draw_frame(
    surface: pygame.Surface,
    panes: Sequence[PaneState],
    selected: int | None = None,
    status: str | None = None,
    view: str = VIEWS[0],
) -> list[PaneLayout]:
    """Fill `surface` with one pane per driver, side by side (two panes: with the difference
    strip below). `selected` is a station index shown in the detail panel of every pane that
    has it (compare one station across policies); `status` (speed, paused) goes in each title
    bar; in the charts `view` all panes share one set of axes. Returns the panes' layouts."""
    surface.fill(theme.BACKGROUND)
    rects, strip = frame_areas(surface.get_rect(), len(panes))
    if strip is not None:
        draw_diff_strip(surface, strip, [p.snap for p in panes])
    axes = shared_axes(panes)
    return [
        draw_pane(surface, r, p, selected, status, view, axes, [o for o in panes if o is not p])
        for r, p in zip(rects, panes, strict=False)
    ]
