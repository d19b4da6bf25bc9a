"""The environment rewrites only the observation features the simulator flagged as changed.

That is an optimisation with two ways to go wrong: a feature that changes without its station
being flagged goes stale, and a cached value could be rounded differently from the plain
computation trained policies saw. So every step of long random episodes must equal, bit for
bit, an observation built from scratch (float32, one machine at a time), straight from the
line's state and the layout `factory_twin.observation` describes, on the shipped lines and on
a line with what they lack (an infinite buffer, three and seven machines on one buffer, a
Poisson source, three products).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from helpers import exp, line

from factory_twin.env import LineEnv
from factory_twin.observation import INF_BUFFER_SCALE
from factory_twin.scenario import Scenario, load_scenario

SCEN = Path(__file__).parents[1] / "scenarios"


def from_scratch(env: LineEnv) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    sc, ln = env.scenario, env.line
    P, n = env.n_products, env.n_agents
    names = sc.product_names
    obs = np.zeros((n, env.obs_dim), np.float32)
    mask = np.zeros((n, env.n_actions), bool)
    acting = np.zeros(n, bool)
    caps = [  # an unlimited buffer shows its parts as a share of (parts + INF_BUFFER_SCALE)
        spec.buffer if spec.buffer is not None else st.buffer.count + INF_BUFFER_SCALE
        for spec, st in zip(sc.stations, ln.stations, strict=True)
    ]
    for i, (spec, st) in enumerate(zip(sc.stations, ln.stations, strict=True)):
        asking = st.pending[0].machine if st.pending else st.machines[0]
        setups = spec.setup.pairs() if spec.setup else {}
        for k in range(P):
            obs[i, 3 * k] = len(st.buffer.queues[k]) / caps[i]
            if asking.last_product >= 0:
                obs[i, 3 * k + 1] = float(asking.last_product == k)
                setup = setups.get((names[asking.last_product], names[k]), 0.0)
                proc = spec.process_for(names[k]).mean
                obs[i, 3 * k + 2] = setup / (setup + proc) if setup else 0.0
        t = 3 * P
        obs[i, t] = st.buffer.count / caps[i]
        mttf = spec.failure.ttf.mean if spec.failure else math.inf
        obs[i, t + 1] = min(asking.age / mttf, 3.0)
        if i == 0:
            obs[i, t + 2] = float(sc.source.kind == "saturated")
        else:
            obs[i, t + 2] = ln.stations[i - 1].buffer.count / caps[i - 1]
        if i + 1 < n:
            obs[i, t + 3] = ln.stations[i + 1].buffer.count / caps[i + 1]
        for m in st.machines:
            obs[i, t + 4 + m.state] += 1.0 / len(st.machines)
        acting[i] = bool(st.pending)
        mask[i, 0] = True
        if acting[i]:
            mask[i, 0] = st.buffer.count < st.buffer.capacity
            for k in range(P):
                mask[i, 1 + 2 * k] = len(st.buffer.queues[k]) > 0
                mask[i, 2 + 2 * k] = mask[i, 1 + 2 * k] and spec.speed_modes.fast is not None
            mask[i, 1 + 2 * P] = spec.pm is not None
    return obs, mask, acting


def odd_line() -> Scenario:
    fast = {"fast": {"time_factor": 0.6, "scrap_prob": 0.05, "wear_factor": 1.5}}
    products = [{"name": "a", "mix": 0.5}, {"name": "b", "mix": 0.3}, {"name": "c", "mix": 0.2}]
    setup = {"from_to": {"a->b": 2.0, "b->c": 1.0, "c->a": 3.0}}
    failure = {"ttf": exp(60.0), "ttr": exp(5.0)}
    stations = [
        {"name": "s1", "process": exp(0.8), "speed_modes": fast, "setup": setup},
        {"name": "s2", "process": exp(2.2), "machines": 3, "buffer": 4,
         "failure": failure, "pm": {"duration": 2.0}, "speed_modes": fast},
        {"name": "s3", "process": exp(0.7), "buffer": 2, "setup": setup},
        {"name": "s4", "process": exp(4.5), "machines": 7, "buffer": 9, "failure": failure},
    ]  # fmt: skip
    return line(stations, {"kind": "poisson", "rate": 1.1}, 400.0, products=products)


CASES = {name: lambda name=name: load_scenario(SCEN / f"{name}.yaml")
         for name in ("bottling", "smt", "engine")}  # fmt: skip
CASES["odd"] = odd_line


@pytest.mark.parametrize("case", sorted(CASES))
def test_incremental_observation_equals_one_built_from_scratch(case):
    env = LineEnv(CASES[case](), episode_minutes=400.0, warmup=30.0)
    rng = np.random.default_rng(11)
    steps = 0
    for seed in (4, 5):
        obs, mask, acting = env.reset_arrays(seed)
        done = False
        while not done:
            want_obs, want_mask, want_acting = from_scratch(env)
            np.testing.assert_array_equal(obs, want_obs, err_msg=f"step {steps}")
            assert np.array_equal(mask, want_mask), f"mask differs at step {steps}"
            assert np.array_equal(acting, want_acting), f"acting differs at step {steps}"
            assert env.acting_stations == np.flatnonzero(want_acting).tolist()
            acts = np.array([rng.choice(np.flatnonzero(mask[i])) for i in range(env.n_agents)])
            obs, mask, acting, _, done = env.step_arrays(acts)
            steps += 1
        np.testing.assert_array_equal(obs, from_scratch(env)[0])
    assert steps > 500


def test_env_writes_into_arrays_it_is_given_and_refuses_wrong_ones():
    sc = load_scenario(SCEN / "smt.yaml")
    probe = LineEnv(sc)
    N, D, A = probe.n_agents, probe.obs_dim, probe.n_actions
    obs, mask, acting = (
        np.zeros((2, N, D), np.float32),
        np.zeros((2, N, A), bool),
        np.zeros((2, N), bool),
    )
    env = LineEnv(sc, episode_minutes=60.0, out=(obs[1], mask[1], acting[1]))
    o, m, a = env.reset_arrays(3)
    assert np.shares_memory(o, obs) and np.shares_memory(m, mask) and np.shares_memory(a, acting)
    assert obs[1].any() and not obs[0].any() and acting[1].any()
    env.step_arrays(np.zeros(N, np.int64))
    np.testing.assert_array_equal(obs[1], from_scratch(env)[0])
    with pytest.raises(ValueError, match="C-contiguous"):
        LineEnv(sc, out=(obs[1].astype(np.float64), mask[1], acting[1]))
    with pytest.raises(ValueError, match="C-contiguous"):
        LineEnv(sc, out=(obs[:, 0], mask[1], acting[1]))  # [2, D]: wrong shape
