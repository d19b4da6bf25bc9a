"""Training runs stored and loaded back; `adapt` re-trains exactly one station's adapter."""

from __future__ import annotations

import torch
from helpers import exp, line, register

from factory_twin.env import LineEnv
from factory_twin.store.policies import PolicyStore
from factory_twin.store.runlog import open_db
from factory_twin.train.adapt import adapt_station
from factory_twin.train.config import TrainConfig
from factory_twin.train.pipeline import load_trained, train_method

TINY = dict(total_steps=512, n_envs=2, rollout_len=64, hidden=(32, 32), episode_minutes=60.0)


def small_line(fast_scrap_at_b: float = 0.3):
    fast = {"time_factor": 0.7, "scrap_prob": 0.0}
    stations = [
        {"name": "a", "buffer": 4, "process": exp(0.5), "speed_modes": {"fast": fast}},
        {
            "name": "b",
            "buffer": 4,
            "process": exp(1.0),
            "speed_modes": {"fast": {**fast, "scrap_prob": fast_scrap_at_b}},
        },
        {"name": "c", "buffer": 4, "process": exp(0.6)},
    ]
    return line(stations, {"kind": "saturated"}, length=200, warmup=20)


def _setup(tmp_path):
    return open_db(f"sqlite:///{tmp_path / 'log.sqlite'}"), PolicyStore(tmp_path / "store")


def test_trained_policies_round_trip_through_the_store(tmp_path):
    db, store = _setup(tmp_path)
    sc = small_line()
    obs = torch.rand(3, 5, LineEnv(sc).obs_dim)
    for method in ("ps", "nps", "lorasa"):
        t = train_method(sc, register(db, sc), TrainConfig(method=method, **TINY), db, store)
        loaded = load_trained(store, sc, method)
        assert torch.equal(loaded.actor.forward_grouped(obs), t.actor.forward_grouped(obs))
        assert db.get_run(t.run_id).status == "done"
    assert len(db.adapter_versions(sc.name)) == 3  # one per station for the LoRASA run


def test_adapt_retrains_only_the_named_station(tmp_path):
    db, store = _setup(tmp_path)
    sc = small_line()
    train_method(sc, register(db, sc), TrainConfig(method="lorasa", **TINY), db, store)
    before = {s.name: store.load_adapter(sc.name, s.name)[0] for s in sc.stations}
    base_before = store.load_base(sc.name)[0]

    edited = small_line(fast_scrap_at_b=0.0)  # the planner fixed station b's fast mode
    adapt_station(edited, register(db, edited), "b", 512, 1, db, store)

    assert store.versions(sc.name, "b") == [1, 2]
    assert store.versions(sc.name, "a") == [1] and store.versions(sc.name, "c") == [1]
    after_b = store.load_adapter(sc.name, "b")[0]
    assert any(not torch.equal(after_b[k], before["b"][k]) for k in after_b)
    reloaded = load_trained(store, edited, "adapted")
    for idx, name in ((0, "a"), (2, "c")):
        exported = reloaded.actor.export_adapter(idx)
        assert all(torch.equal(exported[k], before[name][k]) for k in exported), name
    assert all(torch.equal(store.load_base(sc.name)[0][k], v) for k, v in base_before.items())


def test_loading_a_policy_with_another_observation_size_is_refused(tmp_path):
    import pytest

    from factory_twin.errors import StoreError

    db, store = _setup(tmp_path)
    sc = small_line()
    train_method(sc, register(db, sc), TrainConfig(method="ps", **TINY), db, store)
    two_products = sc.model_copy(
        update={
            "products": [p.model_copy(update={"mix": 0.5}) for p in sc.products]
            + [sc.products[0].model_copy(update={"name": "z", "mix": 0.5})]
        }
    )
    with pytest.raises(StoreError, match="observations/actions of size"):
        load_trained(store, two_products, "ps")
