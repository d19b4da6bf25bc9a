"""Weight files on disk: safetensors bytes plus JSON metadata, and the checks on loading.

``factory_twin.store.policies`` decides where files go and how versions are numbered; this
module only turns tensors + metadata into file contents and back. Weights are safetensors
only: pickle-based formats (``torch.load``) execute code from the file, and weights are
shared between machines. Loading verifies everything a mismatched or tampered file could
break later in confusing ways (sha256, parseability, base policy hash, LoRA rank and tensor
shapes) and reports it as a one-line StoreError that names the file and what was expected.

LoRA tensor convention checked against ``rank`` (that of ``policy.networks.export_adapter``):
a key whose last dotted part is ``A`` or ``lora_A`` has shape ``(rank, in_features)``, one
ending in ``B`` or ``lora_B`` has shape ``(out_features, rank)``. Other tensors are stored
as-is.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from factory_twin.errors import StoreError

__all__ = ["check_field", "check_rank_shapes", "encode", "positive_int", "read_verified"]


def _json_default(value: Any) -> Any:
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    item = getattr(value, "item", None)  # numpy / torch scalars in KPI dicts
    if callable(item):
        return item()
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


# ----------------------------------------------------------------------- tensors <-> bytes


def _serialise(tensors: Mapping[str, torch.Tensor], where: Path) -> bytes:
    """safetensors bytes of CPU, contiguous, non-aliased copies of the tensors."""
    if not tensors:
        raise StoreError(f"{where}: nothing to save; expected a non-empty dict of name -> Tensor")
    prepared: dict[str, torch.Tensor] = {}
    for name, tensor in tensors.items():
        if not isinstance(name, str) or not isinstance(tensor, torch.Tensor):
            raise StoreError(
                f"{where}: entry {name!r} is {type(tensor).__name__}; expected str -> torch.Tensor"
            )
        prepared[name] = tensor.detach().to("cpu").clone(memory_format=torch.contiguous_format)
    return st_save(prepared)


def _parse(path: Path, data: bytes) -> dict[str, torch.Tensor]:
    try:
        return st_load(data)
    except Exception as exc:  # safetensors raises its own SafetensorError and others
        raise StoreError(
            f"{path}: not a valid safetensors file ({_one_line(exc)}); "
            "expected weights written by PolicyStore"
        ) from exc


def check_rank_shapes(tensors: Mapping[str, torch.Tensor], rank: int, where: Path) -> None:
    """Refuse LoRA factors whose shape does not fit ``rank`` (convention in module doc)."""
    for name, tensor in tensors.items():
        if not isinstance(tensor, torch.Tensor):
            continue  # reported by _serialise
        part = name.rsplit(".", 1)[-1]
        if part in ("A", "lora_A"):
            ok, expected = tensor.ndim == 2 and tensor.shape[0] == rank, f"({rank}, in_features)"
        elif part in ("B", "lora_B"):
            ok, expected = tensor.ndim == 2 and tensor.shape[1] == rank, f"(out_features, {rank})"
        else:
            continue
        if not ok:
            raise StoreError(
                f"{where}: tensor {name!r} has shape {tuple(tensor.shape)}; "
                f"expected {expected} for LoRA rank {rank}"
            )


# ------------------------------------------------------------------------ file reading


def _read_bytes(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise StoreError(f"{path}: missing; expected {what}") from exc
    except OSError as exc:
        raise StoreError(f"{path}: unreadable ({exc.strerror or exc}); expected {what}") from exc


def _read_meta(path: Path, required: tuple[str, ...]) -> dict[str, Any]:
    raw = _read_bytes(path, f"{path.name} metadata written by PolicyStore")
    try:
        meta = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StoreError(f"{path}: not valid JSON ({_one_line(exc)}); expected metadata") from exc
    if not isinstance(meta, dict):
        raise StoreError(f"{path}: holds {type(meta).__name__}; expected a JSON object")
    missing = [key for key in required if key not in meta]
    if missing:
        raise StoreError(f"{path}: lacks keys {missing}; expected all of {list(required)}")
    if not isinstance(meta["sha256"], str):
        raise StoreError(f"{path}: sha256 is {meta['sha256']!r}; expected a hex string")
    return meta


def check_field(meta: Mapping[str, Any], key: str, ok: bool, expected: str, where: Path) -> None:
    """Unless ``ok``, a StoreError saying what ``meta[key]`` is and what was ``expected``."""
    if not ok:
        raise StoreError(f"{where}: {key} is {meta.get(key)!r}; expected {expected}")


def positive_int(value: Any) -> bool:
    """An int above 0 (a JSON ``true`` is not one)."""
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def encode(
    tensors: Mapping[str, torch.Tensor], record: dict[str, Any], where: Path, stem: str
) -> tuple[bytes, str, str]:
    """(safetensors bytes, JSON text, sha256 of the bytes); the JSON records that sha256."""
    data = _serialise(tensors, where)
    digest = hashlib.sha256(data).hexdigest()
    record["sha256"] = digest
    try:
        text = json.dumps(
            record, indent=2, sort_keys=True, ensure_ascii=False, default=_json_default
        )
    except (TypeError, ValueError) as exc:
        raise StoreError(
            f"{where}: {stem} meta cannot be stored ({exc}); expected JSON-serialisable values"
        ) from exc
    return data, text + "\n", digest


def read_verified(
    vdir: Path, stem: str, required: tuple[str, ...], expected_base_hash: str | None
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """``<stem>.safetensors`` and ``<stem>.json`` of a version directory, both verified.

    Checks the required keys, the sha256, that the bytes parse as safetensors, and (if
    given) the base policy hash.
    """
    json_path, weights_path = vdir / f"{stem}.json", vdir / f"{stem}.safetensors"
    required = (*required, "base_hash") if expected_base_hash is not None else required
    meta = _read_meta(json_path, required)
    data = _read_bytes(weights_path, f"{stem} weights (safetensors) listed in {json_path.name}")
    digest = hashlib.sha256(data).hexdigest()
    if digest != meta["sha256"]:
        raise StoreError(
            f"{weights_path}: sha256 is {digest}; expected {meta['sha256']} from "
            f"{json_path.name} (file corrupted or modified)"
        )
    tensors = _parse(weights_path, data)
    if expected_base_hash is not None and meta["base_hash"] != expected_base_hash:
        raise StoreError(
            f"{json_path}: base_hash is {meta['base_hash']!r}; expected "
            f"{expected_base_hash!r} (saved for a different base policy)"
        )
    return tensors, meta
