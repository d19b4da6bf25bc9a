"""Numerical checks for the LoRASA layers and actor/critic networks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from factory_twin.policy import lora
from factory_twin.policy.lora import AgentGroups, MultiAgentLinear, MultiAgentLoRALinear
from factory_twin.policy.networks import (
    Actor,
    ActorConfig,
    Critic,
    base_hash,
    mlp_logits,
)

N_AGENTS, D_IN, D_OUT, RANK = 4, 12, 10, 3


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def _layer(**kwargs) -> MultiAgentLoRALinear:
    return MultiAgentLoRALinear(D_IN, D_OUT, N_AGENTS, rank=RANK, **kwargs)


def _randomise_b(layer: MultiAgentLoRALinear) -> None:
    with torch.no_grad():
        layer.lora_B.normal_()


def _reference(layer: MultiAgentLoRALinear, x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Row-by-row definition: x W^T + b + scale * (x A_i^T) B_i^T."""
    rows = []
    for xr, i in zip(x, idx.tolist(), strict=True):
        delta = layer.lora_B[i] @ (layer.lora_A[i] @ xr)
        rows.append(layer.weight @ xr + layer.bias + layer.scale * delta)
    return torch.stack(rows)


def test_zero_b_equals_base_layer_exactly() -> None:
    layer = _layer()
    x, idx = torch.randn(20, D_IN), torch.randint(0, N_AGENTS, (20,))
    base = torch.nn.functional.linear(x, layer.weight, layer.bias)
    assert torch.equal(layer(x, idx), base)
    grouped = layer.forward_grouped(x[:16].view(N_AGENTS, 4, D_IN))
    assert torch.equal(grouped.reshape(16, D_OUT), base[:16])


@pytest.mark.parametrize("alpha", [None, 6.0])
def test_adapter_path_matches_definition_and_merged_weight(alpha: float | None) -> None:
    layer = _layer(alpha=alpha)
    _randomise_b(layer)
    assert layer.scale == (1.0 if alpha is None else 2.0)
    x, idx = torch.randn(23, D_IN), torch.randint(0, N_AGENTS, (23,))  # uneven counts
    y = layer(x, idx)
    torch.testing.assert_close(y, _reference(layer, x, idx), atol=1e-5, rtol=1e-5)
    for i in range(N_AGENTS):
        rows = idx == i
        merged = x[rows] @ layer.merged_weight(i).T + layer.bias
        torch.testing.assert_close(y[rows], merged, atol=1e-5, rtol=1e-5)
    stacked = layer.merged_weights()
    for i in range(N_AGENTS):
        torch.testing.assert_close(stacked[i], layer.merged_weight(i))


@pytest.mark.parametrize("kind", ["contiguous", "permuted", "uneven"])
def test_grouped_and_flat_forward_agree(kind: str) -> None:
    layer, dense = _layer(), MultiAgentLinear(D_IN, D_OUT, N_AGENTS)
    _randomise_b(layer)
    rows = 5
    xg = torch.randn(N_AGENTS, rows, D_IN)
    idx = torch.arange(N_AGENTS).repeat_interleave(rows)
    x = xg.reshape(-1, D_IN)
    if kind != "contiguous":
        perm = torch.randperm(len(idx))
        x, idx = x[perm], idx[perm]
    if kind == "uneven":
        x, idx = torch.cat([x, x[:3]]), torch.cat([idx, torch.zeros(3, dtype=torch.long)])
    plan = AgentGroups.from_index(idx, N_AGENTS)
    assert plan.is_contiguous == (kind == "contiguous")
    assert plan.is_padding_free == (kind != "uneven")
    for mod in (layer, dense):
        flat = mod(x, idx)
        assert flat.shape == (len(idx), D_OUT)
        grouped = mod.forward_grouped(plan.to_padded(x))
        torch.testing.assert_close(plan.from_padded(grouped), flat, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(mod(x, plan), flat)
    torch.testing.assert_close(layer(x, idx), _reference(layer, x, idx), atol=1e-5, rtol=1e-5)
    for i in range(N_AGENTS):  # MultiAgentLinear == agent i's own nn.Linear
        sel = idx == i
        want = x[sel] @ dense.weight[i].T + dense.bias[i]
        torch.testing.assert_close(dense(x, idx)[sel], want, atol=1e-5, rtol=1e-5)


def _sorted_case(
    width: int, counts: list[int], freeze: bool
) -> tuple[MultiAgentLoRALinear, torch.Tensor, np.ndarray]:
    """A layer and rows sorted by station in uneven blocks (the trainer's minibatch layout)."""
    layer = MultiAgentLoRALinear(width, 8, len(counts), rank=4, alpha=6.0)  # scale 1.5
    _randomise_b(layer)
    if freeze:
        layer.freeze_base()
    x = torch.randn(sum(counts), width, requires_grad=True)
    return layer, x, np.array(counts)


def _count_sorted_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record each forward that takes the grouped-GEMM path (and still run it)."""
    calls: list[int] = []
    real = lora._SortedLoRA.apply
    monkeypatch.setattr(lora._SortedLoRA, "apply", lambda *a: calls.append(1) or real(*a))
    return calls


def _value_and_grads(layer: MultiAgentLoRALinear, x: torch.Tensor, rows) -> list[torch.Tensor]:
    y = layer(x, rows)
    wrt = [x, *(p for p in layer.parameters() if p.requires_grad)]
    return [y, *torch.autograd.grad((y * torch.linspace(-1, 1, y.numel()).view_as(y)).sum(), wrt)]


@pytest.mark.parametrize("freeze", [True, False])
def test_sorted_rows_take_the_grouped_gemm_and_match_the_padded_path(
    freeze: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Station-sorted rows in uneven blocks (one block empty) go through the grouped GEMM with
    its own backward; value and every gradient must be the padded path's, frozen base or not."""
    monkeypatch.setattr(lora, "SORTED_MIN_ROWS", 2)
    layer, x, counts = _sorted_case(12, [5, 0, 3, 9], freeze)
    calls = _count_sorted_calls(monkeypatch)
    sorted_path = _value_and_grads(layer, x, AgentGroups.from_counts(counts))
    assert calls == [1]
    idx = torch.from_numpy(np.repeat(np.arange(len(counts)), counts))
    padded = _value_and_grads(layer, x, AgentGroups.from_index(idx, len(counts)))
    assert calls == [1]  # a sorted plan from the index carries no block ends
    assert len(sorted_path) == len(padded) == (4 if freeze else 6)
    for got, want in zip(sorted_path, padded, strict=True):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    layer(x, AgentGroups.from_counts(counts)).sum().backward()  # a broadcast gradient works


@pytest.mark.parametrize("width,rows,taken", [(12, 2, True), (10, 2, False), (12, 64, False)])
def test_grouped_gemm_is_skipped_where_it_cannot_run_or_does_not_pay(
    width: int, rows: int, taken: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A row width that is not a multiple of 4 (grouped_mm's 16-byte strides) or too few rows per
    station keep the padded path, with the same numbers."""
    monkeypatch.setattr(lora, "SORTED_MIN_ROWS", rows)
    layer, x, counts = _sorted_case(width, [5, 1, 3, 9], freeze=True)
    calls = _count_sorted_calls(monkeypatch)
    y = layer(x, AgentGroups.from_counts(counts))
    assert bool(calls) == taken
    idx = torch.from_numpy(np.repeat(np.arange(len(counts)), counts))
    torch.testing.assert_close(y, _reference(layer, x, idx), atol=1e-5, rtol=1e-5)


def test_bad_agent_index_is_rejected() -> None:
    layer = _layer()
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        layer(torch.randn(3, D_IN), torch.tensor([0, 1, 4]))
    with pytest.raises(ValueError, match="4 agent groups"):
        layer.forward_grouped(torch.randn(3, 2, D_IN))


def test_frozen_base_gets_no_gradient_and_adapters_do() -> None:
    layer = _layer()
    _randomise_b(layer)  # with B = 0 the gradient of A would be zero
    layer.freeze_base()
    x, idx = torch.randn(16, D_IN), torch.arange(N_AGENTS).repeat(4)
    layer(x, idx).pow(2).sum().backward()
    assert layer.weight.grad is None and layer.bias.grad is None
    for p in layer.adapter_parameters():
        assert p.grad is not None and p.grad.abs().sum(dim=(1, 2)).min() > 0


@pytest.mark.parametrize("grouped", [False, True])
def test_adapters_are_independent(grouped: bool) -> None:
    layer = _layer()
    _randomise_b(layer)
    layer.freeze_base()
    opt = torch.optim.Adam(layer.adapter_parameters(), lr=1e-2)
    a_before, b_before = layer.lora_A.detach().clone(), layer.lora_B.detach().clone()
    agent = 2
    if grouped:
        out = layer.forward_grouped(torch.randn(N_AGENTS, 6, D_IN))[agent]
    else:
        idx = torch.randint(0, N_AGENTS, (40,))
        out = layer(torch.randn(40, D_IN), idx)[idx == agent]
    out.square().mean().backward()
    opt.step()
    for j in range(N_AGENTS):
        same_a = torch.equal(layer.lora_A[j], a_before[j])
        same_b = torch.equal(layer.lora_B[j], b_before[j])
        assert (same_a and same_b) == (j != agent), j


def test_layer_parameter_counts() -> None:
    layer = _layer()
    per_agent = RANK * (D_IN + D_OUT)
    assert layer.parameter_counts() == {
        "base": D_OUT * D_IN + D_OUT,
        "adapter_total": N_AGENTS * per_agent,
        "adapter_per_agent": per_agent,
    }
    assert sum(p.numel() for p in layer.parameters()) == D_OUT * D_IN + D_OUT + N_AGENTS * per_agent
    plain = _layer(adapters=False)
    assert plain.lora_A is None and len(list(plain.parameters())) == 2
    assert (
        MultiAgentLoRALinear(D_IN, D_OUT, N_AGENTS, rank=0).parameter_counts()["adapter_total"] == 0
    )
    dense = MultiAgentLinear(D_IN, D_OUT, N_AGENTS)
    assert dense.parameter_counts()["total"] == N_AGENTS * (D_OUT * D_IN + D_OUT)


def test_layer_adapter_round_trip_and_shape_errors() -> None:
    src, dst = _layer(), _layer()
    _randomise_b(src)
    exported = src.export_adapter(1)
    assert exported["A"].shape == (RANK, D_IN) and exported["B"].shape == (D_OUT, RANK)
    dst.load_adapter(3, exported)
    assert torch.equal(dst.lora_A[3], src.lora_A[1]) and torch.equal(dst.lora_B[3], src.lora_B[1])
    exported["A"].add_(1.0)  # the export is a copy, not a view
    assert not torch.equal(src.lora_A[1], exported["A"])
    with pytest.raises(ValueError, match=r"\(3, 12\)"):
        dst.load_adapter(0, {"A": torch.zeros(RANK, D_IN + 1), "B": torch.zeros(D_OUT, RANK)})
    with pytest.raises(ValueError, match="keys"):
        dst.load_adapter(0, {"A": torch.zeros(RANK, D_IN)})
    with pytest.raises(ValueError, match="agent"):
        dst.export_adapter(N_AGENTS)


# --- actor / critic --------------------------------------------------------------------------

OBS, ACTIONS, HIDDEN = 40, 8, (256, 256)


def _mlp_params(d_in: int) -> int:
    dims = [d_in, *HIDDEN, ACTIONS]
    return sum(a * b + b for a, b in zip(dims[:-1], dims[1:], strict=True))


def _actor(kind: str, n_agents: int = N_AGENTS, **kwargs) -> Actor:
    return Actor(ActorConfig(OBS, ACTIONS, n_agents, HIDDEN, kind=kind, **kwargs))


def test_actor_parameter_counts_per_kind() -> None:
    n = 6
    shared = _actor("shared", n).parameter_counts()
    assert shared == {"total": _mlp_params(OBS), "base": _mlp_params(OBS)} | {
        "adapter_total": 0,
        "adapter_per_agent": 0,
    }
    assert _actor("shared-id", n).parameter_counts()["total"] == _mlp_params(OBS + n)
    assert _actor("separate", n).parameter_counts()["total"] == n * _mlp_params(OBS)
    lora = _actor("lora", n, rank=8).parameter_counts()
    per_agent = 8 * (OBS + 256) + 8 * (256 + 256)
    assert lora["base"] == _mlp_params(OBS) == 78344
    assert lora["adapter_per_agent"] == per_agent == 6464
    assert lora["adapter_total"] == n * per_agent
    assert lora["total"] == lora["base"] + lora["adapter_total"]
    assert lora["adapter_per_agent"] <= 0.10 * lora["base"]
    deeper = _actor("lora", n, rank=8, adapter_layers="deeper").parameter_counts()
    assert deeper["adapter_per_agent"] == 8 * (256 + 256)


@pytest.mark.parametrize(
    ("kind", "station_id"),
    [("shared", False), ("shared-id", False), ("separate", False), ("lora", False), ("lora", True)],
)
def test_actor_masking_and_grouped_path(kind: str, station_id: bool) -> None:
    actor = _actor(kind, station_id=station_id)
    for p in actor.adapter_parameters():
        torch.nn.init.normal_(p, std=0.1)
    rows = 5
    obs = torch.randn(N_AGENTS, rows, OBS) * 3
    mask = torch.rand(N_AGENTS, rows, ACTIONS) < 0.5
    mask[..., 0] = True  # at least one legal action per row
    logits_g = actor.forward_grouped(obs, mask)
    idx = torch.arange(N_AGENTS).repeat_interleave(rows)
    perm = torch.randperm(len(idx))
    flat_obs, flat_mask = obs.reshape(-1, OBS)[perm], mask.reshape(-1, ACTIONS)[perm]
    logits = actor(flat_obs, idx[perm], flat_mask)
    torch.testing.assert_close(logits, logits_g.reshape(-1, ACTIONS)[perm], atol=1e-5, rtol=1e-5)
    dist = torch.distributions.Categorical(logits=logits)
    assert torch.all(dist.probs[~flat_mask] == 0)
    assert torch.all(flat_mask.gather(1, dist.sample((200,)).T))
    assert torch.isfinite(dist.entropy()).all()
    for i in range(N_AGENTS):  # merged plain weights reproduce each station's policy
        sel = idx[perm] == i
        merged = mlp_logits(actor.merged_weights(i), flat_obs[sel], flat_mask[sel])
        torch.testing.assert_close(merged, logits[sel], atol=1e-5, rtol=1e-5)


def test_lora_on_an_id_base_starts_as_the_ps_id_policy_and_adapts_per_station() -> None:
    """LoRASA on the paper's baseline: a trained PS+ID actor is the base, zero adapters change
    nothing, and a station's adapter changes only that station's logits."""
    ps_id, lora = _actor("shared-id"), _actor("lora", station_id=True)
    lora.load_base_state_dict(ps_id.state_dict())
    obs, idx = torch.randn(12, OBS), torch.arange(N_AGENTS).repeat(12 // N_AGENTS + 1)[:12]
    mask = torch.ones(12, ACTIONS, dtype=torch.bool)
    torch.testing.assert_close(lora(obs, idx, mask), ps_id(obs, idx, mask))
    with torch.no_grad():
        for _, layer in lora._adapter_layers():
            layer.lora_B[1].normal_(std=0.5)
    changed = (lora(obs, idx, mask) - ps_id(obs, idx, mask)).abs().amax(dim=1) > 1e-4
    assert changed.tolist() == (idx == 1).tolist()


def test_actor_freeze_and_adapter_round_trip() -> None:
    actor, other = _actor("lora"), _actor("lora")
    for p in actor.adapter_parameters():
        torch.nn.init.normal_(p, std=0.1)
    actor.freeze_base()
    trainable = [p for p in actor.parameters() if p.requires_grad]
    assert {id(p) for p in trainable} == {id(p) for p in actor.adapter_parameters()}
    exported = actor.export_adapter(2)
    assert set(exported) == {"layers.0.A", "layers.0.B", "layers.1.A", "layers.1.B"}
    other.load_base_state_dict(actor.base_state_dict())
    other.load_adapter(0, exported)
    obs, mask = torch.randn(7, OBS), torch.ones(7, ACTIONS, dtype=torch.bool)
    zeros, twos = torch.zeros(7, dtype=torch.long), torch.full((7,), 2)
    torch.testing.assert_close(other(obs, zeros, mask), actor(obs, twos, mask))
    bad = dict(exported, **{"layers.1.B": torch.zeros(256, 4)})
    with pytest.raises(ValueError, match=r"\(256, 8\)"):
        other.load_adapter(1, bad)
    with pytest.raises(ValueError, match="missing"):
        other.load_adapter(1, {"layers.0.A": exported["layers.0.A"]})
    with pytest.raises(ValueError, match="no adapters"):
        _actor("shared").export_adapter(0)


def test_base_hash_tracks_base_not_adapters() -> None:
    actor = _actor("lora")
    h0 = base_hash(actor)
    assert len(h0) == 64 and h0 == base_hash(actor)
    with torch.no_grad():
        actor.layers[1].lora_B.normal_()
        actor.layers[0].lora_A.add_(1.0)
    assert base_hash(actor) == h0
    shared = _actor("shared")
    shared.load_state_dict(actor.base_state_dict())
    assert base_hash(shared) == h0  # a trained PS actor is the base of its LoRASA actor
    with torch.no_grad():
        actor.layers[2].weight[0, 0] += 1e-3
    assert base_hash(actor) != h0


def test_critic_shapes_and_agent_dependence() -> None:
    critic = Critic(state_dim=30, n_agents=N_AGENTS, hidden=HIDDEN)
    state = torch.randn(1, 30).expand(N_AGENTS, 30)
    values = critic(state, torch.arange(N_AGENTS))
    assert values.shape == (N_AGENTS,)
    assert values.unique().numel() == N_AGENTS  # same state, different stations
    values.sum().backward()
    assert all(p.grad is not None for p in critic.parameters())
