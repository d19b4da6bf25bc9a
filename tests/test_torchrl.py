"""LineEnv under TorchRL's PettingZooWrapper (examples/torchrl_line.py): specs pass on every
shipped line, masks reach TorchRL's samplers, and a wrapped rollout gives exactly the numbers
LineEnv gives for the same seed and actions, station by station."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest
import torch
from torchrl.envs import PettingZooWrapper
from torchrl.envs.utils import MarlGroupMapType, check_env_specs

from factory_twin.env import LineEnv
from factory_twin.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))
pytestmark = pytest.mark.filterwarnings("ignore:PettingZoo in TorchRL is tested")


def _load_example():
    spec = importlib.util.spec_from_file_location("torchrl_line", ROOT / "examples/torchrl_line.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ex = _load_example()


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """The example's networks are tiny: several threads only wait on each other (as `main` does)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _chosen_allowed(td) -> torch.Tensor:
    """For every step and station: was the action taken allowed by the mask shown?"""
    return td.get(ex.MASK).gather(-1, td.get(ex.ACTION).unsqueeze(-1)).squeeze(-1)


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_specs_check_out_with_all_stations_in_one_group(path: Path) -> None:
    env = ex.make_env(path, seed=0)
    assert env.group_map == {"agents": [st.name for st in load_scenario(path).stations]}
    check_env_specs(env, seed=0)


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_wrapped_rollout_gives_line_envs_own_numbers_station_by_station(path: Path) -> None:
    env = ex.make_env(path, episode_minutes=60.0, seed=3)
    policy = ex.random_policy(torch.Generator().manual_seed(5))
    td = env.rollout(10_000, policy, auto_reset=False, tensordict=env.reset(seed=11))
    n, d, a = LineEnv.sizes(load_scenario(path))
    steps = td.shape[0]
    assert td.get(ex.OBS).shape == (steps, n, d)
    assert td.get(ex.MASK).shape == (steps, n, a)
    assert td.get(ex.ACTION).shape == (steps, n)
    assert td.get(("next", "agents", "reward")).shape == (steps, n, 1)
    assert steps > 40 and td.get(("next", "done"))[-1] and not td.get(("next", "done"))[:-1].any()
    assert _chosen_allowed(td).all()

    ref = LineEnv(load_scenario(path), episode_minutes=60.0)
    names = ref.possible_agents
    obs, _ = ref.reset(seed=11)
    acting_seen = set()
    for t in range(steps):
        for i, name in enumerate(names):
            assert torch.equal(td.get(ex.OBS)[t, i], torch.from_numpy(obs[name]["observation"]))
            mask = torch.from_numpy(obs[name]["action_mask"]).bool()
            assert torch.equal(td.get(ex.MASK)[t, i], mask)
            if mask[1:].any():
                acting_seen.add(name)
        actions = {name: int(td.get(ex.ACTION)[t, i]) for i, name in enumerate(names)}
        obs, rewards, _, truncations, _ = ref.step(actions)
        for i, name in enumerate(names):
            reward = torch.tensor(rewards[name], dtype=torch.float32)
            assert td.get(("next", "agents", "reward"))[t, i, 0] == reward
            assert bool(td.get(("next", "agents", "truncated"))[t, i, 0]) == truncations[name]
    assert ref.agents == []  # LineEnv's episode ended at the same step
    assert acting_seen == set(names)  # every station chose something, so a mix-up would show


def test_torchrls_own_random_actions_respect_the_masks_and_state_is_all_observations() -> None:
    line = LineEnv(load_scenario(SCENARIOS[0]), episode_minutes=60.0, seed=2)
    env = PettingZooWrapper(line, group_map=MarlGroupMapType.ALL_IN_ONE_GROUP, return_state=True)
    with torch.random.fork_rng():
        torch.manual_seed(2)
        td = env.rollout(10_000)  # no policy: TorchRL samples from the masked action spec
    assert (td.get(ex.MASK).sum(-1) == 1).any() and (td.get(ex.MASK).sum(-1) > 1).any()
    assert _chosen_allowed(td).all()
    assert torch.equal(td.get("state"), td.get(ex.OBS).flatten(1))


def test_a_few_ppo_iterations_keep_the_masks_and_report_each_batch() -> None:
    env = ex.make_env(SCENARIOS[0], episode_minutes=60.0, seed=4)
    with torch.random.fork_rng():
        actor, rewards = ex.train(env, iterations=2, frames=32, seed=4)
        td = env.rollout(100, actor, auto_reset=False, tensordict=env.reset(seed=9))
    assert len(rewards) == 2 and all(math.isfinite(r) for r in rewards)
    assert _chosen_allowed(td).all()
    only_wait = td.get(ex.MASK).sum(-1) == 1
    assert only_wait.any()  # stations not asked to act: one allowed action, log-prob 0
    assert torch.all(td.get(ex.LOG_PROB)[only_wait] == 0)


def test_example_script_prints_the_group_an_episode_and_each_iteration(capsys) -> None:
    with torch.random.fork_rng():
        ex.main([str(ROOT / "scenarios/smt.yaml"), "--iterations", "1", "--frames", "16"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("group_map: {'agents': ['printer', 'pick-and-place'")
    assert lines[1].startswith("random episode: ") and "decisions, team reward " in lines[1]
    assert lines[2].startswith("ppo iteration 1: mean team reward per decision ")
    assert len(lines) == 3
