"""Same seed and config, same result: KPIs and adapter weights are bit-identical."""

from __future__ import annotations

import torch
from helpers import TINY_TRAIN, register, rushable_line

from factory_twin.store.policies import PolicyStore
from factory_twin.store.runlog import open_db
from factory_twin.train.config import TrainConfig
from factory_twin.train.evaluate import evaluate_actor
from factory_twin.train.pipeline import train_method


def _train(root, seed):
    db = open_db(f"sqlite:///{root / 'log.sqlite'}")
    store = PolicyStore(root / "store")
    cfg = TrainConfig(method="lorasa", seed=seed, **TINY_TRAIN)
    t = train_method(rushable_line(), register(db, rushable_line()), cfg, db, store)
    adapters = {s: store.load_adapter("test-line", s)[0] for s in ("a", "b")}
    kpis = [k.summary() for k in evaluate_actor(rushable_line(), t.actor, [11, 12])]
    return adapters, kpis, [e.kpis() for e in db.episodes(t.run_id)]


def test_same_seed_gives_identical_adapters_and_kpis(tmp_path):
    (tmp_path / "1").mkdir(), (tmp_path / "2").mkdir(), (tmp_path / "3").mkdir()
    a1, k1, e1 = _train(tmp_path / "1", seed=4)
    a2, k2, e2 = _train(tmp_path / "2", seed=4)
    for s in a1:
        assert all(torch.equal(a1[s][k], a2[s][k]) for k in a1[s])
    assert k1 == k2 and e1 == e2 and len(e1) > 0
    a3, k3, _ = _train(tmp_path / "3", seed=5)
    assert any(not torch.equal(a1["a"][k], a3["a"][k]) for k in a1["a"])
