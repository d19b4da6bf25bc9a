"""The KPI panel of a pane: value tiles, the rolling-throughput sparkline, and one
time-in-state bar per station.

Why its own module: it is the part of a pane that must stay readable however long the line
is, so it carries its own fitting rules: tile values shrink their font rather than being cut
("73.…" tells a planner nothing), and time-in-state rows go into columns rather than stopping
after the rows that fit; if even that runs out of room, the panel says how many are hidden.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pygame

from factory_twin.sim.snapshot import StationSnap
from factory_twin.viz import theme
from factory_twin.viz.pane import ROLLING_MINUTES, PaneState, kpi_values
from factory_twin.viz.text import cache
from factory_twin.viz.widgets import panel, stacked_bar

TILE_VALUE_SIZES = (theme.FONT_KPI, 17, 15, 13, 11)
_ROW_H = 20
_ROW_H_MIN = 11
_COL_GAP = 12
_COL_MIN_W = 110
_SPARK_H, _SPARK_H_MIN = 46, 22


def draw_sparkline(
    surface: pygame.Surface, rect: pygame.Rect, history: Sequence[tuple[float, float]]
) -> None:
    """Line chart of (time, value) pairs scaled to `rect` (zero at the bottom, peak at top)."""
    pygame.draw.rect(surface, theme.BAR_BG, rect, border_radius=3)
    if len(history) < 2:
        cache().blit(
            surface, "collecting… (starts after the warm-up)", rect.center, theme.FONT_SMALL,
            theme.TEXT_DIM, anchor="center",
        )  # fmt: skip
        return
    t0, t1 = history[0][0], history[-1][0]
    peak = max(v for _, v in history) or 1.0
    span = (t1 - t0) or 1.0
    inner = rect.inflate(-8, -8)
    pts = [
        (inner.x + (t - t0) / span * inner.width, inner.bottom - v / peak * inner.height)
        for t, v in history
    ]
    pygame.draw.lines(surface, theme.SPARK, False, pts, 2)


def utilisation_grid(rect: pygame.Rect, n: int) -> tuple[int, int, int]:
    """(columns, rows per column, row height) for `n` station rows in `rect`: one column of
    20-pixel rows while they fit, then more columns (each at least _COL_MIN_W wide), then
    rows down to _ROW_H_MIN; rows that still do not fit are counted, not silently lost."""
    n = max(n, 1)
    max_cols = max(1, (rect.width + _COL_GAP) // (_COL_MIN_W + _COL_GAP))
    for row_h in (_ROW_H, 17, 15, 13, _ROW_H_MIN):
        per_col = max(rect.height // row_h, 1)
        cols = math.ceil(n / per_col)
        if cols <= max_cols:
            return cols, math.ceil(n / cols), row_h
    return max_cols, max(rect.height // _ROW_H_MIN, 1), _ROW_H_MIN


def draw_utilisation(
    surface: pygame.Surface, rect: pygame.Rect, stations: list[StationSnap]
) -> int:
    """One stacked bar of time-in-state per station, labelled with its busy share, in as many
    columns as needed. Returns how many stations were drawn (the rest are announced)."""
    text = cache()
    cols, per_col, row_h = utilisation_grid(rect, len(stations))
    col_w = (rect.width - _COL_GAP * (cols - 1)) // cols
    room = cols * per_col
    shown = stations if len(stations) <= room else stations[: room - 1]
    size = theme.FONT_SMALL if row_h >= 15 else (10 if row_h >= 13 else 9)
    for i, st in enumerate(shown):
        c, r = divmod(i, per_col)
        x, y = rect.x + c * (col_w + _COL_GAP), rect.y + r * row_h
        name_w = min(120, col_w // 3)
        text.blit(surface, st.name, (x + name_w - 6, y + row_h // 2), size, theme.TEXT,
                  anchor="midright", max_width=name_w - 6, middle=True)  # fmt: skip
        bar = pygame.Rect(x + name_w, y + 2, col_w - name_w - 34, max(row_h - 5, 4))
        stacked_bar(surface, bar, st.state_fractions)
        busy = st.state_fractions.get("busy", 0.0)
        text.blit(surface, f"{busy:.0%}", (x + col_w, y + row_h // 2), size, theme.TEXT,
                  anchor="midright")  # fmt: skip
    hidden = len(stations) - len(shown)
    if hidden:
        c, r = divmod(len(shown), per_col)
        text.blit(surface, f"+{hidden} more: enlarge the window",
                  (rect.x + c * (col_w + _COL_GAP), rect.y + r * row_h), theme.FONT_SMALL,
                  theme.WARN, True, max_width=col_w)  # fmt: skip
    return len(shown)


def tile_value_size(value: str, width: int) -> int:
    """The largest tile font size at which `value` fits in `width` pixels."""
    text = cache()
    for size in TILE_VALUE_SIZES:
        if text.font(size, True).size(value)[0] <= width:
            return size
    return TILE_VALUE_SIZES[-1]


def kpi_tiles(area: pygame.Rect, count: int) -> list[pygame.Rect]:
    """Tile rectangles: one row while each tile is at least 64 pixels wide, else two rows."""
    per_row = count if (area.width - 6 * (count - 1)) / count >= 64 else math.ceil(count / 2)
    tile_w = (area.width - 6 * (per_row - 1)) / per_row
    return [
        pygame.Rect(
            round(area.x + (i % per_row) * (tile_w + 6)),
            area.y + (i // per_row) * 58,
            round(tile_w),
            54,
        )  # fmt: skip
        for i in range(count)
    ]


def kpi_layout(
    area: pygame.Rect, n_tiles: int, n_stations: int
) -> tuple[list[pygame.Rect], pygame.Rect, pygame.Rect]:
    """(tiles, sparkline, time-in-state area) inside the panel's content `area`; the sparkline
    gives up height when the station rows would otherwise not fit."""
    tiles = kpi_tiles(area, n_tiles)
    spark_top = tiles[-1].bottom + 26
    fixed = spark_top + 10 + 17 - area.y  # captions above the sparkline and the rows
    cols, per_col, row_h = utilisation_grid(
        pygame.Rect(0, 0, area.width, area.height - fixed - _SPARK_H), n_stations
    )
    need = per_col * row_h if cols * per_col >= n_stations else area.height
    spark_h = max(min(_SPARK_H, area.height - fixed - need), _SPARK_H_MIN)
    spark = pygame.Rect(area.x, spark_top, area.width, spark_h)
    util_top = spark.bottom + 10 + 17
    return tiles, spark, pygame.Rect(area.x, util_top, area.width, area.bottom - util_top)


def draw_kpis(surface: pygame.Surface, rect: pygame.Rect, pane: PaneState) -> int:
    """Tiles, sparkline and time-in-state rows; returns how many station rows were drawn."""
    text = cache()
    snap = pane.snap
    warm = snap.time < pane.warmup
    title = "Line KPIs" + (f"  ·  warm-up until {pane.warmup:.0f} min" if warm else "")
    area = panel(surface, rect, title)
    values = kpi_values(snap)
    tiles = [
        ("clock", values["clock"], values["minutes"]),
        ("good parts", values["good"], "since warm-up"),
        ("throughput", values["throughput"], "average"),
        ("WIP", values["wip"], "parts in line"),
        ("scrap", values["scrap"], "parts"),
    ]
    rects, spark, util = kpi_layout(area, len(tiles), len(snap.stations))
    for tile, (label, value, sub) in zip(rects, tiles, strict=True):
        pygame.draw.rect(surface, theme.BOX_BG, tile, border_radius=4)
        w = tile.width - 10
        text.blit(surface, label, (tile.x + 6, tile.y + 4), theme.FONT_SMALL, theme.TEXT_DIM,
                  max_width=w)  # fmt: skip
        text.blit(surface, value, (tile.x + 6, tile.y + 29), tile_value_size(value, w), theme.TEXT,
                  True, "midleft")  # fmt: skip
        text.blit(surface, sub, (tile.x + 6, tile.bottom - 3), 10, theme.TEXT_DIM,
                  anchor="bottomleft", max_width=w)  # fmt: skip
    y = spark.top - 16
    text.blit(surface, f"throughput, rolling {ROLLING_MINUTES:.0f} min (good parts/h)",
              (area.x, y), theme.FONT_SMALL, theme.TEXT_DIM)  # fmt: skip
    if pane.history:
        now, peak = pane.history[-1][1], max(v for _, v in pane.history)
        text.blit(surface, f"now {now:.1f}  ·  peak {peak:.1f}", (area.right, y),
                  theme.FONT_SMALL, theme.TEXT_DIM, anchor="topright")  # fmt: skip
    draw_sparkline(surface, spark, pane.history)
    text.blit(surface, "time in state per station (busy share at right)", (area.x, util.y - 17),
              theme.FONT_SMALL, theme.TEXT_DIM)  # fmt: skip
    if util.height <= 8:
        return 0
    return draw_utilisation(surface, util, snap.stations)
