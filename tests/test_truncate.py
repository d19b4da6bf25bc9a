"""Dynamic rank: SVD truncation of adapters is exact at full rank and the best rank-r
approximation below it; a station whose adapter is zero needs rank 0; the truncated set is
stored as new versions of their own rank, loads and acts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from factory_twin.cli import app
from factory_twin.env import LineEnv
from factory_twin.policy.networks import Actor, ActorConfig
from factory_twin.policy.truncation import adapter_tensor_rank, padded, singular_values, truncated
from factory_twin.scenario import parse_scenario_text
from factory_twin.stats import mean_ci
from factory_twin.store.policies import PolicyStore
from factory_twin.store.policy_sets import load_lorasa_set
from factory_twin.store.runlog import open_db
from factory_twin.train.config import TrainConfig
from factory_twin.train.evaluate import evaluate_actor
from factory_twin.train.pipeline import load_trained, publish_adapters, train_method
from factory_twin.train.truncate import smallest_passing, smallest_ranks, truncate_policy

LINE = """
name: cut
horizon: {warmup: 0, length: 60}
products: [{name: a}]
source: {kind: saturated}
stations:
  - {name: s1, buffer: 3, process: {dist: exponential, mean: 0.5},
     speed_modes: {fast: {time_factor: 0.7, scrap_prob: 0.2}}}
  - {name: s2, buffer: 3, process: {dist: exponential, mean: 0.6},
     speed_modes: {fast: {time_factor: 0.7, scrap_prob: 0.2}}}
"""
TINY = dict(total_steps=512, n_envs=2, rollout_len=64, hidden=(16, 16), episode_minutes=30.0)
SEEDS = [11, 12, 13]


def _adapter(rank: int, seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "layers.0.A": torch.randn(rank, 7, generator=g),
        "layers.0.B": torch.randn(9, rank, generator=g),
        "layers.1.A": torch.randn(rank, 9, generator=g),
        "layers.1.B": torch.randn(9, rank, generator=g),
    }


def _delta(t: dict[str, torch.Tensor], layer: int) -> np.ndarray:
    return (t[f"layers.{layer}.B"].double() @ t[f"layers.{layer}.A"].double()).numpy()


def test_full_rank_reproduces_delta_w() -> None:
    ad = _adapter(4, 0)
    cut = truncated(ad, 4)
    for layer in (0, 1):
        np.testing.assert_allclose(_delta(cut, layer), _delta(ad, layer), atol=1e-5)


@pytest.mark.parametrize("r", [1, 2, 3])
def test_rank_r_is_the_best_rank_r_approximation(r: int) -> None:
    ad = _adapter(4, r)
    cut = truncated(ad, r)
    assert adapter_tensor_rank(cut) == r
    for layer in (0, 1):
        u, s, vh = np.linalg.svd(_delta(ad, layer))
        best = (u[:, :r] * s[:r]) @ vh[:r]
        np.testing.assert_allclose(_delta(cut, layer), best, atol=1e-5)
        # Eckart-Young: the error is exactly the discarded singular values
        err = np.linalg.norm(_delta(ad, layer) - _delta(cut, layer))
        assert err == pytest.approx(np.sqrt((s[r:] ** 2).sum()), rel=1e-5)
    # the rank-4 adapter's B A has 4 singular values; the 3 more of a 9 x 7 SVD are rounding
    full = np.linalg.svd(_delta(ad, 0), compute_uv=False)
    assert singular_values(ad)["layers.0"] == pytest.approx(full[:4].tolist())
    assert np.all(full[4:] < 1e-12 * full[0])


def test_padding_keeps_the_update_and_rank_zero_is_no_update() -> None:
    ad = _adapter(4, 5)
    wide = padded(truncated(ad, 2), 4)
    assert wide["layers.0.A"].shape == (4, 7) and wide["layers.0.B"].shape == (9, 4)
    np.testing.assert_allclose(_delta(wide, 0), _delta(truncated(ad, 2), 0), atol=1e-12)
    zero = truncated(ad, 0)
    assert zero["layers.0.A"].shape == (0, 7)
    assert not padded(zero, 4)["layers.1.B"].any()


def test_a_station_whose_adapter_is_zero_needs_rank_0() -> None:
    sc = parse_scenario_text(LINE)
    n, obs_dim, n_actions = LineEnv.sizes(sc)
    torch.manual_seed(0)
    actor = Actor(ActorConfig(obs_dim, n_actions, n, hidden=(16, 16), rank=4))
    with torch.no_grad():  # station s2 gets a real update, s1's stays exactly zero
        for layer in actor.layers[:-1]:
            layer.lora_B[1].normal_(0.0, 3.0)
    ranks, _, stored, final = smallest_ranks(sc, actor, SEEDS)
    assert ranks["s1"] == 0
    assert final.mean >= stored.low


@pytest.fixture()
def stored(tmp_path: Path):
    sc = parse_scenario_text(LINE)
    db, store = open_db(f"sqlite:///{tmp_path}/log.sqlite"), PolicyStore(tmp_path / "store")
    sid = db.ensure_scenario(sc.name, sc.content_hash(), "yaml")
    train_method(sc, sid, TrainConfig(method="lorasa", seed=2, rank=4, **TINY), db, store)
    t = load_trained(store, sc, "lorasa")  # s1 learned nothing: its stored adapter is zero
    zero = {k: torch.zeros_like(v) for k, v in t.actor.export_adapter(0).items()}
    t.actor.load_adapter(0, zero)
    publish_adapters(store, db, sc, t, t.lorasa_set, {0: zero})
    return sc, db, store


def test_truncated_set_is_stored_loads_and_acts(stored) -> None:
    sc, db, store = stored
    before = load_trained(store, sc, "lorasa")
    found = truncate_policy(sc, db, store, SEEDS)
    assert found.ranks["s1"] == 0 and 0 <= found.ranks["s2"] <= 4
    assert found.truncated.mean >= found.stored.low
    assert found.published is not None
    after = load_trained(store, sc, "lorasa")
    assert after.lorasa_set == found.published == load_lorasa_set(store, sc.name)
    assert after.lorasa_set.adapters["s1"].version == before.lorasa_set.adapters["s1"].version + 1
    _, meta = store.load_adapter(sc.name, "s1", after.lorasa_set.adapters["s1"].version)
    assert meta["rank"] == 0
    for i, name in enumerate(["s1", "s2"]):
        want = padded(truncated(before.actor.export_adapter(i), found.ranks[name]), 4)
        got = after.actor.export_adapter(i)
        for layer in (0, 1):
            np.testing.assert_allclose(_delta(got, layer), _delta(want, layer), atol=1e-6)
    kpis = evaluate_actor(sc, after.actor, SEEDS)
    assert np.mean([k.throughput for k in kpis]) == pytest.approx(found.truncated.mean)


def test_cli_truncate_reports_the_ranks(stored, tmp_path: Path) -> None:
    sc, _, store = stored
    path = tmp_path / "cut.yaml"
    path.write_text(LINE)
    args = ["truncate", path, "--eval-seeds", "2", "--db", f"{tmp_path}/log.sqlite"]
    result = CliRunner().invoke(app, [str(a) for a in [*args, "--store", store.root]])
    assert result.exit_code == 0, result.output
    assert "adapter ranks needed (of 4)" in result.output and "s1" in result.output


@pytest.mark.parametrize("need", range(9))
def test_the_search_finds_the_smallest_passing_rank_in_few_evaluations(need: int) -> None:
    tried: list[int] = []

    def passes(r: int):
        tried.append(r)
        return mean_ci([float(r)]) if r >= need else None

    rank, got = smallest_passing(passes, 8)
    assert rank == need and len(tried) <= 4 and tried[0] == 0
    assert got is None if need == 8 else got.mean == need  # full rank needs no evaluation


def test_truncating_a_policy_trained_under_another_log(stored, tmp_path: Path) -> None:
    """The shipped store comes without its log: the cut versions are indexed without a run."""
    sc, _, store = stored
    other = open_db(f"sqlite:///{tmp_path}/fresh.sqlite")
    other.ensure_scenario(sc.name, sc.content_hash(), "yaml")
    found = truncate_policy(sc, other, store, SEEDS)
    assert found.published is not None
    assert load_trained(store, sc, "lorasa").lorasa_set == found.published
    assert not other.has_run(load_trained(store, sc, "lorasa").run_id)
