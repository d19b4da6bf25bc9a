"""Every observation the env hands out lies inside the observation space it declares.

Long seeded random (masked) rollouts through the PettingZoo API on every shipped line and on a
line with what they lack: unlimited buffers whose queues grow far past INF_BUFFER_SCALE (their
fill must still read below 1) and a station with ten machines (whose float32 state shares would
otherwise sum to just over 1).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import exp, line

from factory_twin.env import LineEnv
from factory_twin.observation import AGE_CAP, INF_BUFFER_SCALE, Layout
from factory_twin.scenario import Scenario, load_scenario

SCENARIOS = sorted((Path(__file__).parents[1] / "scenarios").glob("*.yaml"))


def unlimited_line() -> Scenario:
    fast = {"fast": {"time_factor": 0.6, "scrap_prob": 0.05, "wear_factor": 1.5}}
    failure = {"ttf": exp(40.0), "ttr": exp(5.0)}
    products = [{"name": "a", "mix": 0.6}, {"name": "b", "mix": 0.4}]
    stations = [
        {"name": "s1", "process": exp(1.0), "speed_modes": fast, "failure": failure,
         "pm": {"duration": 3.0}, "setup": {"from_to": {"a->b": 2.0, "b->a": 2.0}}},
        {"name": "s2", "process": exp(9.0), "machines": 10},
        {"name": "s3", "process": exp(0.8), "buffer": 3, "failure": failure},
    ]  # fmt: skip
    return line(stations, {"kind": "poisson", "rate": 1.2}, 2000.0, products=products)


CASES = {path.stem: lambda path=path: load_scenario(path) for path in SCENARIOS}
CASES["unlimited"] = unlimited_line


def test_every_shipped_line_is_covered():
    assert {"bottling", "engine", "smt"} <= set(CASES)


@pytest.mark.parametrize("case", sorted(CASES))
def test_random_rollouts_stay_inside_the_declared_observation_space(case):
    env = LineEnv(CASES[case](), episode_minutes=2000.0)
    space = env.observation_space(env.possible_agents[0])
    box = space["observation"]
    layout = Layout(env.n_products)
    fill = layout.fill
    high = np.ones(env.obs_dim, np.float32)
    high[layout.age] = AGE_CAP
    np.testing.assert_array_equal(box.low, np.zeros(env.obs_dim, np.float32))
    np.testing.assert_array_equal(box.high, high)
    rng = np.random.default_rng(3)
    unlimited = [i for i, st in enumerate(env.scenario.stations) if st.buffer is None]
    steps, most_parts, fills = 0, 0, np.zeros(env.n_agents, np.float32)  # highest fill seen
    for seed in (1, 2):
        obs, _ = env.reset(seed=seed)
        while env.agents:
            for name, o in obs.items():
                assert space.contains(o), f"{name} at step {steps}: {o['observation']}"
            fills = np.maximum(fills, [o["observation"][fill] for o in obs.values()])
            most_parts = max([most_parts] + [env.line.stations[i].buffer.count for i in unlimited])
            acts = {n: int(rng.choice(np.flatnonzero(o["action_mask"]))) for n, o in obs.items()}
            obs, *_ = env.step(acts)
            steps += 1
    assert steps > 2000
    finite = [i for i in range(env.n_agents) if i not in unlimited]
    assert fills[finite].max() == 1.0  # some finite buffer fills up: the bound is reached
    if case == "unlimited":  # queues ran far past the scale, their fill still reads below 1
        assert most_parts > 5 * INF_BUFFER_SCALE
        assert 0.8 < fills[unlimited].max() and (fills[unlimited] < 1.0).all()
