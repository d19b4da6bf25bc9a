"""Synthetic serial lines of any length, built from a fixed cycle of station kinds like the
shipped ones (a fast single machine that can be pushed, a two-machine station with
changeovers, wear-out breakdowns and PM, a deterministic station, a station with random
breakdowns).

Why in the package: the scaling benchmark measures cost against line length with them, and
the viewer's documentation screenshot of a 30-station line is drawn from the same line, so
both use this one definition.
"""

from __future__ import annotations

from factory_twin.scenario.loading import parse_scenario
from factory_twin.scenario.model import Scenario

WARMUP = 480.0


def station(i: int) -> dict:
    """Station i of a synthetic line: a fixed cycle of four kinds (no scrap, so every part
    that enters eventually leaves good and parts/s measure the whole line)."""
    kind = i % 4
    st: dict = {"name": f"s{i + 1:02d}", "buffer": 6 + 2 * (kind == 1)}
    if kind == 0:  # fast single machine that can be pushed
        st["process"] = {"dist": "lognormal", "mean": 0.8, "cv": 0.2}
        st["speed_modes"] = {"fast": {"time_factor": 0.7, "scrap_prob": 0.2}}
    elif kind == 1:  # two machines, changeovers, wear-out breakdowns, PM (the bottleneck)
        st["machines"] = 2
        st["process"] = {
            "a": {"dist": "lognormal", "mean": 1.6, "cv": 0.3},
            "b": {"dist": "lognormal", "mean": 1.5, "cv": 0.3},
        }
        st["setup"] = {"from_to": {"a->b": 3.0, "b->a": 4.0}}
        st["failure"] = {"ttf": {"dist": "weibull", "shape": 2.0, "scale": 400},
                         "ttr": {"dist": "exponential", "mean": 10}}  # fmt: skip
        st["pm"] = {"duration": 5}
    elif kind == 2:  # deterministic
        st["process"] = {"dist": "deterministic", "value": 0.7}
    else:  # random breakdowns
        st["process"] = {"dist": "gamma", "mean": 0.75, "cv": 0.3}
        st["failure"] = {"ttf": {"dist": "exponential", "mean": 600},
                         "ttr": {"dist": "exponential", "mean": 8}}  # fmt: skip
    return st


def serial_line(n: int, length: float) -> Scenario:
    """A serial line of `n` stations (`station(0)` ... `station(n - 1)`), two products, a
    saturated source, a `length`-minute horizon after the warm-up."""
    doc = {
        "name": f"serial-{n}",
        "horizon": {"warmup": WARMUP, "length": length},
        "products": [{"name": "a", "mix": 0.6}, {"name": "b", "mix": 0.4}],
        "source": {"kind": "saturated"},
        "stations": [station(i) for i in range(n)],
    }
    return parse_scenario(doc, f"synthetic serial-{n}")
