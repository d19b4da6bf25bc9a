"""Calls at fixed simulated times, alongside a running line.

Why: the viewer pictures a learned run at exact times between decisions (a capture every
half minute), but decisions come at irregular times. A ticker process of its own draws no
random numbers and wakes no one, so the run is the same with or without it.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from factory_twin.sim.line import Line


def call_every(line: Line, period: float, first: float, fn: Callable[[], None]) -> None:
    """Call `fn()` at `first`, `first + period`, ... while the line's clock runs (from now if
    `first` has passed). Times are `first + k * period`, exact when both are multiples of a
    power of two (no drift from adding up steps)."""
    env = line.env

    def ticker():
        k = max(0, math.ceil((env.now - first) / period - 1e-9))
        while True:
            wait = first + k * period - env.now
            if wait > 0:
                yield env.timeout(wait)
            fn()
            k += 1

    env.process(ticker())
