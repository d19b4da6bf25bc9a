"""The detail panel of one station (a click, or `--select STATION`): its machines, their
recent states as small Gantt rows, time in state, counters, and the policy's action
probabilities when a learned policy drives the pane.

Why its own module: it is the one place a planner reads everything about a station, and it
grows with what the drivers can tell (the probabilities come only from learned drivers).
"""

from __future__ import annotations

from collections.abc import Sequence

import pygame

from factory_twin.sim.actions import describe, n_actions
from factory_twin.sim.line import STATES
from factory_twin.sim.snapshot import StationSnap
from factory_twin.viz import theme
from factory_twin.viz.gantt import draw_runs
from factory_twin.viz.text import cache
from factory_twin.viz.timeline import Run
from factory_twin.viz.widgets import panel, stacked_bar

_LINE_H = 17


def _action_labels(n: int, products: list[str]) -> list[str]:
    if n == n_actions(len(products)):
        return [describe(a, products) for a in range(n)]
    return [f"action {a}" for a in range(n)]


def render_detail(
    surface: pygame.Surface,
    rect: pygame.Rect,
    station_snap: StationSnap,
    products: list[str],
    machine_runs: Sequence[list[Run]] = (),
    window: tuple[float, float] | None = None,
) -> None:
    """Everything about one station: machines (with their recent states over `window` when
    `machine_runs` are given), time in state, counters, and the policy's action
    probabilities when the driver provides them (learned policies)."""
    st = station_snap
    area = panel(surface, rect, f"Station: {st.name}")
    prev_clip = surface.get_clip()
    surface.set_clip(rect)
    two_cols = area.width >= 420
    col_w = (area.width - 16) // 2 if two_cols else area.width
    y = _machines(surface, pygame.Rect(area.x, area.y, col_w, area.height), st, products)
    if machine_runs and window is not None:
        y = _machine_rows(surface, pygame.Rect(area.x, y, col_w, area.bottom - y), machine_runs,
                          window)  # fmt: skip
    y = _time_in_state(surface, area.x, y, col_w, st)
    y = _counters(surface, area.x, y, col_w, st, products)
    # action probabilities: right column, or below when the panel is narrow
    ax, ay = (area.x + col_w + 16, area.y) if two_cols else (area.x, y + 6)
    _draw_action_probs(surface, pygame.Rect(ax, ay, col_w, area.bottom - ay), st, products)
    surface.set_clip(prev_clip)


def _machines(
    surface: pygame.Surface, col: pygame.Rect, st: StationSnap, products: list[str]
) -> int:
    """One line per machine: state lamp, state, product, age. Returns the y below them."""
    y = col.y
    for i, m in enumerate(st.machines):
        if y > col.bottom - _LINE_H:
            break
        lamp = pygame.Rect(col.x, y + 3, 11, 11)
        pygame.draw.rect(surface, theme.state_colour(m.state), lamp, border_radius=2)
        prod = products[m.product] if 0 <= m.product < len(products) else "—"
        cache().blit(
            surface, f"M{i + 1}  {m.state:<8} {prod}  ·  age {m.age:,.0f} min",
            (lamp.right + 6, y), theme.FONT_SMALL, theme.TEXT, max_width=col.width - 18,
        )  # fmt: skip
        y += _LINE_H
    return y + 4


def machine_rows(col: pygame.Rect, n: int) -> list[pygame.Rect]:
    """Rows of the per-machine Gantt in the detail column `col` (below a caption): 6 pixels
    each, fewer rows drawn if the column is short."""
    top = col.y + 15
    fit = max((col.height - 15 - 90) // 7, 0)  # leave room for time in state and counters
    return [pygame.Rect(col.x + 26, top + i * 7, col.width - 26, 6) for i in range(min(n, fit))]


def _machine_rows(
    surface: pygame.Surface,
    col: pygame.Rect,
    runs: Sequence[list[Run]],
    window: tuple[float, float],
) -> int:
    rows = machine_rows(col, len(runs))
    if not rows:
        return col.y
    hours = (window[1] - window[0]) / 60.0
    cache().blit(surface, f"machine states, last {hours:.1f} h", (col.x, col.y), theme.FONT_SMALL,
                 theme.TEXT_DIM)  # fmt: skip
    for i, (row, m_runs) in enumerate(zip(rows, runs, strict=False)):
        cache().blit(surface, f"M{i + 1}", (col.x, row.centery), 9, theme.TEXT_DIM,
                     anchor="midleft")  # fmt: skip
        draw_runs(surface, row, m_runs, *window)
    return rows[-1].bottom + 6


def _time_in_state(surface: pygame.Surface, x: int, y: int, col_w: int, st: StationSnap) -> int:
    text = cache()
    total = sum(st.state_fractions.values())
    text.blit(surface, "time in state", (x, y), theme.FONT_SMALL, theme.TEXT_DIM)
    bar = pygame.Rect(x, y + 15, col_w, 10)
    stacked_bar(surface, bar, st.state_fractions)
    y = bar.bottom + 5
    if total <= 0:
        text.blit(surface, "no data yet (warm-up)", (x, y), theme.FONT_SMALL, theme.TEXT_DIM)
        return y + _LINE_H + 6
    shown = [s for s in STATES if st.state_fractions.get(s, 0.0) > 0]
    half = (len(shown) + 1) // 2
    for k, s in enumerate(shown):
        cx = x + (col_w // 2 if k >= half else 0)
        cy = y + (k - half if k >= half else k) * 15
        pygame.draw.rect(surface, theme.state_colour(s), (cx, cy + 3, 9, 9), border_radius=2)
        text.blit(surface, f"{s} {st.state_fractions[s] / total:.1%}", (cx + 14, cy),
                  theme.FONT_SMALL, theme.TEXT)  # fmt: skip
    return y + half * 15 + 6


def _counters(
    surface: pygame.Surface, x: int, y: int, col_w: int, st: StationSnap, products: list[str]
) -> int:
    buf = sum(st.buffer)
    cap = theme.INFINITY if st.capacity is None else str(st.capacity)
    per_product = ", ".join(
        f"{products[k] if k < len(products) else k} {c}" for k, c in enumerate(st.buffer)
    )
    lines = [
        f"buffer {buf} / {cap}:  {per_product}",
        f"processed {st.processed:,}   scrapped {st.scrapped:,}",
        f"actions taken: setups {st.setups:,}   PMs {st.pms:,}   (failures {st.failures:,})",
    ]
    for line in lines:
        cache().blit(surface, line, (x, y), theme.FONT_SMALL, theme.TEXT, max_width=col_w)
        y += _LINE_H
    return y


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


def detail_hint(surface: pygame.Surface, rect: pygame.Rect) -> None:
    area = panel(surface, rect, "Station details")
    cache().blit(surface, "click a station box to inspect it", (area.x, area.y + 4),
                 theme.FONT_TEXT, theme.TEXT_DIM)  # fmt: skip
