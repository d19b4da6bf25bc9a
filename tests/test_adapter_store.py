"""Adapter/base store: bit-exact round trips, versioning, and refusal of every bad file."""

from __future__ import annotations

import hashlib
import json
import pickle
import threading
from pathlib import Path

import pytest
import torch

import factory_twin.store.atomic as atomic_mod
import factory_twin.store.policies as policies_mod
from factory_twin.errors import StoreError
from factory_twin.store.atomic import atomic_write_bytes, atomic_write_text
from factory_twin.store.policies import PolicyStore, safe_name
from factory_twin.store.weights import MANIFEST_KEY, manifest_digest

RANK = 4
SCENARIO, STATION = "two-stage line", "drill"


def lora_tensors(seed: int = 0, rank: int = RANK) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return {
        "layers.0.A": torch.randn(rank, 40, generator=gen),
        "layers.0.B": torch.randn(64, rank, generator=gen),
        "layers.1.A": torch.randn(rank, 64, generator=gen, dtype=torch.float64),
        "layers.1.B": torch.randn(64, rank, generator=gen).to(torch.bfloat16),
    }


def meta(**overrides: object) -> dict[str, object]:
    values: dict[str, object] = {
        "rank": RANK,
        "alpha": 8.0,
        "base_hash": "base-1",
        "scenario_hash": "scen-1",
        "kpis": {"throughput": 12.5},
        "run_id": 3,
    }
    values.update(overrides)
    return values


@pytest.fixture()
def store(tmp_path: Path) -> PolicyStore:
    return PolicyStore(tmp_path / "adapters_store")


def assert_bit_identical(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert a[name].dtype == b[name].dtype and a[name].shape == b[name].shape
        assert a[name].contiguous().view(torch.uint8).equal(b[name].contiguous().view(torch.uint8))


def saved_weights(store: PolicyStore, station: str = STATION) -> tuple[Path, Path]:
    vdir = store.station_dir(SCENARIO, station) / f"v{store.latest_version(SCENARIO, station)}"
    return vdir / "adapter.safetensors", vdir / "adapter.json"


def resign(json_path: Path, data: dict) -> None:
    """Write manifest fields with a matching manifest hash, as an attacker who re-signs would."""
    json_path.write_text(json.dumps({**data, MANIFEST_KEY: manifest_digest(data)}))


def rewrite_sha(json_path: Path, weights: Path) -> None:
    """Make the JSON agree with a tampered weights file, to reach the later checks."""
    data = json.loads(json_path.read_text())
    data["sha256"] = hashlib.sha256(weights.read_bytes()).hexdigest()
    resign(json_path, data)


def test_round_trip_is_bit_identical(store: PolicyStore) -> None:
    tensors = lora_tensors()
    tensors["layers.0.A"] = tensors["layers.0.A"].T.contiguous().T  # non-contiguous view
    saved = store.save_adapter(SCENARIO, STATION, tensors, meta())
    assert saved.version == 1 and saved.dir == store.station_dir(SCENARIO, STATION) / "v1"
    loaded, info = store.load_adapter(
        SCENARIO, STATION, expected_base_hash="base-1", expected_rank=RANK
    )
    assert_bit_identical(loaded, tensors)
    assert info["sha256"] == saved.sha256 and info["station"] == STATION
    assert info["scenario"] == SCENARIO and info["kpis"] == {"throughput": 12.5}
    assert info["layers"] == ["layers.0", "layers.1"] and info["run_id"] == 3
    assert info["rank"] == RANK and info["alpha"] == 8.0 and info["created"]


def test_versions_increment_and_latest_is_default(store: PolicyStore) -> None:
    assert (
        store.versions(SCENARIO, STATION) == [] and store.latest_version(SCENARIO, STATION) is None
    )
    for seed in range(3):
        assert store.save_adapter(SCENARIO, STATION, lora_tensors(seed), meta()).version == seed + 1
    assert store.versions(SCENARIO, STATION) == [1, 2, 3]
    assert_bit_identical(store.load_adapter(SCENARIO, STATION)[0], lora_tensors(2))
    assert_bit_identical(store.load_adapter(SCENARIO, STATION, version=1)[0], lora_tensors(0))
    with pytest.raises(StoreError, match="v7: missing"):
        store.load_adapter(SCENARIO, STATION, version=7)
    with pytest.raises(StoreError, match="no adapter versions"):
        store.load_adapter(SCENARIO, "other")


def test_concurrent_writers_get_distinct_versions(store: PolicyStore) -> None:
    errors: list[BaseException] = []
    results: list[int] = []

    def save(seed: int) -> None:
        try:
            results.append(
                store.save_adapter(SCENARIO, STATION, lora_tensors(seed), meta()).version
            )
        except BaseException as exc:  # pragma: no cover - surfaced by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=save, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(results) == list(range(1, 9)) == store.versions(SCENARIO, STATION)
    contents = {store.load_adapter(SCENARIO, STATION, v)[1]["sha256"] for v in results}
    assert len(contents) == 8


def test_flipped_byte_is_refused(store: PolicyStore) -> None:
    store.save_adapter(SCENARIO, STATION, lora_tensors(), meta())
    weights, _ = saved_weights(store)
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(StoreError, match="sha256") as info:
        store.load_adapter(SCENARIO, STATION)
    assert str(weights) in str(info.value) and "\n" not in str(info.value)


def test_truncated_file_is_refused(store: PolicyStore) -> None:
    store.save_adapter(SCENARIO, STATION, lora_tensors(), meta())
    weights, json_path = saved_weights(store)
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(StoreError, match="sha256"):
        store.load_adapter(SCENARIO, STATION)
    rewrite_sha(json_path, weights)  # even with a matching hash it must not parse
    with pytest.raises(StoreError, match="not a valid safetensors") as info:
        store.load_adapter(SCENARIO, STATION)
    assert str(weights) in str(info.value)


def test_wrong_base_hash_is_refused(store: PolicyStore) -> None:
    store.save_adapter(SCENARIO, STATION, lora_tensors(), meta())
    with pytest.raises(StoreError, match="base_hash is 'base-1'; expected 'base-2'") as info:
        store.load_adapter(SCENARIO, STATION, expected_base_hash="base-2")
    assert "adapter.json" in str(info.value)


def test_wrong_rank_is_refused(store: PolicyStore) -> None:
    store.save_adapter(SCENARIO, STATION, lora_tensors(), meta())
    with pytest.raises(StoreError, match="rank is 4; expected 8"):
        store.load_adapter(SCENARIO, STATION, expected_rank=8)
    # metadata claiming another rank than the tensors carry is caught by the shape check
    _, json_path = saved_weights(store)
    data = json.loads(json_path.read_text())
    data["rank"] = 8
    resign(json_path, data)
    with pytest.raises(StoreError, match="shape") as info:
        store.load_adapter(SCENARIO, STATION, expected_rank=8)
    assert "adapter.safetensors" in str(info.value)
    # and saving tensors that do not match the declared rank is refused up front
    with pytest.raises(StoreError, match="LoRA rank 2"):
        store.save_adapter(SCENARIO, STATION, lora_tensors(), meta(rank=2))


def test_missing_or_broken_json_is_refused(store: PolicyStore) -> None:
    store.save_adapter(SCENARIO, STATION, lora_tensors(), meta())
    _, json_path = saved_weights(store)
    json_path.write_text("{not json")
    with pytest.raises(StoreError, match="not valid JSON") as info:
        store.load_adapter(SCENARIO, STATION)
    assert str(json_path) in str(info.value)
    json_path.write_text(json.dumps({"rank": 4}))
    with pytest.raises(StoreError, match="lacks keys"):
        store.load_adapter(SCENARIO, STATION)
    json_path.unlink()
    with pytest.raises(StoreError, match="adapter.json: missing"):
        store.load_adapter(SCENARIO, STATION)


def test_missing_weights_file_is_refused(store: PolicyStore) -> None:
    store.save_adapter(SCENARIO, STATION, lora_tensors(), meta())
    weights, _ = saved_weights(store)
    weights.unlink()
    with pytest.raises(StoreError, match="adapter.safetensors: missing"):
        store.load_adapter(SCENARIO, STATION)


def test_unicode_and_awkward_names(store: PolicyStore) -> None:
    names = ["Fräse 3 — 焊接", "焊接", "喷涂", "Drill", "drill", "_base", "../escape", "CON"]
    dirs = {store.station_dir(SCENARIO, name) for name in names}
    assert len(dirs) == len(names)
    assert store.base_dir(SCENARIO) not in dirs
    for path in dirs:
        assert path.parent == store.root / safe_name(SCENARIO)
        assert path.name.isascii() and not path.name.startswith((".", "_"))
    for seed, name in enumerate(names):
        store.save_adapter(SCENARIO, name, lora_tensors(seed), meta())
    for seed, name in enumerate(names):
        tensors, info = store.load_adapter(SCENARIO, name)
        assert info["station"] == name
        assert_bit_identical(tensors, lora_tensors(seed))
    assert not (store.root.parent / "escape").exists()


def test_failure_mid_save_leaves_no_version_and_no_litter(
    store: PolicyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    written: list[Path] = []

    def fail_after_weights(path: Path, text: str) -> None:
        written.extend(Path(path).parent.iterdir())  # the weights file is already there
        raise RuntimeError("disk pulled")

    monkeypatch.setattr(policies_mod, "atomic_write_text", fail_after_weights)
    with pytest.raises(RuntimeError, match="disk pulled"):
        store.save_adapter(SCENARIO, STATION, lora_tensors(), meta())
    assert [p.name for p in written] == ["adapter.safetensors"]
    station_dir = store.station_dir(SCENARIO, STATION)
    assert store.versions(SCENARIO, STATION) == []
    assert list(station_dir.iterdir()) == []

    monkeypatch.setattr(policies_mod, "atomic_write_text", atomic_write_text)
    assert store.save_adapter(SCENARIO, STATION, lora_tensors(), meta()).version == 1


def test_loading_never_unpickles(store: PolicyStore, monkeypatch: pytest.MonkeyPatch) -> None:
    store.save_adapter(SCENARIO, STATION, lora_tensors(), meta())
    weights, json_path = saved_weights(store)
    torch.save({"layers.0.A": torch.zeros(RANK, 40)}, weights.parent / "adapter.pt")

    def forbidden(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("pickle-based loading used")

    monkeypatch.setattr(torch, "load", forbidden)
    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "loads", forbidden)
    assert_bit_identical(store.load_adapter(SCENARIO, STATION)[0], lora_tensors())

    # a pickle file in the weights slot is refused even when its hash is "right"
    pt_bytes = (weights.parent / "adapter.pt").read_bytes()
    atomic_write_bytes(weights, pt_bytes)
    rewrite_sha(json_path, weights)
    with pytest.raises(StoreError, match="not a valid safetensors"):
        store.load_adapter(SCENARIO, STATION)


def test_base_round_trip_and_checks(store: PolicyStore) -> None:
    base = {"actor.layers.0.weight": torch.randn(64, 40), "critic.head.bias": torch.randn(1)}
    base_meta = {"base_hash": "base-1", "scenario_hash": "scen-1", "config": {"hidden": [64]}}
    assert store.save_base(SCENARIO, base, base_meta).version == 1
    assert store.save_base(SCENARIO, base, base_meta).version == 2
    assert store.base_versions(SCENARIO) == [1, 2] and store.latest_base_version(SCENARIO) == 2
    assert store.versions(SCENARIO, "_base") == []  # a station called _base is elsewhere
    tensors, info = store.load_base(SCENARIO, expected_base_hash="base-1")
    assert_bit_identical(tensors, base)
    assert info["config"] == {"hidden": [64]} and info["scenario"] == SCENARIO
    with pytest.raises(StoreError, match="base.json: base_hash"):
        store.load_base(SCENARIO, version=1, expected_base_hash="other")
    weights = store.base_dir(SCENARIO) / "v2" / "base.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1])
    with pytest.raises(StoreError, match="base.safetensors: sha256"):
        store.load_base(SCENARIO)
    with pytest.raises(StoreError, match="lacks"):
        store.save_base(SCENARIO, base, {"base_hash": "x"})


def test_bad_inputs_to_save_are_store_errors(store: PolicyStore) -> None:
    with pytest.raises(StoreError, match="lacks"):
        store.save_adapter(SCENARIO, STATION, lora_tensors(), {"rank": RANK})
    with pytest.raises(StoreError, match="nothing to save"):
        store.save_adapter(SCENARIO, STATION, {}, meta())
    with pytest.raises(StoreError, match="torch.Tensor"):
        store.save_adapter(SCENARIO, STATION, {"w": [1, 2]}, meta())  # type: ignore[dict-item]
    with pytest.raises(StoreError, match="non-empty"):
        safe_name(" ")
    assert store.versions(SCENARIO, STATION) == []


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "ckpt.bin"
    atomic_write_bytes(target, b"old")
    atomic_write_text(target, "new ✓")
    assert target.read_text(encoding="utf-8") == "new ✓"
    assert [p.name for p in target.parent.iterdir()] == ["ckpt.bin"]


def test_atomic_write_failure_keeps_old_content(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "ckpt.bin"
    atomic_write_bytes(target, b"old")

    def no_space(*_args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic_mod.os, "replace", no_space)
    with pytest.raises(StoreError, match="ckpt.bin: write failed"):
        atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.bin"]
