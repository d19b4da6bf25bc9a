"""A station added to a line whose stored base sees a one-hot station id (LoRASA's default):
the new station wears the id of its twin, a stored station, so the frozen base needs no new
input; known stations act exactly as stored, and the new one starts as the base acts for
its twin."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from test_extend import LINE, SHORT, STATION, TINY, scenario
from typer.testing import CliRunner

from factory_twin.cli import app
from factory_twin.errors import FactoryTwinError
from factory_twin.policy.networks import Actor, ActorConfig, base_hash, mlp_logits
from factory_twin.store.policies import PolicyStore
from factory_twin.store.policy_sets import load_lorasa_set
from factory_twin.store.runlog import open_db
from factory_twin.train.config import TrainConfig
from factory_twin.train.extend import extend_line
from factory_twin.train.pipeline import load_trained, train_method

TWIN = scenario("twin", [("s1", 0.5), ("new", 0.6), ("s2", 0.6)])  # new is built like s2
OWN = scenario("own", [("s1", 0.5), ("new", 0.55), ("s2", 0.6)])  # new is like no one


def _store(tmp_path: Path, base: str):
    db, store = open_db(f"sqlite:///{tmp_path}/log.sqlite"), PolicyStore(tmp_path / "store")
    sid = db.ensure_scenario(SHORT.name, SHORT.content_hash(), "yaml")
    cfg = TrainConfig(method="lorasa", seed=1, lorasa_base=base, **TINY)
    train_method(SHORT, sid, cfg, db, store)
    return db, store


@pytest.fixture()
def id_base(tmp_path: Path):
    return _store(tmp_path, "ps-id")


def _extend(db, store, sc, **kw):
    sid = db.ensure_scenario(sc.name, sc.content_hash(), "yaml")
    return extend_line(sc, sid, "new", 256, 0, db, store, **kw)


def test_the_new_station_wears_the_id_of_the_stored_station_built_like_it(id_base):
    db, store = id_base
    short = load_trained(store, SHORT, "lorasa")
    ext = _extend(db, store, TWIN)
    assert ext.twin == "s2"
    assert ext.after.actor.config.id_columns == (0, 1, 1)
    assert base_hash(ext.after.actor) == base_hash(short.actor)  # the base is not touched
    assert load_lorasa_set(store, "twin").base == load_lorasa_set(store, "short").base
    obs = torch.rand(6, short.actor.config.obs_dim)
    for new_i, old_i in ((0, 0), (2, 1)):  # known stations act exactly as stored
        want = short.actor(obs, torch.full((6,), old_i))
        assert torch.allclose(ext.after.actor(obs, torch.full((6,), new_i)), want, atol=1e-6)
    # at the start the new station acts as the base acts for s2, without s2's adapter
    plain = load_trained(store, SHORT, "lorasa").actor
    zero = {k: torch.zeros_like(t) for k, t in plain.export_adapter(1).items()}
    plain.load_adapter(1, zero)
    want = plain(obs, torch.full((6,), 1))
    assert torch.allclose(ext.start.actor(obs, torch.full((6,), 1)), want, atol=1e-6)
    assert not torch.allclose(
        ext.start.actor(obs, torch.full((6,), 1)),
        plain(obs, torch.zeros(6, dtype=torch.long)),
        atol=1e-4,
    )


def test_the_grown_line_loads_with_its_id_columns_and_its_merged_weights_agree(id_base):
    db, store = id_base
    ext = _extend(db, store, TWIN)
    loaded = load_trained(store, TWIN, "lorasa").actor
    assert loaded.config.id_columns == (0, 1, 1)
    obs = torch.rand(5, loaded.config.obs_dim)
    for i in range(3):
        agent = torch.full((5,), i)
        assert torch.equal(loaded(obs, agent), ext.after.actor(obs, agent))
        assert torch.allclose(
            mlp_logits(loaded.merged_weights(i), obs), loaded(obs, agent), atol=1e-5
        )


def test_a_station_like_no_stored_one_needs_like_and_like_must_name_a_stored_station(id_base):
    db, store = id_base
    with pytest.raises(FactoryTwinError, match="--like"):
        _extend(db, store, OWN)
    with pytest.raises(FactoryTwinError, match="no such station"):
        _extend(db, store, OWN, like="s3")
    ext = _extend(db, store, OWN, like="s1")
    assert ext.twin == "s1" and ext.after.actor.config.id_columns == (0, 0, 1)


def test_like_on_a_base_without_ids_is_refused(tmp_path: Path):
    db, store = _store(tmp_path, "ps")
    with pytest.raises(FactoryTwinError, match="needs no twin"):
        _extend(db, store, OWN, like="s1")
    assert _extend(db, store, OWN).twin is None


def test_cli_adapt_names_the_twin(id_base, tmp_path: Path):
    db, store = id_base
    path = tmp_path / "own.yaml"
    rows = "\n".join(STATION.format(n, m) for n, m in [("s1", 0.5), ("new", 0.55), ("s2", 0.6)])
    path.write_text(LINE.format(name="own", stations=rows))
    args = ["adapt", path, "--station", "new", "--steps", "1000", "--seeds", "2", "--like", "s2"]
    args += ["--db", f"{tmp_path}/log.sqlite", "--store", store.root]
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    assert "new took the station id of s2: the stored base sees station ids" in result.output
    known = ["adapt", path, "--station", "s1", "--like", "s2", "--db", f"{tmp_path}/log.sqlite"]
    result = CliRunner().invoke(app, [str(a) for a in [*known, "--store", store.root]])
    assert result.exit_code == 2
    assert "--like: only for a station the stored policy has never seen" in result.output


def test_id_columns_map_stations_onto_shared_ids_in_both_forward_paths():
    cfg = ActorConfig(
        obs_dim=3, n_actions=4, n_agents=3, hidden=(8,), kind="shared-id", id_columns=[0, 1, 0]
    )
    torch.manual_seed(0)
    actor = Actor(cfg)
    assert cfg.n_ids == 2 and actor.layers[0].in_features == 5
    obs = torch.rand(3, 7, 3)
    grouped = actor.forward_grouped(obs)
    flat = actor(obs.reshape(-1, 3), torch.arange(3).repeat_interleave(7)).reshape(3, 7, 4)
    assert torch.allclose(grouped, flat, atol=1e-6)
    same_id, other_id = actor(obs[0], torch.full((7,), 2)), actor(obs[0], torch.full((7,), 1))
    assert torch.allclose(flat[0], same_id, atol=1e-6)  # stations 0 and 2 share id 0
    assert not torch.allclose(flat[0], other_id, atol=1e-4)
    with pytest.raises(ValueError, match="id_columns"):
        ActorConfig(
            obs_dim=3, n_actions=4, n_agents=2, hidden=(8,), kind="shared", id_columns=(0, 1)
        )
    with pytest.raises(ValueError, match="id_columns"):
        ActorConfig(
            obs_dim=3, n_actions=4, n_agents=2, hidden=(8,), kind="shared-id", id_columns=(0, 2)
        )
