"""Where everything of one pane goes, as a pure function of the line's shape and the pane size.

Why pure and separate from drawing: the renderer, mouse-click handling and the pixel tests
must agree on where a station, a lamp or a buffer bar is. The result depends only on the pane
rectangle and how many machines each station has, so it is cached and costs nothing per frame.
Treat the returned rectangles as read-only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import pygame

from factory_twin.sim.snapshot import LineSnap
from factory_twin.viz import theme

Point = tuple[float, float]

_PAD = 7
_HEADER_H = 22
_PRODUCT_H = 16
_LABEL_H = 14
_BAR_H = 12
_LAMP_GAP = 4
_LONG_LINE = 16  # stations beyond which a window may take the screen's whole width


@dataclass(frozen=True)
class StationLayout:
    box: pygame.Rect  # the whole clickable station box
    header: pygame.Rect  # name strip, tinted by the station's most notable state
    product: pygame.Rect  # current product line
    lamps: tuple[pygame.Rect, ...]  # one per machine
    buffer_label: pygame.Rect
    buffer: pygame.Rect  # inner fill area of the input-buffer bar (border drawn outside it)


@dataclass(frozen=True)
class PaneLayout:
    rect: pygame.Rect
    title: pygame.Rect
    line_area: pygame.Rect
    stations: tuple[StationLayout, ...]
    arrows: tuple[tuple[Point, ...], ...]  # polylines: source->0, 0->1, ..., last->sink
    arrow_lengths: tuple[float, ...]
    kpi: pygame.Rect
    detail: pygame.Rect
    legend: pygame.Rect

    def station_at(self, pos: tuple[int, int]) -> int | None:
        """Index of the station box under `pos`, or None."""
        for i, st in enumerate(self.stations):
            if st.box.collidepoint(pos):
                return i
        return None


def pane_rects(area: pygame.Rect, n: int) -> list[pygame.Rect]:
    """Split `area` into `n` side-by-side panes with a thin gap between them."""
    n = max(n, 1)
    gap = 4
    width = (area.width - gap * (n - 1)) / n
    return [
        pygame.Rect(round(area.x + i * (width + gap)), area.y, round(width), area.height)
        for i in range(n)
    ]


def layout(snap: LineSnap, rect: pygame.Rect | tuple[int, int, int, int]) -> PaneLayout:
    """The layout of a pane showing `snap` inside `rect`."""
    machines = tuple(len(st.machines) for st in snap.stations)
    return _layout(tuple(pygame.Rect(rect)), machines)


def _lamp_grid(n: int, inner_w: int) -> tuple[int, int, int]:
    """(lamp size, lamps per row, rows): big lamps while they fit in two rows, then small."""
    for size in (14, 10, 7):
        per_row = max(1, (inner_w + _LAMP_GAP) // (size + _LAMP_GAP))
        rows = math.ceil(n / per_row)
        if rows <= 2 or size == 7:
            return size, per_row, rows
    raise AssertionError("unreachable")


def _station_layout(
    x: int, y: int, w: int, h: int, n_machines: int, compact: bool = False
) -> StationLayout:
    box = pygame.Rect(x, y, w, h)
    header = pygame.Rect(x, y, w, _HEADER_H)
    # compact boxes: no product line (a swatch in the header) and no buffer caption
    product = pygame.Rect(x + _PAD, header.bottom + 4, w - 2 * _PAD, 0 if compact else _PRODUCT_H)
    size, per_row, _ = _lamp_grid(n_machines, w - 2 * _PAD)
    top = product.bottom + 6
    lamps = tuple(
        pygame.Rect(
            x + _PAD + (i % per_row) * (size + _LAMP_GAP),
            top + (i // per_row) * (size + _LAMP_GAP),
            size,
            size,
        )
        for i in range(n_machines)
    )
    bar = pygame.Rect(x + _PAD + 1, box.bottom - _PAD - _BAR_H + 1, w - 2 * _PAD - 2, _BAR_H - 2)
    label_h = 0 if compact else _LABEL_H
    label = pygame.Rect(x + _PAD, bar.top - 3 - label_h, w - 2 * _PAD, label_h)
    return StationLayout(box, header, product, lamps, label, bar)


def _box_width(avail: int, per_row: int, min_w: int, arrow_gap: int) -> int:
    """Boxes give up width (down to `min_w`) for readable arrows between them."""
    preferred = (avail - (per_row - 1) * theme.ARROW_PREFERRED_GAP) / per_row
    tightest = (avail - (per_row - 1) * arrow_gap) / per_row
    return int(min(theme.BOX_MAX_W, max(preferred, min(min_w, tightest))))


def _box_height(max_machines: int, w: int, compact: bool = False) -> int:
    size, _, rows = _lamp_grid(max_machines, w - 2 * _PAD)
    lamps_h = rows * size + (rows - 1) * _LAMP_GAP
    if compact:
        return _HEADER_H + 4 + 6 + lamps_h + 9 + _BAR_H + _PAD
    return _HEADER_H + 4 + _PRODUCT_H + 6 + lamps_h + 9 + _LABEL_H + 3 + _BAR_H + _PAD


def _grid(n: int, avail: int, min_w: int, arrow_gap: int) -> tuple[int, int]:
    """(rows, boxes per row) for `n` boxes of at least `min_w` pixels in `avail` width."""
    max_per_row = max(1, (avail + arrow_gap) // (min_w + arrow_gap))
    rows = max(1, math.ceil(n / max_per_row))
    return rows, max(1, math.ceil(n / rows))


@lru_cache(maxsize=64)
def _layout(rect_t: tuple[int, int, int, int], machines: tuple[int, ...]) -> PaneLayout:
    rect = pygame.Rect(rect_t)
    title = pygame.Rect(rect.x, rect.y, rect.width, theme.TITLE_H)
    legend = pygame.Rect(rect.x, rect.bottom - theme.LEGEND_H, rect.width, theme.LEGEND_H)
    n = len(machines)
    side = theme.MARGIN + theme.ARROW_GAP
    avail = max(rect.width - 2 * side, theme.BOX_MIN_W)
    # a long line reflows into more rows; when the rows would crowd out the KPI panel the
    # boxes get narrower and the rows closer, down to a compact minimum
    budget = rect.height * theme.LINE_SHARE_MAX
    steps = ((theme.BOX_MIN_W, theme.ROW_GAP, theme.ARROW_GAP, False), *theme.COMPACT_STEPS)
    for min_w, row_gap, gap, compact in steps:
        rows, per_row = _grid(n, avail, min_w, gap)
        box_w = _box_width(avail, per_row, min_w, gap)
        box_h = _box_height(max(machines, default=1), box_w, compact)
        if rows * box_h + (rows - 1) * row_gap <= budget:
            break
    if per_row > 1:
        gap = int(min(theme.ARROW_MAX_GAP, (avail - per_row * box_w) / (per_row - 1)))
    line_top = title.bottom + 14
    stations: list[StationLayout] = []
    for i, m in enumerate(machines):
        r, c = divmod(i, per_row)
        in_row = min(per_row, n - r * per_row)
        row_w = in_row * box_w + (in_row - 1) * gap
        x0 = rect.x + (rect.width - row_w) // 2
        y = line_top + r * (box_h + row_gap)
        stations.append(_station_layout(x0 + c * (box_w + gap), y, box_w, box_h, m, compact))
    line_h = rows * box_h + (rows - 1) * row_gap
    line_area = pygame.Rect(rect.x, title.bottom, rect.width, line_h + 28)
    boxes = [s.box for s in stations]
    side_room = min((b.left - rect.x for b in boxes), default=gap)
    reach = max(min(gap, side_room - theme.MARGIN) - 8, 12)
    arrows = tuple(_arrows(boxes, reach, row_gap))
    bottom_top = line_area.bottom + 6
    bottom_h = max(legend.top - 6 - bottom_top, 40)
    kpi_w = round((rect.width - 3 * theme.MARGIN) * 0.54)
    kpi = pygame.Rect(rect.x + theme.MARGIN, bottom_top, kpi_w, bottom_h)
    detail = pygame.Rect(
        kpi.right + theme.MARGIN, bottom_top, rect.right - theme.MARGIN - kpi.right - theme.MARGIN,
        bottom_h,
    )  # fmt: skip
    return PaneLayout(
        rect=rect,
        title=title,
        line_area=line_area,
        stations=tuple(stations),
        arrows=arrows,
        arrow_lengths=tuple(_length(a) for a in arrows),
        kpi=kpi,
        detail=detail,
        legend=legend,
    )


def _arrows(boxes: list[pygame.Rect], reach: float, row_gap: int) -> list[tuple[Point, ...]]:
    """Flow paths: into the first box (from `reach` pixels left of it), between consecutive
    boxes (bending down to the next row when the line wraps), and out of the last box."""
    if not boxes:
        return []
    first, last = boxes[0], boxes[-1]
    out: list[tuple[Point, ...]] = [
        ((first.left - reach, first.centery), (first.left, first.centery))
    ]
    for a, b in zip(boxes, boxes[1:], strict=False):
        if b.top == a.top:
            out.append(((a.right, a.centery), (b.left, b.centery)))
        else:
            mid = a.bottom + row_gap / 2
            out.append(
                ((a.centerx, a.bottom), (a.centerx, mid), (b.centerx, mid), (b.centerx, b.top))
            )
    out.append(((last.right, last.centery), (last.right + reach, last.centery)))
    return out


def _length(poly: tuple[Point, ...]) -> float:
    return sum(math.dist(p, q) for p, q in zip(poly, poly[1:], strict=False))


def point_along(poly: tuple[Point, ...], total: float, frac: float) -> Point:
    """The point at fraction `frac` (0..1) of the way along polyline `poly` of length `total`."""
    left = frac * total
    for p, q in zip(poly, poly[1:], strict=False):
        seg = math.dist(p, q)
        if left <= seg and seg > 0:
            t = left / seg
            return (p[0] + (q[0] - p[0]) * t, p[1] + (q[1] - p[1]) * t)
        left -= seg
    return poly[-1]


def preferred_size(
    snaps: Sequence[LineSnap], limit: tuple[int, int] | None = None
) -> tuple[int, int]:
    """A window size that fits these panes without crowding: 1280 wide for one pane, 880 per
    pane side by side, tall enough for the line rows, the KPI tiles and the time-in-state
    rows (plus the difference strip for two panes); never larger than `limit` (the screen),
    where the panes share the width and long lines reflow into more rows instead."""
    n = max(len(snaps), 1)
    gaps = 4 * (n - 1)
    pane_w = 1280 if n == 1 else 880
    if limit is not None:
        long_line = max((len(s.stations) for s in snaps), default=0) > _LONG_LINE
        pane_w = (limit[0] - gaps) // n if long_line else min(pane_w, (limit[0] - gaps) // n)
    strip = theme.DIFF_H + 2 if n == 2 else 0
    height = 0
    for snap in snaps:
        machines = tuple(len(st.machines) for st in snap.stations)
        probe = _layout((0, 0, pane_w, 1080), machines)
        util_rows = min(len(machines), 20)  # more stations go into columns (see render)
        kpi_need = 230 + 20 * util_rows  # tiles, sparkline, titles, utilisation rows
        need = probe.line_area.bottom + 6 + max(kpi_need, 300) + 6 + theme.LEGEND_H
        height = max(height, need)
    height = int(min(max(height, 520), 1080)) + strip
    if limit is not None:
        height = min(height, limit[1])
    return pane_w * n + gaps, height
