"""CONWIP on a demand-driven line: the orders that arrive are admitted only while WIP is under
the cap (the rest are lost), so the heuristic never makes more than the orders that came.

Checked against the M/M/1/K queue: one exponential station fed by Poisson orders, a buffer
of b waiting places and a CONWIP cap L, holds at most K = min(L, b + 1) parts, and its
throughput is lambda (1 - P_K) with P_K = (1 - rho) rho^K / (1 - rho^(K + 1)). The simulator
matches it within its 95% CI, the Markov-chain solver exactly.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import exp, line
from scipy import stats

from factory_twin.optimum.chain import build_chain
from factory_twin.optimum.markovian import markovian_model
from factory_twin.optimum.policies import all_normal
from factory_twin.optimum.solve import fixed
from factory_twin.policy import heuristics
from factory_twin.policy.registry import heuristic
from factory_twin.scenario import load_scenario
from factory_twin.sim.run import simulate

SCENARIOS = __import__("pathlib").Path(__file__).resolve().parents[1] / "scenarios"
RATE, MEAN = 0.9, 1.0


def one_station(buffer: int, cap: int, length: float = 20_000.0):
    stations = [{"name": "press", "buffer": buffer, "process": exp(MEAN)}]
    source = {"kind": "conwip", "limit": cap, "rate": RATE}
    return line(stations, source, length, warmup=500.0)


def mm1k_throughput(k: int) -> float:
    rho = RATE * MEAN
    p_full = (1 - rho) * rho**k / (1 - rho ** (k + 1))
    return RATE * (1 - p_full)


@pytest.mark.parametrize(("buffer", "cap"), [(6, 3), (2, 5), (4, 1)])
def test_orders_under_a_cap_match_mm1k_in_the_solver_exactly(buffer, cap):
    sc = one_station(buffer, cap)
    gains = fixed(build_chain(markovian_model(sc), all_normal)).gains
    assert gains[1] == pytest.approx(mm1k_throughput(min(cap, buffer + 1)), rel=1e-10)


@pytest.mark.parametrize(("buffer", "cap"), [(6, 3), (2, 5)])
def test_orders_under_a_cap_match_mm1k_in_the_simulator(buffer, cap):
    sc = one_station(buffer, cap)
    xs = np.array([simulate(sc, s, heuristics.fifo).throughput for s in range(20)])
    half = stats.t.ppf(0.975, len(xs) - 1) * xs.std(ddof=1) / np.sqrt(len(xs))
    exact = mm1k_throughput(min(cap, buffer + 1))
    assert abs(xs.mean() - exact) <= half, (xs.mean(), half, exact)
    assert xs.mean() < RATE


def test_the_conwip_heuristic_keeps_a_poisson_lines_orders():
    sc = load_scenario(SCENARIOS / "benchmarks" / "rush_orders.yaml")
    released, _ = heuristic("conwip", sc)
    assert released.source.kind == "conwip" and released.source.rate == sc.source.rate
    assert released.source.limit == heuristics.conwip_limit(sc)
    kpis = [simulate(released, s, heuristics.fifo) for s in range(3)]
    assert np.mean([k.throughput for k in kpis]) < sc.source.rate  # no invented demand
    saturated = load_scenario(SCENARIOS / "bottling.yaml")
    assert heuristic("conwip", saturated)[0].source.rate is None
