"""The MAPPO trainer: it learns, it is reproducible, LoRASA's phases touch only what they
should, the semi-MDP advantages are what the docstring says, and a NaN loss stops training."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import det, line

from factory_twin.env import LineEnv
from factory_twin.errors import TrainingError
from factory_twin.policy.acting import act
from factory_twin.train.mappo import MAPPO, TrainConfig

TWO = [{"name": "a", "mix": 0.5}, {"name": "b", "mix": 0.5}]


def small_line():
    """Two stations, two products: waiting idles a machine, fast mode scraps half the parts
    and changeovers cost time, so a random policy loses a lot against a trained one."""
    fast = {"fast": {"time_factor": 0.7, "scrap_prob": 0.5}}
    stations = [
        {"name": "cut", "buffer": 4, "process": det(1.0), "speed_modes": fast},
        {
            "name": "weld",
            "buffer": 4,
            "process": det(1.0),
            "setup": {"from_to": {"a->b": 3.0, "b->a": 3.0}},
            "speed_modes": fast,
        },
    ]
    return line(stations, {"kind": "saturated"}, length=120.0, products=TWO)


def small_config(**kw) -> TrainConfig:
    base = dict(
        method="ps",
        total_steps=12_288,
        n_envs=4,
        rollout_len=64,
        episode_minutes=120.0,
        hidden=(32, 32),
        lr=3e-3,
        seed=3,
    )
    return TrainConfig(**{**base, **kw})


def mean_return(scenario, actor, seeds) -> float:
    """Mean team return of sampled-policy episodes, one per seed."""
    gen = torch.Generator().manual_seed(0)
    totals = []
    for seed in seeds:
        env = LineEnv(scenario, 120.0)
        obs, mask, _ = env.reset_arrays(seed)
        total, done = 0.0, False
        while not done:
            with torch.inference_mode():
                a = act(actor, obs[None], mask[None], generator=gen).actions[0].numpy()
            obs, mask, _, r, done = env.step_arrays(a)
            total += r
        totals.append(total)
    return float(np.mean(totals))


def test_short_ps_run_beats_the_random_policy():
    sc = small_line()
    random_policy = MAPPO(sc, small_config()).actor  # untrained: near-uniform over valid actions
    tr = MAPPO(sc, small_config())
    tr.train()
    seeds = [101, 102, 103]
    before, after = mean_return(sc, random_policy, seeds), mean_return(sc, tr.actor, seeds)
    # a perfect line makes ~118 parts in 120 minutes; the random policy wastes about half
    assert after > before + 25, (before, after)


def _clone(tensors) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in tensors.items()}


def test_lorasa_adapter_phase_changes_adapters_only():
    sc = small_line()
    tr = MAPPO(sc, small_config(method="lorasa", total_steps=4096, switch_fraction=0.5))
    initial_base = _clone(tr.actor.base_state_dict())
    at_switch: dict = {}
    switch = tr.switch_to_adapters

    def snapshot_then_switch():
        switch()
        at_switch["base"] = _clone(tr.actor.base_state_dict())
        at_switch["adapters"] = [p.detach().clone() for p in tr.actor.adapter_parameters()]

    tr.switch_to_adapters = snapshot_then_switch
    tr.train()
    assert tr.phase == "adapters"
    base = tr.actor.base_state_dict()
    # phase 1 trained the base ...
    assert any(not torch.equal(initial_base[k], at_switch["base"][k]) for k in base)
    # ... phase 2 left it bit-identical and trained the adapters instead
    for k, v in base.items():
        assert torch.equal(v, at_switch["base"][k]), k
    adapters = tr.actor.adapter_parameters()
    assert adapters
    changed = [not torch.equal(p, q) for p, q in zip(adapters, at_switch["adapters"], strict=True)]
    assert all(changed)


def test_same_seed_same_weights_other_seed_different():
    sc = small_line()

    def weights(seed):
        tr = MAPPO(sc, small_config(method="lorasa", total_steps=2048, seed=seed))
        tr.train()
        return tr.actor.state_dict(), tr.finished_returns

    (a, ra), (b, rb), (c, _) = weights(5), weights(5), weights(6)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert ra == rb
    assert any(not torch.equal(a[k], c[k]) for k in a)


def test_nan_loss_raises_training_error(monkeypatch):
    tr = MAPPO(small_line(), small_config(total_steps=1024))

    def nan_values(state, agent_idx):
        return torch.full((state.shape[0],), float("nan"))

    monkeypatch.setattr(tr.critic, "forward", nan_values)
    with pytest.raises(TrainingError, match="loss became nan"):
        tr.train()


# --- semi-MDP advantages on a hand-made rollout ----------------------------------------------


def _rollout(dones):
    """1 env, 2 stations, 3 steps of one minute: station 0 acts at steps 0 and 2, station 1 at
    step 1; rewards 1, 2, 4."""
    T, E, N, D = 3, 1, 2, 4
    acting = np.zeros((T, E, N), bool)
    acting[0, 0, 0] = acting[2, 0, 0] = acting[1, 0, 1] = True
    return {
        "obs": np.zeros((T, E, N, D), np.float32),
        "acting": acting,
        "rewards": np.array([[1.0], [2.0], [4.0]], np.float32),
        "minutes": np.ones((T, E), np.float32),
        "dones": np.array(dones, bool).reshape(T, E),
        "final_obs": np.zeros((T, E, N, D), np.float32),
        "last_obs": np.zeros((E, N, D), np.float32),
    }


@pytest.mark.parametrize(
    "dones, expected",
    [
        # A(0,t0) = 1 + .5*2 + .25*V - V + lambda*.25*A(0,t2); A(0,t2) = 4 + .5*V - V;
        # A(1,t1) = 2 + .5*4 + .25*V - V (no decision of station 1 after it: bootstrap)
        ([0, 0, 0], {(0, 0): 1.6875, (1, 1): 3.25, (2, 0): 3.5}),
        # the episode ends after step 1: both stations bootstrap from the final state and
        # nothing of step 2 (a new episode) reaches back
        ([0, 1, 0], {(0, 0): 1.25, (1, 1): 1.5, (2, 0): 3.5}),
    ],
)
def test_advantages_follow_each_stations_own_decisions(monkeypatch, dones, expected):
    tr = MAPPO(small_line(), small_config(gamma=0.5, gae_lambda=0.5))
    monkeypatch.setattr(tr, "_critic_values", lambda states, agents: np.ones(len(agents)))
    adv, values = tr.advantages(_rollout(dones))
    for (t, i), want in expected.items():
        assert adv[t, 0, i] == pytest.approx(want), (t, i)
        assert values[t, 0, i] == 1.0
    assert adv[0, 0, 1] == adv[1, 0, 0] == adv[2, 0, 1] == 0.0  # no decision, no advantage
