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

from factory_twin.sim.actions import describe, n_actions
from factory_twin.sim.line import STATES
from factory_twin.sim.snapshot import LineSnap, StationSnap
from factory_twin.viz import theme
from factory_twin.viz.compare import draw_diff_strip, frame_areas
from factory_twin.viz.kpi_panel import draw_kpis
from factory_twin.viz.layout import (
    PaneLayout,
    StationLayout,
    layout,
    pane_rects,
    point_along,
)
from factory_twin.viz.pane import PaneState
from factory_twin.viz.text import cache
from factory_twin.viz.widgets import panel, stacked_bar

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

INFINITY = "∞"


# --- small helpers ---------------------------------------------------------------------------


def station_state(st: StationSnap) -> str:
    """The state a station's header shows: the most notable state among its machines."""
    states = {m.state for m in st.machines}
    for s in theme.STATE_PRIORITY:
        if s in states:
            return s
    return "starved"


def buffer_scale(count: int, capacity: int | None) -> int:
    """Parts a full bar stands for: the capacity, or for an infinite buffer the smallest of
    10, 20, 40, ... that holds the current count (the bar then shows ticks on that scale)."""
    if capacity is not None:
        return max(capacity, 1)
    scale = 10
    while scale < count:
        scale *= 2
    return scale


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
) -> None:
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
            cap = f"{total} / {INFINITY} (bar = {buffer_scale(total, None)})"
        else:
            cap = f"{total} / {st.capacity}"
        text.blit(
            surface, f"buffer {cap}", sl.buffer_label.topleft, theme.FONT_SMALL,
            theme.TEXT_DIM, max_width=sl.buffer_label.width,
        )  # fmt: skip
    draw_buffer(surface, sl.buffer, st.buffer, st.capacity)
    border = theme.SELECTED_BORDER if selected else theme.BOX_BORDER
    pygame.draw.rect(surface, border, box, 2 if selected else 1, border_radius=6)


def draw_line(
    surface: pygame.Surface, lay: PaneLayout, pane: PaneState, selected: int | None = None
) -> None:
    """Arrows with moving part dots, then the station boxes on top."""
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
    for i, (sl, st) in enumerate(zip(lay.stations, snap.stations, strict=False)):
        draw_station(surface, sl, st, snap.products, selected == i)


# --- detail panel ----------------------------------------------------------------------------


def _action_labels(n: int, products: list[str]) -> list[str]:
    if n == n_actions(len(products)):
        return [describe(a, products) for a in range(n)]
    return [f"action {a}" for a in range(n)]


def render_detail(
    surface: pygame.Surface, rect: pygame.Rect, station_snap: StationSnap, products: list[str]
) -> None:
    """Everything about one station: machines, time in state, counters, and the policy's
    action probabilities when the driver provides them (learned policies)."""
    text = cache()
    st = station_snap
    area = panel(surface, rect, f"Station: {st.name}")
    prev_clip = surface.get_clip()
    surface.set_clip(rect)
    two_cols = area.width >= 420
    col_w = (area.width - 16) // 2 if two_cols else area.width
    x, y = area.x, area.y
    line_h = 17
    for i, m in enumerate(st.machines):
        if y > area.bottom - line_h:
            break
        lamp = pygame.Rect(x, y + 3, 11, 11)
        pygame.draw.rect(surface, theme.state_colour(m.state), lamp, border_radius=2)
        prod = products[m.product] if 0 <= m.product < len(products) else "—"
        text.blit(
            surface, f"M{i + 1}  {m.state:<8} {prod}  ·  age {m.age:,.0f} min",
            (lamp.right + 6, y), theme.FONT_SMALL, theme.TEXT, max_width=col_w - 18,
        )  # fmt: skip
        y += line_h
    y += 4
    total = sum(st.state_fractions.values())
    text.blit(surface, "time in state", (x, y), theme.FONT_SMALL, theme.TEXT_DIM)
    y += 15
    bar = pygame.Rect(x, y, col_w, 10)
    stacked_bar(surface, bar, st.state_fractions)
    y = bar.bottom + 5
    if total <= 0:
        text.blit(surface, "no data yet (warm-up)", (x, y), theme.FONT_SMALL, theme.TEXT_DIM)
        y += line_h
    else:
        shown = [s for s in STATES if st.state_fractions.get(s, 0.0) > 0]
        half = (len(shown) + 1) // 2
        for k, s in enumerate(shown):
            cx = x + (col_w // 2 if k >= half else 0)
            cy = y + (k - half if k >= half else k) * 15
            pygame.draw.rect(surface, theme.state_colour(s), (cx, cy + 3, 9, 9), border_radius=2)
            text.blit(surface, f"{s} {st.state_fractions[s] / total:.1%}", (cx + 14, cy),
                      theme.FONT_SMALL, theme.TEXT)  # fmt: skip
        y += half * 15
    y += 6
    buf = sum(st.buffer)
    cap = INFINITY if st.capacity is None else str(st.capacity)
    per_product = ", ".join(
        f"{products[k] if k < len(products) else k} {c}" for k, c in enumerate(st.buffer)
    )
    counters = [
        f"buffer {buf} / {cap}:  {per_product}",
        f"processed {st.processed:,}   scrapped {st.scrapped:,}",
        f"setups {st.setups:,}   PMs {st.pms:,}   failures {st.failures:,}",
    ]
    for line in counters:
        text.blit(surface, line, (x, y), theme.FONT_SMALL, theme.TEXT, max_width=col_w)
        y += line_h
    # action probabilities: right column, or below when the panel is narrow
    ax, ay = (area.x + col_w + 16, area.y) if two_cols else (area.x, y + 6)
    _draw_action_probs(surface, pygame.Rect(ax, ay, col_w, area.bottom - ay), st, products)
    surface.set_clip(prev_clip)


def _draw_action_probs(
    surface: pygame.Surface, rect: pygame.Rect, st: StationSnap, products: list[str]
) -> None:
    text = cache()
    text.blit(surface, "policy: action probabilities", rect.topleft, theme.FONT_SMALL,
              theme.TEXT_DIM)  # fmt: skip
    probs = st.action_probs
    if not probs:
        text.blit(surface, "not available (rule-based policy)", (rect.x, rect.y + 17),
                  theme.FONT_SMALL, theme.TEXT_DIM)  # fmt: skip
        return
    labels = _action_labels(len(probs), products)
    label_w = min(130, rect.width // 2)
    row_h = max(min(17, (rect.height - 17) // max(len(probs), 1)), 9)
    best = max(range(len(probs)), key=probs.__getitem__)
    for a, (p, label) in enumerate(zip(probs, labels, strict=False)):
        y = rect.y + 17 + a * row_h
        if y + row_h > rect.bottom + 2:
            break
        colour = theme.TEXT if a == best else theme.TEXT_DIM
        text.blit(surface, label, (rect.x, y + row_h // 2), theme.FONT_SMALL, colour,
                  anchor="midleft", max_width=label_w - 4)  # fmt: skip
        bar = pygame.Rect(rect.x + label_w, y + 2, rect.width - label_w - 42, max(row_h - 5, 4))
        pygame.draw.rect(surface, theme.BAR_BG, bar)
        w = round(bar.width * min(max(p, 0.0), 1.0))
        if w:
            pygame.draw.rect(surface, theme.ACCENT, (bar.x, bar.y, w, bar.height))
        text.blit(surface, f"{p:.0%}", (rect.right, y + row_h // 2), theme.FONT_SMALL, colour,
                  anchor="midright")  # fmt: skip


def _detail_hint(surface: pygame.Surface, rect: pygame.Rect) -> None:
    area = panel(surface, rect, "Station details")
    cache().blit(surface, "click a station box to inspect it", (area.x, area.y + 4),
                 theme.FONT_TEXT, theme.TEXT_DIM)  # fmt: skip


# --- legend, title, pane, frame --------------------------------------------------------------


def draw_legend(surface: pygame.Surface, rect: pygame.Rect, products: list[str]) -> None:
    text = cache()
    x, cy = rect.x + theme.MARGIN, rect.centery
    items = [(s, theme.state_colour(s)) for s in STATES]
    items += [(p, theme.product_colour(k)) for k, p in enumerate(products)]
    for i, (name, colour) in enumerate(items):
        if i == len(STATES):
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


def draw_title(surface: pygame.Surface, rect: pygame.Rect, label: str, status: str | None) -> None:
    text = cache()
    pygame.draw.rect(surface, theme.PANEL_BG, rect)
    right = rect.right - theme.MARGIN
    if status:
        right = text.blit(surface, status, (right, rect.centery), theme.FONT_TEXT, theme.ACCENT,
                          anchor="midright").left - 12  # fmt: skip
    text.blit(surface, label, (rect.x + theme.MARGIN, rect.centery), theme.FONT_TITLE, theme.TEXT,
              True, "midleft", max(right - rect.x - theme.MARGIN, 0))  # fmt: skip


def draw_pane(
    surface: pygame.Surface,
    rect: pygame.Rect,
    pane: PaneState,
    selected: int | None = None,
    status: str | None = None,
) -> PaneLayout:
    """One driver's pane: title, line, KPIs, detail panel (or a hint), legend."""
    snap: LineSnap = pane.snap
    lay = layout(snap, rect)
    pygame.draw.rect(surface, theme.PANE_BG, rect)
    draw_title(surface, lay.title, pane.label, status)
    draw_line(surface, lay, pane, selected)
    draw_kpis(surface, lay.kpi, pane)
    if selected is not None and 0 <= selected < len(snap.stations):
        render_detail(surface, lay.detail, snap.stations[selected], snap.products)
    else:
        _detail_hint(surface, lay.detail)
    draw_legend(surface, lay.legend, snap.products)
    return lay


def draw_frame(
    surface: pygame.Surface,
    panes: Sequence[PaneState],
    selected: int | None = None,
    status: str | None = None,
) -> list[PaneLayout]:
    """Fill `surface` with one pane per driver, side by side (two panes: with the difference
    strip below). `selected` is a station index shown in the detail panel of every pane that
    has it (compare one station across policies); `status` (speed, paused) goes in each title
    bar. Returns the panes' layouts."""
    surface.fill(theme.BACKGROUND)
    rects, strip = frame_areas(surface.get_rect(), len(panes))
    if strip is not None:
        draw_diff_strip(surface, strip, [p.snap for p in panes])
    return [draw_pane(surface, r, p, selected, status) for r, p in zip(rects, panes, strict=False)]
