"""The MAPPO trainer: it learns, it is reproducible, LoRASA's phases touch only what they
should, the semi-MDP advantages are what the docstring says, and a NaN loss stops training."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from helpers import det, line

from factory_twin.env import LineEnv
from factory_twin.errors import TrainingError
from factory_twin.policy.acting import act
from factory_twin.train.config import TrainConfig
from factory_twin.train.mappo import MAPPO, TrainerState
from factory_twin.train.rollout import Rollout
from factory_twin.train.value_stats import explained_variance

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
    reports = []
    tr.train(reports.append)
    seeds = [101, 102, 103]
    before, after = mean_return(sc, random_policy, seeds), mean_return(sc, tr.actor, seeds)
    # a perfect line makes ~118 parts in 120 minutes; the random policy wastes about half
    assert after > before + 25, (before, after)
    keys = {"policy", "value", "entropy", "approx_kl", "clipfrac", "explained_variance"}
    assert len(reports) == tr.updates == 48
    for p in reports:
        assert set(p.losses) == keys and all(np.isfinite(v) for v in p.losses.values()), p
        assert -1e-6 < p.losses["approx_kl"] < 0.05 and 0.0 <= p.losses["clipfrac"] <= 1.0


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


def _rollout(dones, obs_dim: int = 4, n_actions: int = 3):
    """1 env, 2 stations, 3 steps of one minute: station 0 acts at steps 0 and 2, station 1 at
    step 1; rewards 1, 2, 4."""
    r = Rollout.zeros(3, 1, 2, obs_dim, n_actions)
    r.acting[0, 0, 0] = r.acting[2, 0, 0] = r.acting[1, 0, 1] = True
    r.rewards[:, 0] = [1.0, 2.0, 4.0]
    r.minutes[:] = 1.0
    r.dones[:, 0] = dones
    return r


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


# --- diagnostics: approx-KL and explained variance -------------------------------------------


def test_explained_variance_numbers():
    target = np.array([1.0, 2.0, 3.0, 4.0])
    assert explained_variance(target, target) == 1.0
    assert explained_variance(np.full(4, 2.5), target) == 0.0  # a constant explains nothing
    # residual [0, 0, 0, -1]: variance 0.1875 of the target's 1.25
    assert explained_variance(np.array([1.0, 2.0, 3.0, 5.0]), target) == pytest.approx(0.85)
    assert np.isnan(explained_variance(target, np.ones(4)))


def test_update_reports_approx_kl_zero_before_the_policy_moves_then_positive():
    tr = MAPPO(small_line(), small_config(update_epochs=1, minibatches=1, total_steps=100_000))
    rollout = tr.collect()
    first = tr.update(rollout)  # one gradient step, measured on the policy that collected
    assert abs(first["approx_kl"]) < 1e-6 and first["clipfrac"] == 0.0
    later = [tr.update(rollout)["approx_kl"] for _ in range(5)]
    assert all(0.0 < kl < 1.0 for kl in later), later  # each further step moves it away


def test_explained_variance_rises_as_the_critic_fits_a_rollout():
    cfg = small_config(gamma=0.9, gae_lambda=1.0, update_epochs=10, minibatches=1, lr=1e-2)
    tr = MAPPO(small_line(), cfg)
    rollout = tr.collect()
    ev = [tr.update(rollout)["explained_variance"] for _ in range(8)]
    assert abs(ev[0]) < 0.1 < 0.5 < ev[-1], ev  # the untrained critic explains ~nothing


def test_update_explained_variance_of_a_constant_critic_is_zero(monkeypatch):
    tr = MAPPO(small_line(), small_config(gamma=0.5, gae_lambda=0.5))
    monkeypatch.setattr(tr, "_critic_values", lambda states, agents: np.ones(len(agents)))
    rollout = _rollout([0, 0, 0], tr.obs_dim, tr.n_actions)
    rollout.mask[..., 0] = True  # action 0 valid everywhere, so the actor has a distribution
    # returns 2.6875, 4.25, 4.5 against values 1, 1, 1
    assert tr.update(rollout)["explained_variance"] == 0.0


# --- the trainer's state ----------------------------------------------------------------------


def _as_json(meta: dict) -> dict:
    return json.loads(json.dumps(meta))


def _state_tensors(tr: MAPPO) -> dict[str, torch.Tensor]:
    """Every tensor of the trainer's state but the global torch RNG (shared by the process)."""
    return {k: v for k, v in tr.state_dict().tensors.items() if k != "rng.torch"}


@pytest.mark.parametrize("method", ["ps", "lorasa"])
def test_state_dict_round_trip_continues_exactly_as_the_original(method):
    """A trainer restored from another's state (through JSON, as a checkpoint stores it) and
    given the same rollouts ends with the same weights, optimiser moments, value normalisation
    and random streams as the original after further updates."""
    sc, cfg = small_line(), small_config(method=method, total_steps=100_000)
    a = MAPPO(sc, cfg)
    a.update(a.collect())
    if method == "lorasa":
        a.switch_to_adapters()
        a.update(a.collect())
    rollout = a.collect()
    state = a.state_dict()
    b = MAPPO(sc, cfg)
    b.load_state_dict(TrainerState(state.tensors, _as_json(state.meta)))
    assert b.phase == a.phase == ("adapters" if method == "lorasa" else "base")
    before = _clone(a.actor.state_dict())
    for _ in range(3):
        assert a.update(rollout) == b.update(rollout)
    after_a, after_b = _state_tensors(a), _state_tensors(b)
    assert after_a.keys() == after_b.keys()
    for k, v in after_a.items():
        assert torch.equal(v, after_b[k]), k
    assert any(not torch.equal(v, a.actor.state_dict()[k]) for k, v in before.items())
    assert _as_json(a.state_dict().meta) == _as_json(b.state_dict().meta)
    acts = [act(t.actor, a.obs, a.mask, generator=t.generator).actions for t in (a, b)]
    assert torch.equal(*acts)


def test_loaded_state_starts_fresh_episodes_from_the_saved_counters():
    sc, cfg = small_line(), small_config(total_steps=100_000)
    a = MAPPO(sc, cfg)
    a.update(a.collect())
    state = a.state_dict()
    b, c = MAPPO(sc, cfg), MAPPO(sc, cfg)
    b.load_state_dict(state)
    c.load_state_dict(state)
    for t in (b, c):
        t.update(t.collect())
    assert all(torch.equal(v, _state_tensors(c)[k]) for k, v in _state_tensors(b).items())
    assert [e.episode_counter for e in b.envs] == [e.episode_counter for e in c.envs]
    assert [e.episode_counter[1] for e in b.envs] == [
        n + 1 for _, n in state.meta["envs"]
    ]  # one fresh episode each, numbered where the saved run left off
