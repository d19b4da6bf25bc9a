"""The difference strip under two panes: how far the right pane is ahead of the left one.

Why: side by side, a planner wants the running gap, not two sets of numbers to subtract in
their head. Both panes are always at the same simulated time (see `App.seek`), so the gap is
a fair one. Each metric gets a signed bar around a centre line, coloured and worded by
whether the right pane is better (more good parts, more throughput, less WIP) or worse.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pygame

from factory_twin.sim.snapshot import LineSnap
from factory_twin.viz import theme
from factory_twin.viz.layout import pane_rects
from factory_twin.viz.text import cache


@dataclass(frozen=True)
class Gap:
    label: str
    left: float
    right: float
    unit: str
    higher_is_better: bool

    @property
    def delta(self) -> float:
        return self.right - self.left

    @property
    def better(self) -> bool | None:
        """True if the right pane is better, False if worse, None if level."""
        if abs(self.delta) < 1e-9:
            return None
        return (self.delta > 0) == self.higher_is_better

    @property
    def share(self) -> float:
        """The gap relative to the larger value, in [-1, 1] (the bar's length)."""
        scale = max(abs(self.left), abs(self.right), 1e-9)
        return max(-1.0, min(1.0, self.delta / scale))

    def text(self) -> str:
        value = f"{self.delta:+,.1f}" if self.unit else f"{self.delta:+,.0f}"
        verdict = {None: "level", True: "right better", False: "right worse"}[self.better]
        return f"{self.label} {value}{self.unit}  ({verdict})"


def gaps(left: LineSnap, right: LineSnap) -> list[Gap]:
    """Right minus left: good parts, average throughput (per hour), WIP."""
    return [
        Gap("good parts", left.good, right.good, "", True),
        Gap("throughput", left.throughput * 60.0, right.throughput * 60.0, "/h", True),
        Gap("WIP", left.wip, right.wip, "", False),
    ]


def frame_areas(area: pygame.Rect, n: int) -> tuple[list[pygame.Rect], pygame.Rect | None]:
    """Pane rectangles and, for exactly two panes, the strip below them."""
    if n != 2:
        return pane_rects(area, n), None
    strip = pygame.Rect(area.x, area.bottom - theme.DIFF_H, area.width, theme.DIFF_H)
    top = pygame.Rect(area.x, area.y, area.width, area.height - theme.DIFF_H - 2)
    return pane_rects(top, n), strip


def gap_cells(rect: pygame.Rect, count: int) -> list[tuple[pygame.Rect, pygame.Rect]]:
    """(text area, bar) per metric, after the strip's title."""
    head = min(180, rect.width // 5)
    width = (rect.width - head) // max(count, 1)
    cells = []
    for i in range(count):
        cell = pygame.Rect(rect.x + head + i * width, rect.y, width, rect.height)
        bar = pygame.Rect(cell.x + 8, cell.bottom - 9, cell.width - 24, 5)
        cells.append((cell.inflate(-16, 0), bar))
    return cells


def draw_diff_strip(surface: pygame.Surface, rect: pygame.Rect, snaps: Sequence[LineSnap]) -> None:
    """The gap between two panes' snapshots (same simulated time) inside `rect`."""
    text = cache()
    pygame.draw.rect(surface, theme.PANEL_BG, rect)
    left, right = snaps
    text.blit(surface, "right − left", (rect.x + theme.MARGIN, rect.centery), theme.FONT_TEXT,
              theme.TEXT_DIM, True, "midleft")  # fmt: skip
    items = gaps(left, right)
    colour = {None: theme.TEXT_DIM, True: theme.GAP_BETTER, False: theme.GAP_WORSE}
    for gap, (cell, bar) in zip(items, gap_cells(rect, len(items)), strict=True):
        text.blit(surface, gap.text(), (cell.x, cell.y + 4), theme.FONT_SMALL, theme.TEXT,
                  max_width=cell.width)  # fmt: skip
        pygame.draw.rect(surface, theme.BAR_BG, bar)
        mid = bar.centerx
        length = round(gap.share * bar.width / 2)
        if length:
            x0, x1 = sorted((mid, mid + length))
            pygame.draw.rect(surface, colour[gap.better], (x0, bar.y, x1 - x0, bar.height))
        pygame.draw.line(surface, theme.TEXT_DIM, (mid, bar.y - 2), (mid, bar.bottom + 1))
