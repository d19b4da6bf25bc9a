"""The hidden quirks of the shipped quirk lines matter: serving each station its own way beats
every single rule by the margins the scenario headers quote (fewer seeds here, paired by
common random numbers), and the wrong behaviour at a look-alike station costs output."""

from __future__ import annotations

from pathlib import Path
from statistics import mean

import pytest

from factory_twin.policy.heuristics import fifo, hurried, min_setup, pm_threshold
from factory_twin.scenario import load_scenario
from factory_twin.sim.kpi import collect
from factory_twin.sim.line import Decider, Line

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
SEEDS = (0, 1, 2)


def parts_per_hour(path: str, default: Decider, special: dict[str, Decider] | None = None,
                   seeds: tuple[int, ...] = SEEDS) -> float:  # fmt: skip
    """Mean good parts/h with `default` everywhere except the named stations."""
    sc = load_scenario(SCENARIOS / path)
    names = [st.name for st in sc.stations]
    deciders = {i: (special or {}).get(n, default) for i, n in enumerate(names)}
    out = []
    for seed in seeds:
        line = Line(sc, seed, deciders)
        line.run()
        out.append(collect(line).throughput * 60)
    return mean(out)


def test_glass_line_pays_for_rushing_only_the_stations_that_rush_for_free():
    free = {n: hurried(fifo) for n in ("washer", "dryer", "coater", "sorter")}
    normal = parts_per_hour("glass_line.yaml", fifo)
    rush_free = parts_per_hour("glass_line.yaml", fifo, free)
    all_fast = parts_per_hour("glass_line.yaml", hurried(fifo))
    assert rush_free > 1.08 * normal  # about +13% in the header
    assert all_fast < 0.2 * normal
    # the look-alike neighbour of a free station loses a third of the line's output if rushed
    assert parts_per_hour("glass_line.yaml", fifo, {"decorator": hurried(fifo)}) < 0.75 * normal


def test_press_shop_pays_for_pm_at_the_wearing_presses_only():
    wearing = {f"press-{i}": pm_threshold for i in (1, 3, 5)}
    no_pm = parts_per_hour("press_shop.yaml", fifo)
    pm_everywhere = parts_per_hour("press_shop.yaml", pm_threshold)
    pm_wearing = parts_per_hour("press_shop.yaml", fifo, wearing)
    assert pm_wearing > 1.015 * pm_everywhere and pm_everywhere > 1.05 * no_pm
    # one PM'd press on its own: the wearing one gains, its random-failure neighbour loses
    assert parts_per_hour("press_shop.yaml", fifo, {"press-3": pm_threshold}) > no_pm
    assert parts_per_hour("press_shop.yaml", fifo, {"press-4": pm_threshold}) < no_pm


def test_packaging_line_scraps_at_a_rushed_labeler_but_not_at_its_look_alike_sealer():
    seeds = (0, 1)
    base = parts_per_hour("packaging.yaml", min_setup, seeds=seeds)
    labeler = parts_per_hour("packaging.yaml", min_setup, {"case-labeler": hurried(min_setup)},
                             seeds)  # fmt: skip
    sealer = parts_per_hour("packaging.yaml", min_setup, {"case-sealer": hurried(min_setup)},
                            seeds)  # fmt: skip
    assert labeler < 0.85 * base
    assert sealer == pytest.approx(base, rel=0.02)
