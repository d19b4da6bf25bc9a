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

A line extended by a station (``train/extend.py``) reuses the base and adapters of the line
it grew from without copying them: such an entry also carries ``"scenario": <that line>``,
the folder its version lives in, and the set names the extended line's own critic
(``"critic": {"version": N, "sha256": ...}``, under ``<scenario>/_critic/``), since the base's
critic was trained on the shorter line. Sets without these keys read as before.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from factory_twin.errors import StoreError
from factory_twin.faults import crash_point
from factory_twin.store.atomic import atomic_write_text
from factory_twin.store.guarded_read import read_store_file
from factory_twin.store.policies import PolicyStore, SavedVersion, safe_name
from factory_twin.store.weights import positive_int

__all__ = [
    "SET_FILE",
    "LorasaSet",
    "load_lorasa_set",
    "publish_lorasa_set",
    "published_lines",
    "set_path",
]

SET_FILE = "_lorasa-set.json"  # safe_name never yields a leading "_": no station collides


@dataclass(frozen=True)
class LorasaSet:
    """One complete LoRASA policy: its base version and each station's adapter version."""

    base: SavedVersion
    base_hash: str
    adapters: dict[str, SavedVersion]
    # the line whose folder holds a version, where it is not this set's own (an extended line)
    base_from: str | None = None
    adapters_from: dict[str, str] = field(default_factory=dict)
    critic: SavedVersion | None = None  # an extended line's own critic (else the base's)

    def owner(self, scenario: str, station: str | None = None) -> str:
        """The scenario whose folder holds the base (``station=None``) or a station's adapter."""
        found = self.base_from if station is None else self.adapters_from.get(station)
        return found or scenario


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
        "base": _entry(policy.base, policy.base_from),
        "adapters": {
            name: _entry(saved, policy.adapters_from.get(name))
            for name, saved in policy.adapters.items()
        },
    }
    if policy.critic is not None:
        record["critic"] = _entry(policy.critic, None)
    path = set_path(store, scenario)
    atomic_write_text(path, json.dumps(record, indent=2, sort_keys=True, ensure_ascii=False))
    return path


def _entry(saved: SavedVersion, owner: str | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"version": saved.version, "sha256": saved.sha256}
    return entry if owner is None else {**entry, "scenario": owner}


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
    base_from = _owner(path, "base", record.get("base"))
    base = _saved(path, "base", record.get("base"), store.base_dir(base_from or scenario))
    adapters_from = {
        str(name): owner
        for name, entry in adapters.items()
        if (owner := _owner(path, f"adapters.{name}", entry)) is not None
    }
    found = {
        str(name): _saved(
            path,
            f"adapters.{name}",
            entry,
            store.station_dir(adapters_from.get(str(name), scenario), name),
        )
        for name, entry in adapters.items()
    }
    critic = record.get("critic")
    if critic is not None:
        critic = _saved(path, "critic", critic, store.critic_dir(scenario))
    return LorasaSet(base, record["base_hash"], found, base_from, adapters_from, critic)


def _owner(path: Path, field_name: str, entry: Any) -> str | None:
    """The ``scenario`` an entry names (a version of another line), None when it has none."""
    owner = entry.get("scenario") if isinstance(entry, Mapping) else None
    if owner is not None and (not isinstance(owner, str) or not owner):
        raise StoreError(f"{path}: {field_name}.scenario is {owner!r}; expected a scenario name")
    return owner


def _saved(path: Path, field: str, entry: Any, parent: Path) -> SavedVersion:
    ok = isinstance(entry, Mapping) and positive_int(entry.get("version"))
    if not ok or not isinstance(entry.get("sha256"), str):
        raise StoreError(f"{path}: {field} is {entry!r}; expected {{version: N, sha256: hex}}")
    return SavedVersion(entry["version"], parent / f"v{entry['version']}", entry["sha256"])


def published_lines(store: PolicyStore) -> list[str]:
    """The scenario names (as their set files spell them) of every published LoRASA policy;
    an unreadable set file is skipped here (loading it names the problem)."""
    names = []
    for path in sorted(store.root.glob(f"*/{SET_FILE}")):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError):
            continue
        if isinstance(record, dict) and isinstance(record.get("scenario"), str):
            names.append(record["scenario"])
    return names
