"""The store loader trusts nothing on disk: links out of the store, FIFOs, oversized files,
non-finite weights, an edited or malformed manifest each end in a one-line StoreError that
names the file (and the field), never a hang, a memory blow-up or a traceback."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import save as st_save

from factory_twin.errors import StoreError
from factory_twin.store.guarded_read import MAX_STORE_FILE_BYTES
from factory_twin.store.policies import PolicyStore
from factory_twin.store.policy_sets import load_lorasa_set, set_path
from factory_twin.store.weights import MANIFEST_KEY, manifest_digest

pytestmark = pytest.mark.timeout(60)  # a FIFO that is opened would block until then
SCENARIO, METHOD = "line", "ps"


def tensors() -> dict[str, torch.Tensor]:
    return {"actor.w": torch.arange(6.0).reshape(2, 3), "critic.b": torch.ones(2)}


@pytest.fixture
def store(tmp_path: Path) -> PolicyStore:
    store = PolicyStore(tmp_path / "store")
    store.save_policy(SCENARIO, METHOD, tensors(), {"scenario_hash": "h", "config": {"x": 1}})
    return store


def files(store: PolicyStore) -> tuple[Path, Path]:
    vdir = store.policy_dir(SCENARIO, METHOD) / "v1"
    return vdir / "policy.safetensors", vdir / "policy.json"


def refused(store: PolicyStore, match: str) -> str:
    with pytest.raises(StoreError, match=match) as info:
        store.load_policy(SCENARIO, METHOD)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_an_untouched_version_loads(store: PolicyStore):
    loaded, meta = store.load_policy(SCENARIO, METHOD)
    assert torch.equal(loaded["actor.w"], tensors()["actor.w"])
    assert meta[MANIFEST_KEY] == manifest_digest(meta)


def test_version_folder_linked_out_of_the_store_is_refused(store: PolicyStore, tmp_path):
    outside = tmp_path / "outside"
    other = PolicyStore(outside)
    other.save_policy(SCENARIO, METHOD, tensors(), {"scenario_hash": "h", "config": {}})
    (store.policy_dir(SCENARIO, METHOD) / "v2").symlink_to(
        other.policy_dir(SCENARIO, METHOD) / "v1", target_is_directory=True
    )
    message = refused(store, "outside the store")
    assert "v2/policy.json" in message


def test_weights_linked_to_dev_zero_are_refused(store: PolicyStore):
    weights, _ = files(store)
    weights.unlink()
    weights.symlink_to("/dev/zero")
    assert "policy.safetensors: leads to /dev/zero" in refused(store, "outside the store")


def test_fifo_is_refused_without_opening_it(store: PolicyStore):
    weights, _ = files(store)
    weights.unlink()
    os.mkfifo(weights)
    assert str(weights) in refused(store, "not a regular file")
    # also behind a link that stays inside the store
    weights.rename(weights.with_name("fifo"))
    weights.symlink_to("fifo")
    refused(store, "not a regular file")


def test_manifest_fifo_is_refused(store: PolicyStore):
    _, manifest = files(store)
    manifest.unlink()
    os.mkfifo(manifest)
    assert str(manifest) in refused(store, "not a regular file")


def test_file_over_the_size_cap_is_refused(store: PolicyStore):
    weights, _ = files(store)
    with weights.open("r+b") as fh:
        fh.truncate(MAX_STORE_FILE_BYTES + 1)  # sparse: no disk used
    assert f"limit of {MAX_STORE_FILE_BYTES} bytes" in refused(store, "larger than")


def resign(manifest: Path, data: dict) -> None:
    manifest.write_text(json.dumps({**data, MANIFEST_KEY: manifest_digest(data)}))


def test_nan_weights_are_refused_even_when_re_signed(store: PolicyStore):
    weights, manifest = files(store)
    poisoned = {**tensors(), "critic.b": torch.tensor([1.0, float("nan")])}
    weights.write_bytes(st_save(poisoned))
    data = json.loads(manifest.read_text())
    data["sha256"] = hashlib.sha256(weights.read_bytes()).hexdigest()
    resign(manifest, data)
    assert "'critic.b' holds NaN or inf" in refused(store, "finite weights")
    weights.write_bytes(st_save({**tensors(), "actor.w": torch.full((2, 3), float("inf"))}))
    data["sha256"] = hashlib.sha256(weights.read_bytes()).hexdigest()
    resign(manifest, data)
    refused(store, "'actor.w' holds NaN or inf")


def test_editing_the_manifest_is_detected(store: PolicyStore):
    _, manifest = files(store)
    data = json.loads(manifest.read_text())
    data["config"] = {"x": 2}
    manifest.write_text(json.dumps(data))
    assert str(manifest) in refused(store, "manifest_sha256 does not match")
    resign(manifest, data)  # whoever re-signs gets past this check: it is no signature
    assert store.load_policy(SCENARIO, METHOD)[1]["config"] == {"x": 2}


@pytest.mark.parametrize(
    "field, value, expected",
    [
        ("config", [1, 2], "field config is [1, 2]; expected an object"),
        ("sha256", 5, "field sha256 is 5; expected a hex string"),
        ("method", None, "field method is None; expected a string"),
        ("created", True, "field created is True; expected a string"),
    ],
)
def test_wrong_field_type_names_file_and_field(store: PolicyStore, field, value, expected):
    _, manifest = files(store)
    resign(manifest, {**json.loads(manifest.read_text()), field: value})
    assert refused(store, "field").endswith(expected)


@pytest.mark.parametrize(
    "text, match",
    [
        ("{not json", "not valid JSON"),
        ("[" * 100_000 + "]" * 100_000, "not valid JSON"),  # deep nesting: RecursionError
        ('{"a": ' + "9" * 5000 + "}", "not valid JSON"),  # too many digits: ValueError
        ("[1, 2]", "holds list; expected a JSON object"),
        ('{"scenario": "line"}', "lacks keys"),
    ],
    ids=["syntax", "deep", "digits", "list", "missing"],
)
def test_malformed_manifest_is_one_line_naming_the_file(store: PolicyStore, text, match):
    _, manifest = files(store)
    manifest.write_text(text)
    assert refused(store, match).startswith(f"{manifest}: ")


def test_lorasa_set_file_is_read_guarded(store: PolicyStore, tmp_path: Path):
    path = set_path(store, SCENARIO)
    outside = tmp_path / "planted.json"
    outside.write_text("{}")
    path.symlink_to(outside)
    with pytest.raises(StoreError, match="outside the store"):
        load_lorasa_set(store, SCENARIO)
    path.unlink()
    os.mkfifo(path)
    with pytest.raises(StoreError, match="not a regular file"):
        load_lorasa_set(store, SCENARIO)


def test_tensors_that_do_not_fit_the_network_are_one_line(tmp_path: Path):
    from helpers import TINY_TRAIN, rushable_line

    from factory_twin.train.config import TrainConfig
    from factory_twin.train.mappo import MAPPO
    from factory_twin.train.pipeline import Trained, full_config, load_trained, save_trained

    sc = rushable_line()
    trainer = MAPPO(sc, TrainConfig(method="ps", **TINY_TRAIN))
    t = Trained("ps", trainer.actor, trainer.critic, None, full_config(trainer))
    store = PolicyStore(tmp_path / "store")
    save_trained(store, None, sc, t)
    assert load_trained(store, sc, "ps").method == "ps"
    tensors, meta = store.load_policy(sc.name, "ps")
    name = next(iter(tensors))
    missing = {k: v for k, v in tensors.items() if k != name}
    reshaped = {**tensors, name: torch.zeros(3, 1)}
    for broken in (missing, reshaped):
        store.save_policy(sc.name, "ps", broken, meta)
        with pytest.raises(StoreError, match="do not fit the network") as info:
            load_trained(store, sc, "ps")
        assert "\n" not in str(info.value) and "_policies" in str(info.value)
