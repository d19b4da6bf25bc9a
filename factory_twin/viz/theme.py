"""Colours and font sizes of the visualizer, in one place.

Why a separate module: the renderer, the legend, the docs and the pixel tests must agree on
exactly which colour means what. State colours are chosen so that no two are confusable (and
none equals a product colour), because the tests identify lamps and buffer bars by colour.
"""

from __future__ import annotations

import colorsys

Colour = tuple[int, int, int]

# --- machine states (keys are sim.line.STATES) -----------------------------------------------
STATE_COLOURS: dict[str, Colour] = {
    "busy": (46, 204, 113),  # green: producing
    "setup": (165, 105, 220),  # purple: changing over
    "pm": (52, 140, 235),  # blue: preventive maintenance
    "down": (235, 64, 52),  # red: broken down
    "blocked": (245, 130, 32),  # orange: finished part cannot leave
    "starved": (128, 136, 150),  # grey: nothing to work on
    "idle": (240, 215, 80),  # yellow: policy chose to wait
}
UNKNOWN_STATE: Colour = (90, 90, 90)

# Which state a station's header shows when its machines disagree: the one a planner most
# needs to notice first.
STATE_PRIORITY: tuple[str, ...] = ("down", "pm", "setup", "blocked", "busy", "idle", "starved")

# --- products --------------------------------------------------------------------------------
PRODUCT_PALETTE: tuple[Colour, ...] = (
    (0, 190, 205),  # cyan
    (236, 92, 170),  # pink
    (205, 170, 120),  # sand
    (160, 150, 255),  # lavender
    (150, 185, 40),  # olive
    (250, 160, 130),  # salmon
    (230, 230, 235),  # white
    (140, 95, 60),  # brown
)


def product_colour(index: int) -> Colour:
    """Colour of product `index`: the palette first, then evenly spread extra hues."""
    if index < 0:
        return UNKNOWN_STATE
    if index < len(PRODUCT_PALETTE):
        return PRODUCT_PALETTE[index]
    hue = ((index - len(PRODUCT_PALETTE)) * 0.381966 + 0.07) % 1.0  # golden-ratio steps
    r, g, b = colorsys.hsv_to_rgb(hue, 0.45, 0.95)
    return (int(r * 255), int(g * 255), int(b * 255))


def state_colour(state: str) -> Colour:
    return STATE_COLOURS.get(state, UNKNOWN_STATE)


def mix(a: Colour, b: Colour, t: float) -> Colour:
    """Blend `a` towards `b` by `t` (0 = a, 1 = b)."""
    return (
        round(a[0] + (b[0] - a[0]) * t),
        round(a[1] + (b[1] - a[1]) * t),
        round(a[2] + (b[2] - a[2]) * t),
    )


# --- surfaces --------------------------------------------------------------------------------
BACKGROUND: Colour = (22, 26, 33)
PANE_BG: Colour = (27, 32, 41)
PANEL_BG: Colour = (35, 41, 53)
BOX_BG: Colour = (46, 53, 68)
BOX_BORDER: Colour = (78, 88, 108)
SELECTED_BORDER: Colour = (255, 255, 255)
BAR_BG: Colour = (24, 28, 36)
TEXT: Colour = (232, 235, 241)
TEXT_DIM: Colour = (150, 158, 174)
ACCENT: Colour = (120, 200, 255)
ARROW: Colour = (96, 108, 130)
PART_DOT: Colour = (222, 228, 238)
SPARK: Colour = (120, 200, 255)
WARN: Colour = (245, 185, 70)  # notices: a pane still computing, station rows left out

# --- fonts -----------------------------------------------------------------------------------
FONT_FACES: tuple[str, ...] = ("dejavusans", "liberationsans", "arial", "helvetica")
FONT_TITLE = 18
FONT_NAME = 14
FONT_TEXT = 13
FONT_SMALL = 11
FONT_KPI = 20
INFINITY = "∞"  # an open-ended buffer's capacity

# --- geometry --------------------------------------------------------------------------------
TITLE_H = 34
LEGEND_H = 28
MARGIN = 14
BOX_MIN_W = 120
BOX_MAX_W = 200
ARROW_GAP = 40  # minimum
ARROW_PREFERRED_GAP = 64
ARROW_MAX_GAP = 90
ROW_GAP = 40
# Long lines: at most this share of a pane's height goes to the station rows; beyond it the
# layout tries narrower boxes, closer rows and shorter arrows, step by step: (minimum box
# width, row gap, minimum arrow gap, compact box without the buffer caption).
LINE_SHARE_MAX = 0.52
COMPACT_STEPS: tuple[tuple[int, int, int, bool], ...] = (
    (104, 30, 40, False),
    (92, 24, 32, False),
    (84, 20, 24, True),
    (72, 16, 18, True),
)
DOT_SPACING = 22  # pixels between part dots on an arrow; one part moves them one spacing

# --- marks on the line and the buffer-level strip --------------------------------------------
BOTTLENECK_MARK: Colour = (255, 230, 0)  # bar under the header: `validate`'s bottleneck
LIMITING_MARK: Colour = (255, 40, 120)  # ring round the box: the station limiting right now
LEVEL_FULL: Colour = (200, 220, 255)  # a full buffer in the level strip (empty = BAR_BG)

# --- difference strip (blue/orange: apart for colour-blind viewers too, and labelled) --------
GAP_BETTER: Colour = (86, 160, 255)
GAP_WORSE: Colour = (250, 140, 40)
DIFF_H = 34
