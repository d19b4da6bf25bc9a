"""Versioned on-disk store of trained policies: per-station LoRA adapters, the shared base
they adapt, and the whole policies of the baselines.

Layout (names sanitised by :func:`safe_name`; originals kept in the JSON)::

    <root>/<scenario>/<station>/v<N>/adapter.safetensors + adapter.json
    <root>/<scenario>/_base/v<N>/base.safetensors       + base.json
    <root>/<scenario>/_critic/v<N>/critic.safetensors   + critic.json  (an extended line's)
    <root>/<scenario>/_lorasa-set.json                  the published LoRASA policy
    <root>/<scenario>/_policies/<method>/v<N>/policy.safetensors + policy.json

A version directory is assembled under a hidden, locked temp name and then renamed to
``v<N>`` in one step, so a crash never leaves a half-written version, and two concurrent
writers can never both get N: renaming onto an existing (non-empty) ``v<N>`` fails and the
loser simply tries N+1. Temp folders of writers that died are swept by the next write
(``store/tmpdirs.py``). Versions are immutable; which base and adapter versions make up the
LoRASA policy in use is the set file's business (``store/policy_sets.py``), not "the latest
of each". What goes into the files, and what loading checks, is ``store/weights.py``.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from factory_twin.errors import StoreError
from factory_twin.faults import crash_point
from factory_twin.store.atomic import atomic_write_bytes, atomic_write_text, fsync_dir
from factory_twin.store.tmpdirs import LockedDir, make_locked_dir, sweep_stale
from factory_twin.store.weights import (
    adapter_rank,
    check_field,
    check_rank_shapes,
    encode,
    read_verified,
)

__all__ = [
    "ADAPTER_JSON_KEYS",
    "BASE_JSON_KEYS",
    "CRITIC_JSON_KEYS",
    "POLICY_JSON_KEYS",
    "PolicyStore",
    "SavedVersion",
    "safe_name",
]

BASE_DIR_NAME = "_base"  # safe_name never yields a leading "_", so no station can collide
ADAPTER_JSON_KEYS = (
    "scenario",
    "station",
    "rank",
    "alpha",
    "layers",
    "base_hash",
    "scenario_hash",
    "sha256",
    "kpis",
    "created",
    "run_id",
    "manifest_sha256",
)
BASE_JSON_KEYS = (
    "scenario",
    "base_hash",
    "scenario_hash",
    "sha256",
    "config",
    "created",
    "manifest_sha256",
)
CRITIC_DIR_NAME = "_critic"  # the critic of a line extended from another (train/extend.py)
CRITIC_JSON_KEYS = (
    "scenario",
    "scenario_hash",
    "sha256",
    "config",
    "created",
    "manifest_sha256",
)
POLICIES_DIR_NAME = "_policies"  # whole policies of the baselines (PS, PS+ID, NPS)
POLICY_JSON_KEYS = (
    "scenario",
    "method",
    "scenario_hash",
    "sha256",
    "config",
    "created",
    "manifest_sha256",
)

_VERSION_RE = re.compile(r"v([1-9][0-9]*)")
_UNSAFE_RE = re.compile(r"[^a-z0-9._-]+")
_WINDOWS_RESERVED = frozenset(
    {"con", "prn", "aux", "nul"} | {f"{p}{i}" for p in ("com", "lpt") for i in range(1, 10)}
)


@dataclass(frozen=True)
class SavedVersion:
    """Where a save landed: version number, its directory and the weights' sha256."""

    version: int
    dir: Path
    sha256: str


def safe_name(name: str) -> str:
    """A portable directory name for a scenario/station name.

    ASCII-folded, lower-cased, unsafe characters replaced by "_". Whenever that changed
    the name (unicode, spaces, upper case, a leading "_" or "."), 8 hex digits of the
    name's sha256 are appended, so distinct names never share a directory even on
    case-insensitive filesystems.
    """
    if not isinstance(name, str) or not name.strip():
        raise StoreError(f"name {name!r}: expected a non-empty scenario/station name")
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    slug = _UNSAFE_RE.sub("_", folded.lower()).strip("._-")[:60]
    if slug != name or slug.split(".")[0] in _WINDOWS_RESERVED:
        digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:8]
        slug = f"{slug or 'name'}-{digest}"
    return slug


def _utc_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class PolicyStore:
    """Adapters, base policies and baseline policies, versioned under ``root`` (module doc)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"PolicyStore({str(self.root)!r})"

    # -- paths and listing

    def station_dir(self, scenario: str, station: str) -> Path:
        """Directory holding the ``v<N>`` versions of one station's adapter."""
        return self.root / safe_name(scenario) / safe_name(station)

    def base_dir(self, scenario: str) -> Path:
        """Directory holding the ``v<N>`` versions of a scenario's base policy."""
        return self.root / safe_name(scenario) / BASE_DIR_NAME

    @staticmethod
    def _versions_in(parent: Path) -> list[int]:
        try:
            names = os.listdir(parent)
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise StoreError(
                f"{parent}: unreadable ({exc.strerror}); expected a directory"
            ) from exc
        found = (_VERSION_RE.fullmatch(name) for name in names)
        return sorted(int(m.group(1)) for m in found if m and (parent / m.group(0)).is_dir())

    def versions(self, scenario: str, station: str) -> list[int]:
        """Published adapter versions of a station, ascending (temp dirs are invisible)."""
        return self._versions_in(self.station_dir(scenario, station))

    def latest_version(self, scenario: str, station: str) -> int | None:
        found = self.versions(scenario, station)
        return found[-1] if found else None

    def critic_dir(self, scenario: str) -> Path:
        """Directory holding the ``v<N>`` versions of an extended line's own critic."""
        return self.root / safe_name(scenario) / CRITIC_DIR_NAME

    def base_versions(self, scenario: str) -> list[int]:
        return self._versions_in(self.base_dir(scenario))

    def latest_base_version(self, scenario: str) -> int | None:
        found = self.base_versions(scenario)
        return found[-1] if found else None

    def policy_dir(self, scenario: str, method: str) -> Path:
        """Directory holding the ``v<N>`` versions of a baseline method's whole policy."""
        return self.root / safe_name(scenario) / POLICIES_DIR_NAME / safe_name(method)

    # -- saving

    def save_adapter(
        self,
        scenario: str,
        station: str,
        tensors: Mapping[str, torch.Tensor],
        meta: Mapping[str, Any],
    ) -> SavedVersion:
        """Write a new adapter version and return where it landed.

        ``meta`` needs rank, alpha, base_hash, scenario_hash; may carry kpis (default {}),
        run_id (default None) and layers (default: tensor names minus their last dotted
        component). Extra keys are kept. sha256, created, scenario and station are set here.
        """
        parent = self.station_dir(scenario, station)
        missing = [k for k in ("rank", "alpha", "base_hash", "scenario_hash") if k not in meta]
        if missing:
            raise StoreError(
                f"{parent}: adapter meta lacks {missing}; expected rank, alpha, "
                "base_hash and scenario_hash"
            )
        check_field(meta, "rank", adapter_rank(meta["rank"]), "an int >= 0", parent)
        alpha_ok = isinstance(meta["alpha"], int | float) and not isinstance(meta["alpha"], bool)
        check_field(meta, "alpha", alpha_ok, "a number", parent)
        check_rank_shapes(tensors, meta["rank"], parent)
        layers = meta.get("layers") or sorted({name.rsplit(".", 1)[0] for name in tensors})
        record = {
            **meta,
            "scenario": scenario,
            "station": station,
            "alpha": float(meta["alpha"]),
            "layers": list(layers),
            "kpis": dict(meta.get("kpis") or {}),
            "run_id": meta.get("run_id"),
            "created": _utc_iso(),
        }
        return self._save(parent, "adapter", tensors, record)

    def save_base(
        self, scenario: str, tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any]
    ) -> SavedVersion:
        """Write a new version of the shared base policy (actor + critic weights).

        ``meta`` needs base_hash, scenario_hash and config (a dict); extra keys are kept.
        """
        parent = self.base_dir(scenario)
        missing = [k for k in ("base_hash", "scenario_hash", "config") if k not in meta]
        if missing:
            raise StoreError(
                f"{parent}: base meta lacks {missing}; expected base_hash, scenario_hash and config"
            )
        record = {
            **meta,
            "scenario": scenario,
            "config": dict(meta["config"]),
            "created": _utc_iso(),
        }
        return self._save(parent, "base", tensors, record)

    def save_critic(
        self, scenario: str, tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any]
    ) -> SavedVersion:
        """Write a new version of an extended line's critic; ``meta`` needs scenario_hash and
        config (the extended line's full config, which loading builds the policy from)."""
        parent = self.critic_dir(scenario)
        missing = [k for k in ("scenario_hash", "config") if k not in meta]
        if missing:
            raise StoreError(
                f"{parent}: critic meta lacks {missing}; expected scenario_hash and config"
            )
        record = {**meta, "scenario": scenario, "config": dict(meta["config"])}
        record["created"] = _utc_iso()
        return self._save(parent, "critic", tensors, record)

    def save_policy(
        self,
        scenario: str,
        method: str,
        tensors: Mapping[str, torch.Tensor],
        meta: Mapping[str, Any],
    ) -> SavedVersion:
        """Write a new version of a baseline's whole policy (actor + critic weights).

        ``meta`` needs scenario_hash and config (a dict); extra keys are kept.
        """
        parent = self.policy_dir(scenario, method)
        missing = [k for k in ("scenario_hash", "config") if k not in meta]
        if missing:
            raise StoreError(
                f"{parent}: policy meta lacks {missing}; expected scenario_hash and config"
            )
        record = {
            **meta,
            "scenario": scenario,
            "method": method,
            "config": dict(meta["config"]),
            "created": _utc_iso(),
        }
        return self._save(parent, "policy", tensors, record)

    def _save(
        self, parent: Path, stem: str, tensors: Mapping[str, torch.Tensor], record: dict[str, Any]
    ) -> SavedVersion:
        data, text, digest = encode(tensors, record, parent, stem)
        tmp = self._make_tmp_dir(parent)
        try:
            atomic_write_bytes(tmp.path / f"{stem}.safetensors", data)
            atomic_write_text(tmp.path / f"{stem}.json", text)
            fsync_dir(tmp.path)
            crash_point("version-before-rename")
            version = self._publish(tmp.path, parent)
        except BaseException:
            shutil.rmtree(tmp.path, ignore_errors=True)
            raise
        finally:
            tmp.release()
        return SavedVersion(version=version, dir=parent / f"v{version}", sha256=digest)

    @staticmethod
    def _make_tmp_dir(parent: Path) -> LockedDir:
        """A fresh locked temp dir beside the versions, after sweeping those of dead writers."""
        try:
            parent.mkdir(parents=True, exist_ok=True)
            sweep_stale(parent)
            return make_locked_dir(parent)
        except OSError as exc:
            raise StoreError(
                f"{parent}: cannot create a version directory "
                f"({exc.strerror or exc}); expected a writable store"
            ) from exc

    def _publish(self, tmp: Path, parent: Path) -> int:
        """Rename ``tmp`` to the next free ``v<N>``; a lost race just moves on to N+1."""
        version = (self._versions_in(parent) or [0])[-1] + 1
        while True:
            try:
                os.rename(tmp, parent / f"v{version}")
            except OSError as exc:
                taken = isinstance(exc, FileExistsError) or exc.errno in (
                    errno.EEXIST,
                    errno.ENOTEMPTY,
                    errno.ENOTDIR,
                )
                if not taken:
                    raise StoreError(
                        f"{parent / f'v{version}'}: cannot publish "
                        f"({exc.strerror or exc}); expected a writable store"
                    ) from exc
                version += 1
                continue
            fsync_dir(parent)
            return version

    # -- loading

    def _version_dir(self, parent: Path, version: int | None, what: str) -> Path:
        if version is None:
            found = self._versions_in(parent)
            if not found:
                raise StoreError(
                    f"{parent}: no {what} versions found; expected v<N> directories "
                    "(train or save one first)"
                )
            version = found[-1]
        path = parent / f"v{version}"
        if not path.is_dir():
            raise StoreError(f"{path}: missing; expected {what} version {version} to exist")
        return path

    def load_adapter(
        self,
        scenario: str,
        station: str,
        version: int | None = None,
        expected_base_hash: str | None = None,
        expected_rank: int | None = None,
        max_rank: int | None = None,
    ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """Load and verify one adapter version (latest if ``version`` is None); ``max_rank``
        accepts any rank up to the policy's (adapters truncated by `train/truncate.py`)."""
        vdir = self._version_dir(self.station_dir(scenario, station), version, "adapter")
        tensors, meta = read_verified(
            self.root, vdir, "adapter", ADAPTER_JSON_KEYS, expected_base_hash
        )
        json_path = vdir / "adapter.json"
        check_field(meta, "station", meta["station"] == station, repr(station), json_path)
        check_field(meta, "scenario", meta["scenario"] == scenario, repr(scenario), json_path)
        check_field(meta, "rank", adapter_rank(meta["rank"]), "an int >= 0", json_path)
        if max_rank is not None:
            fits = meta["rank"] <= max_rank
            check_field(meta, "rank", fits, f"at most {max_rank} (the policy's)", json_path)
        if expected_rank is not None:
            check_field(
                meta,
                "rank",
                meta["rank"] == expected_rank,
                f"{expected_rank} (the policy's LoRA rank)",
                json_path,
            )
        check_field(meta, "layers", isinstance(meta["layers"], list), "a list", json_path)
        check_field(meta, "kpis", isinstance(meta["kpis"], dict), "an object", json_path)
        check_rank_shapes(tensors, meta["rank"], vdir / "adapter.safetensors")
        return tensors, meta

    def load_base(
        self, scenario: str, version: int | None = None, expected_base_hash: str | None = None
    ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """Load and verify one base-policy version (latest if ``version`` is None)."""
        return self._load_part(
            scenario, self.base_dir(scenario), "base", BASE_JSON_KEYS, version, expected_base_hash
        )

    def load_critic(
        self, scenario: str, version: int | None = None
    ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """Load and verify one version of an extended line's critic (latest if None)."""
        return self._load_part(
            scenario, self.critic_dir(scenario), "critic", CRITIC_JSON_KEYS, version, None
        )

    def _load_part(
        self,
        scenario: str,
        parent: Path,
        kind: str,
        keys: tuple[str, ...],
        version: int | None,
        expected_hash: str | None,
    ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """A base or critic version: verified, and its manifest's scenario and config checked."""
        label = "base policy" if kind == "base" else kind
        vdir = self._version_dir(parent, version, label)
        tensors, meta = read_verified(self.root, vdir, kind, keys, expected_hash)
        json_path = vdir / f"{kind}.json"
        check_field(meta, "scenario", meta["scenario"] == scenario, repr(scenario), json_path)
        check_field(meta, "config", isinstance(meta["config"], dict), "an object", json_path)
        return tensors, meta

    def load_policy(
        self, scenario: str, method: str, version: int | None = None
    ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """Load and verify one baseline policy version (latest if ``version`` is None)."""
        vdir = self._version_dir(self.policy_dir(scenario, method), version, f"{method} policy")
        tensors, meta = read_verified(self.root, vdir, "policy", POLICY_JSON_KEYS, None)
        json_path = vdir / "policy.json"
        check_field(meta, "method", meta["method"] == method, repr(method), json_path)
        check_field(meta, "config", isinstance(meta["config"], dict), "an object", json_path)
        return tensors, meta
