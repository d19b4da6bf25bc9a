"""The published LoRASA policy: which base version and which adapter version per station.

A LoRASA policy is a base plus one adapter per station, each stored as its own immutable
version by ``PolicyStore``. Writing them takes several steps, so what readers use is not "the
latest of each" but the set named by one small file, ``<scenario>/_lorasa-set.json``::

    {"scenario": ..., "base_hash": ..., "run_id": ..., "created": ...,
     "base": {"version": 3, "sha256": ...},
     "adapters": {"<station>": {"version": 3, "sha256": ...}, ...}}

It is written last, once every version it names is in place, and replaced in one atomic
rename (``os.replace``). A crash at any moment therefore leaves the previous set whole and
loadable; the versions written before the crash are orphans that no set names. Two trainers
overlapping each publish a complete set; the later one wins. ``adapt`` publishes a copy of
the set it started from with one station's adapter replaced.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from factory_twin.errors import StoreError
from factory_twin.faults import crash_point
from factory_twin.store.atomic import atomic_write_text
from factory_twin.store.guarded_read import read_store_file
from factory_twin.store.policies import PolicyStore, SavedVersion, safe_name
from factory_twin.store.weights import positive_int

__all__ = ["SET_FILE", "LorasaSet", "load_lorasa_set", "publish_lorasa_set", "set_path"]

SET_FILE = "_lorasa-set.json"  # safe_name never yields a leading "_": no station collides


@dataclass(frozen=True)
class LorasaSet:
    """One complete LoRASA policy: its base version and each station's adapter version."""

    base: SavedVersion
    base_hash: str
    adapters: dict[str, SavedVersion]


def set_path(store: PolicyStore, scenario: str) -> Path:
    return store.root / safe_name(scenario) / SET_FILE


def publish_lorasa_set(
    store: PolicyStore,
    scenario: str,
    policy: LorasaSet,
    run_id: int | None,
) -> Path:
    """Make ``policy`` the one readers load (one atomic rename); returns the set file."""
    crash_point("lorasa-before-set")
    record = {
        "scenario": scenario,
        "base_hash": policy.base_hash,
        "run_id": run_id,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "base": _entry(policy.base),
        "adapters": {name: _entry(saved) for name, saved in policy.adapters.items()},
    }
    path = set_path(store, scenario)
    atomic_write_text(path, json.dumps(record, indent=2, sort_keys=True, ensure_ascii=False))
    return path


def _entry(saved: SavedVersion) -> dict[str, Any]:
    return {"version": saved.version, "sha256": saved.sha256}


def load_lorasa_set(store: PolicyStore, scenario: str) -> LorasaSet:
    """The published set of ``scenario``; a one-line StoreError naming the file if unusable."""
    path = set_path(store, scenario)
    if not path.exists() and not path.is_symlink():
        raise StoreError(
            f"{path}: missing; expected a published LoRASA policy (train one first with "
            "`factory-twin train --method lorasa`)"
        )
    raw = read_store_file(path, store.root, "a LoRASA set file")
    try:
        record = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise StoreError(f"{path}: unreadable ({exc}); expected a LoRASA set file") from None
    if not isinstance(record, dict) or not isinstance(record.get("base_hash"), str):
        raise StoreError(f"{path}: expected an object with a base_hash string")
    adapters = record.get("adapters")
    if not isinstance(adapters, dict):
        raise StoreError(f"{path}: adapters is {adapters!r}; expected an object")
    base = _saved(path, "base", record.get("base"), store.base_dir(scenario))
    found = {
        str(name): _saved(path, f"adapters.{name}", entry, store.station_dir(scenario, name))
        for name, entry in adapters.items()
    }
    return LorasaSet(base, record["base_hash"], found)


def _saved(path: Path, field: str, entry: Any, parent: Path) -> SavedVersion:
    ok = isinstance(entry, Mapping) and positive_int(entry.get("version"))
    if not ok or not isinstance(entry.get("sha256"), str):
        raise StoreError(f"{path}: {field} is {entry!r}; expected {{version: N, sha256: hex}}")
    return SavedVersion(entry["version"], parent / f"v{entry['version']}", entry["sha256"])
