"""The policy registry: every name a planner may type resolves to one policy, an unknown one
is refused with the list of valid names, heuristics are built as the table says, and the table
loads without any learning code."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from factory_twin.errors import FactoryTwinError, UnknownPolicyError
from factory_twin.policy import heuristics
from factory_twin.policy.networks import ActorConfig
from factory_twin.policy.registry import (
    HEURISTICS,
    METHODS,
    heuristic,
    label,
    names,
    resolve,
    training_method,
)
from factory_twin.scenario import load_scenario

ROOT = Path(__file__).resolve().parent.parent
ALL = "fifo, min-setup, pm-threshold, conwip, ps, ps-id, nps, lorasa, shared, adapted, heuristic"


def test_names_in_the_order_tables_and_loops_use():
    assert HEURISTICS == ("fifo", "min-setup", "pm-threshold", "conwip")
    assert METHODS == ("ps", "ps-id", "nps", "lorasa")
    assert ", ".join(names()) == ALL
    assert names("learned") == (*METHODS, "shared", "adapted")
    assert names("heuristic") == (*HEURISTICS, "heuristic")


@pytest.mark.parametrize(
    "alias, name", [("shared", "ps"), ("adapted", "lorasa"), ("heuristic", "pm-threshold")]
)
def test_aliases_stand_for_one_policy(alias: str, name: str):
    assert resolve(alias) is resolve(name)
    assert resolve(alias).name == name


def test_labels_and_actor_kinds():
    assert label("adapted") == label("lorasa") == "LoRASA (shared + adapters)"
    assert [label(m) for m in METHODS] == [
        "shared (PS)",
        "shared + station id",
        "separate networks (NPS)",
        "LoRASA (shared + adapters)",
    ]
    kinds = [resolve(m).actor_kind for m in METHODS]
    assert kinds == ["shared", "shared-id", "separate", "lora"]
    for kind in kinds:  # every kind is one the actor can build
        assert ActorConfig(obs_dim=3, n_actions=2, n_agents=2, hidden=(4,), kind=kind).kind == kind
    assert all(resolve(h).actor_kind is None and resolve(h).decider for h in HEURISTICS)


def test_unknown_name_is_refused_with_every_valid_name():
    with pytest.raises(UnknownPolicyError) as info:
        resolve("foo")
    assert str(info.value) == f"unknown policy 'foo'; expected one of {ALL}"
    assert isinstance(info.value, FactoryTwinError)  # the CLI prints it and exits 2


def test_a_name_of_the_wrong_kind_is_refused():
    with pytest.raises(UnknownPolicyError, match="unknown heuristic 'ps'; expected one of fifo,"):
        resolve("ps", "heuristic")
    with pytest.raises(UnknownPolicyError, match=r"learned policy 'fifo'; .* lorasa, shared, adap"):
        resolve("fifo", "learned")
    with pytest.raises(UnknownPolicyError, match=r"^unknown heuristic 'ps'"):
        heuristic("ps", load_scenario(ROOT / "scenarios" / "engine.yaml"))


def test_training_takes_method_names_only():
    assert training_method("nps").actor_kind == "separate"
    with pytest.raises(UnknownPolicyError) as info:
        training_method("shared")  # an alias: a run's config stores the method's own name
    assert str(info.value) == "unknown method 'shared'; expected one of ps, ps-id, nps, lorasa"


def test_heuristics_are_built_as_the_table_says():
    sc = load_scenario(ROOT / "scenarios" / "engine.yaml")
    assert sc.source.kind != "conwip"
    same, decider = heuristic("min-setup", sc)
    assert same is sc and decider is heuristics.min_setup
    capped, decider = heuristic("conwip", sc)
    assert decider is heuristics.fifo
    assert capped.source.kind == "conwip"
    assert (
        capped.source.limit
        == heuristics.conwip_limit(sc)
        == 2 * sum(s.machines for s in sc.stations)
    )
    assert heuristic("heuristic", sc)[1] is heuristics.pm_threshold


def test_the_registry_loads_no_learning_code():
    code = (
        "import sys, factory_twin.policy.registry\n"
        "bad = [m for m in ('torch', 'factory_twin.train.mappo') if m in sys.modules]\n"
        "assert not bad, bad"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr


def test_the_error_survives_pickling_as_a_worker_process_sends_it():
    with pytest.raises(UnknownPolicyError) as info:
        resolve("foo", "learned")
    back = pickle.loads(pickle.dumps(info.value))
    assert type(back) is UnknownPolicyError and str(back) == str(info.value)
    assert back.name == "foo" and back.valid == names("learned")
