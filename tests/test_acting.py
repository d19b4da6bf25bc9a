"""Acting-rows-only action choice: the same draws as the all-rows forward, on fewer rows."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from factory_twin.policy.acting import act, act_acting
from factory_twin.policy.lora import AgentGroups
from factory_twin.policy.networks import Actor, ActorConfig

E, N, D, A = 6, 4, 10, 5


def _batch(rng: np.random.Generator):
    obs = rng.standard_normal((E, N, D)).astype(np.float32)
    mask = rng.random((E, N, A)) < 0.7
    mask[..., 0] = True  # waiting stays possible, as in the env
    acting = rng.random((E, N)) < 0.3
    acting[0] = False  # a line where nobody acts
    acting[1, 2] = True
    return obs, mask, acting


@pytest.mark.parametrize("kind", ["shared", "shared-id", "separate", "lora"])
@pytest.mark.parametrize("greedy", [False, True])
def test_acting_rows_draw_what_the_all_rows_forward_draws(kind, greedy):
    torch.manual_seed(0)
    actor = Actor(ActorConfig(D, A, N, (16, 16), kind=kind, rank=2))
    for p in actor.adapter_parameters():
        torch.nn.init.normal_(p, std=0.3)  # adapters that change the policy
    rng = np.random.default_rng(1)
    g_all, g_acting = torch.Generator().manual_seed(4), torch.Generator().manual_seed(4)
    with torch.inference_mode():
        for _ in range(20):
            obs, mask, acting = _batch(rng)
            full = act(actor, obs, mask, greedy=greedy, generator=g_all)
            actions, logp = act_acting(actor, obs, mask, acting, greedy, g_acting)
            assert np.array_equal(actions[acting], full.actions.numpy()[acting])
            np.testing.assert_allclose(logp[acting], full.logp.numpy()[acting], atol=1e-5)
            assert not actions[~acting].any() and not logp[~acting].any()
            assert mask[acting, actions[acting]].all()
    # both consumed the generator alike: the streams are still in step
    assert torch.equal(g_all.get_state(), g_acting.get_state())


def test_plan_from_counts_matches_the_sorting_plan():
    counts = np.array([3, 0, 5, 1])
    idx = torch.from_numpy(np.repeat(np.arange(4), counts))
    x = torch.randn(len(idx), 3)
    fast, slow = AgentGroups.from_counts(counts), AgentGroups.from_index(idx, 4)
    assert (fast.rows, fast.batch) == (slow.rows, slow.batch) == (5, 9)
    padded = fast.to_padded(x)
    for agent, rows in enumerate(padded):
        assert torch.equal(rows[: counts[agent]], x[idx == agent])
    assert torch.equal(fast.from_padded(padded), x)
    equal = AgentGroups.from_counts(np.array([2, 2]))
    assert equal.is_contiguous and equal.is_padding_free
