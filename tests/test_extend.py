"""A station added to a trained line: `adapt --station NEW` trains only the new adapter and a
pooled critic on the stored base; the longer line's set names the stored base and adapters
where they live; the stored line's policy is untouched."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from factory_twin.cli import app
from factory_twin.errors import FactoryTwinError, StoreError
from factory_twin.policy.line_critic import PooledCritic, grown_state
from factory_twin.policy.networks import base_hash
from factory_twin.scenario import parse_scenario_text
from factory_twin.store.policies import PolicyStore
from factory_twin.store.policy_sets import load_lorasa_set, set_path
from factory_twin.store.runlog import open_db
from factory_twin.train.config import TrainConfig
from factory_twin.train.evaluate import evaluate_actor
from factory_twin.train.extend import extend_line, find_parent
from factory_twin.train.pipeline import load_trained, train_method

LINE = """
name: {name}
horizon: {{warmup: 0, length: 60}}
products: [{{name: a}}]
source: {{kind: saturated}}
stations:
{stations}
"""
STATION = "  - {{name: {0}, buffer: 3, process: {{dist: exponential, mean: {1}}}, " + (
    "speed_modes: {{fast: {{time_factor: 0.7, scrap_prob: 0.2}}}}}}"
)
TINY = dict(total_steps=512, n_envs=2, rollout_len=64, hidden=(16, 16), episode_minutes=30.0)


def scenario(name: str, stations: list[tuple[str, float]]):
    rows = "\n".join(STATION.format(n, m) for n, m in stations)
    return parse_scenario_text(LINE.format(name=name, stations=rows))


SHORT = scenario("short", [("s1", 0.5), ("s2", 0.6)])
LONG = scenario("long", [("s1", 0.5), ("new", 0.55), ("s2", 0.6)])


@pytest.fixture()
def trained(tmp_path: Path):
    db, store = open_db(f"sqlite:///{tmp_path}/log.sqlite"), PolicyStore(tmp_path / "store")
    sid = db.ensure_scenario(SHORT.name, SHORT.content_hash(), "yaml")
    # a base without the station id: only such a base can take a new station
    cfg = TrainConfig(method="lorasa", seed=1, lorasa_base="ps", **TINY)
    train_method(SHORT, sid, cfg, db, store)
    return db, store


def _extend(db, store, sc=LONG, station="new", **kw):
    sid = db.ensure_scenario(sc.name, sc.content_hash(), "yaml")
    return extend_line(sc, sid, station, 256, 0, db, store, **kw)


def _adapters(actor, indices):
    return [actor.export_adapter(i) for i in indices]


def test_new_station_trains_only_its_adapter_and_the_set_names_the_stored_versions(trained):
    db, store = trained
    old_file = set_path(store, SHORT.name).read_bytes()
    short = load_trained(store, SHORT, "lorasa")
    ext = _extend(db, store)
    assert ext.parent == "short"
    start_b = ext.start.actor.export_adapter(1)
    assert all(torch.count_nonzero(t) == 0 for k, t in start_b.items() if k.endswith(".B"))
    after = ext.after.actor
    assert base_hash(after) == base_hash(short.actor)  # the base stayed frozen
    for kept, stored in zip(_adapters(after, [0, 2]), _adapters(short.actor, [0, 1]), strict=True):
        assert all(torch.equal(kept[k], stored[k]) for k in stored)  # bit-identical
    assert any(torch.count_nonzero(t) for k, t in after.export_adapter(1).items() if k[-1] == "B")
    assert isinstance(ext.after.critic, PooledCritic)

    long_set, short_set = load_lorasa_set(store, "long"), load_lorasa_set(store, "short")
    assert long_set.base == short_set.base and long_set.base_from == "short"
    assert {n: long_set.adapters[n] for n in ("s1", "s2")} == short_set.adapters
    assert long_set.adapters_from == {"s1": "short", "s2": "short"}
    assert long_set.adapters["new"].dir == store.station_dir("long", "new") / "v1"
    assert long_set.critic is not None and long_set.critic.dir.parent == store.critic_dir("long")
    assert set_path(store, SHORT.name).read_bytes() == old_file  # the stored line untouched
    assert not store.station_dir("short", "new").exists()


def test_extended_line_loads_and_acts_and_the_short_line_still_loads(trained):
    db, store = trained
    ext = _extend(db, store)
    loaded = load_trained(store, LONG, "lorasa")
    assert loaded.config["stations"] == ["s1", "new", "s2"]
    pairs = zip(
        _adapters(loaded.actor, range(3)), _adapters(ext.after.actor, range(3)), strict=True
    )
    for a, b in pairs:
        assert all(torch.equal(a[k], b[k]) for k in a)
    for k, v in ext.after.critic.state_dict().items():
        assert torch.equal(loaded.critic.state_dict()[k], v)
    kpis = evaluate_actor(LONG, loaded.actor, [3, 4])
    assert all(k.throughput > 0 for k in kpis)
    assert load_trained(store, SHORT, "lorasa").config["stations"] == ["s1", "s2"]


def test_refreshing_a_neighbour_is_only_on_request(trained):
    db, store = trained
    short = load_trained(store, SHORT, "lorasa")
    ext = _extend(db, store, also=("s2",))
    s2_after, s2_stored = ext.after.actor.export_adapter(2), short.actor.export_adapter(1)
    assert not all(torch.equal(s2_after[k], s2_stored[k]) for k in s2_after)
    long_set = load_lorasa_set(store, "long")
    assert long_set.adapters_from == {"s1": "short"}  # s2 has a version of its own now
    assert long_set.adapters["s2"].dir.parent == store.station_dir("long", "s2")


def test_extending_an_extended_line_keeps_its_pooled_critic(trained):
    db, store = trained
    _extend(db, store)
    longer = scenario("longer", [("s1", 0.5), ("new", 0.55), ("s2", 0.6), ("s3", 0.4)])
    stored_critic = load_trained(store, LONG, "lorasa").critic
    ext = _extend(db, store, sc=longer, station="s3")
    assert ext.parent == "long"
    start = ext.start.critic.state_dict()
    emb = stored_critic.state_dict()["station_embedding"]
    assert torch.equal(start["station_embedding"][:3], emb)
    assert torch.equal(start["net.0.weight"], stored_critic.state_dict()["net.0.weight"])
    got = load_lorasa_set(store, "longer")
    assert got.base_from == "short" and got.adapters_from == {
        "s1": "short",
        "new": "long",
        "s2": "short",
    }
    assert load_trained(store, longer, "lorasa").config["stations"][-1] == "s3"


def test_grown_state_moves_rows_by_name_and_gives_a_new_station_the_mean():
    critic = PooledCritic(obs_dim=4, n_agents=2, hidden=(8,))
    state = critic.state_dict()
    grown = grown_state(state, ["a", "b"], ["b", "x", "a"])
    emb = state["station_embedding"]
    assert torch.equal(grown["station_embedding"][0], emb[1])
    assert torch.equal(grown["station_embedding"][2], emb[0])
    assert torch.allclose(grown["station_embedding"][1], emb.mean(dim=0))
    wider = PooledCritic(obs_dim=4, n_agents=3, hidden=(8,))
    wider.load_state_dict(grown)  # fits the longer line


def test_pooled_critic_values_do_not_depend_on_the_station_order_of_the_summary():
    torch.manual_seed(0)
    critic = PooledCritic(obs_dim=3, n_agents=3, hidden=(8,))
    obs = torch.rand(5, 3, 3)
    agent = torch.tensor([0, 1, 2, 0, 1])
    v = critic(obs.reshape(5, -1), agent)
    # swapping stations 1 and 2's observations and embeddings values station 1 as station 2
    with torch.no_grad():
        critic.station_embedding[[1, 2]] = critic.station_embedding[[2, 1]].clone()
    swapped = obs[:, [0, 2, 1]].reshape(5, -1)
    v2 = critic(swapped, torch.tensor([0, 2, 1, 0, 2]))
    assert torch.allclose(v, v2, atol=1e-6)


def test_parent_is_found_or_the_error_says_to_name_it(trained):
    db, store = trained
    assert find_parent(store, LONG, "new") == "short"
    with pytest.raises(FactoryTwinError, match="--from"):
        find_parent(store, LONG, "s1")  # without s1 the line is [new, s2]: nothing stored
    wrong = scenario("wrong", [("s1", 0.5), ("s2", 0.6), ("t", 0.5), ("u", 0.5)])
    with pytest.raises(FactoryTwinError, match="stored line 'short' has"):
        _extend(db, store, sc=wrong, station="t", parent="short")


def test_cli_adapt_adds_a_station(trained, tmp_path: Path):
    db, store = trained
    path = tmp_path / "long.yaml"
    rows = "\n".join(STATION.format(n, m) for n, m in [("s1", 0.5), ("new", 0.55), ("s2", 0.6)])
    path.write_text(LINE.format(name="long", stations=rows))
    args = ["adapt", path, "--station", "new", "--steps", "1000", "--seeds", "2"]
    args += ["--db", f"{tmp_path}/log.sqlite", "--store", store.root]
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    assert "new added to short" in result.output
    assert "new adapter version v1 for new" in result.output
    assert load_trained(store, LONG, "lorasa").config["stations"] == ["s1", "new", "s2"]


def test_a_set_entry_naming_a_bad_owner_is_one_line_error(trained):
    db, store = trained
    _extend(db, store)
    path = set_path(store, "long")
    record = json.loads(path.read_text())
    record["adapters"]["s1"]["scenario"] = 5
    path.write_text(json.dumps(record))
    with pytest.raises(StoreError, match=r"adapters\.s1\.scenario is 5; expected a scenario name"):
        load_lorasa_set(store, "long")


def test_the_starting_policy_runs_the_stored_adapters(trained):
    db, store = trained
    short = load_trained(store, SHORT, "lorasa")
    ext = _extend(db, store)
    obs = torch.rand(4, short.actor.config.obs_dim)
    for new_i, old_i in ((0, 0), (2, 1)):  # known stations act exactly as stored
        agent = torch.full((4,), new_i)
        want = short.actor(obs, torch.full((4,), old_i))
        assert torch.allclose(ext.start.actor(obs, agent), want, atol=1e-6)
