"""Weight files on disk: safetensors bytes plus JSON metadata, and the checks on loading.

``factory_twin.store.policies`` decides where files go and how versions are numbered; this
module only turns tensors + metadata into file contents and back. Weights are safetensors
only: pickle-based formats (``torch.load``) execute code from the file, and weights are
shared between machines. Loading verifies everything a mismatched or tampered file could
break later in confusing ways (sha256 of the weights, ``manifest_sha256`` of the JSON itself,
parseability, the type of every required field, finite tensors, base policy hash, LoRA rank
and tensor shapes) and reports it as a one-line StoreError that names the file and what was
expected. Files are read through ``store.guarded_read`` (inside the store, regular, capped).

The manifest hash is the sha256 of the JSON's other fields written canonically (sorted keys,
no spaces), so any edit of the JSON (a rank, a base hash, a config) is detected, as an edit of
the weights is by ``sha256``. Neither is a signature: whoever can write the store can re-sign.

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
from factory_twin.store.guarded_read import read_store_file

__all__ = [
    "MANIFEST_KEY",
    "adapter_rank",
    "check_field",
    "check_rank_shapes",
    "encode",
    "manifest_digest",
    "positive_int",
    "read_verified",
]

MANIFEST_KEY = "manifest_sha256"
# what each manifest field must hold, for the fields a loader requires
_FIELD_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "scenario": ((str,), "a string"),
    "station": ((str,), "a string"),
    "method": ((str,), "a string"),
    "rank": ((int,), "an integer"),
    "alpha": ((int, float), "a number"),
    "layers": ((list,), "a list"),
    "base_hash": ((str,), "a string"),
    "scenario_hash": ((str,), "a string"),
    "sha256": ((str,), "a hex string"),
    MANIFEST_KEY: ((str,), "a hex string"),
    "kpis": ((dict,), "an object"),
    "config": ((dict,), "an object"),
    "created": ((str,), "a string"),
    "run_id": ((int, type(None)), "an integer or null"),
}


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


def _read_meta(path: Path, root: Path, required: tuple[str, ...]) -> dict[str, Any]:
    raw = read_store_file(path, root, f"{path.name} metadata written by PolicyStore")
    try:
        meta = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # 5000-digit ints too
        raise StoreError(f"{path}: not valid JSON ({_one_line(exc)}); expected metadata") from exc
    if not isinstance(meta, dict):
        raise StoreError(f"{path}: holds {type(meta).__name__}; expected a JSON object")
    missing = [key for key in required if key not in meta]
    if missing:
        raise StoreError(f"{path}: lacks keys {missing}; expected all of {list(required)}")
    for key in required:
        _check_type(meta, key, path)
    if manifest_digest(meta) != meta[MANIFEST_KEY]:
        raise StoreError(
            f"{path}: {MANIFEST_KEY} does not match the other fields; expected metadata as "
            "PolicyStore wrote it (file edited or corrupted)"
        )
    return meta


def _check_type(meta: Mapping[str, Any], key: str, path: Path) -> None:
    types, expected = _FIELD_TYPES.get(key, ((object,), "a value"))
    value = meta[key]
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
        raise StoreError(f"{path}: field {key} is {_short(value)}; expected {expected}")


def _short(value: Any, limit: int = 60) -> str:
    """A bounded one-line repr (a 5000-digit int or a deep list stays short)."""
    try:
        text = " ".join(repr(value).split())
    except (ValueError, RecursionError):
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def manifest_digest(meta: Mapping[str, Any]) -> str:
    """sha256 of the manifest's fields other than its own hash, written canonically."""
    fields = {key: value for key, value in meta.items() if key != MANIFEST_KEY}
    text = json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _check_finite(tensors: Mapping[str, torch.Tensor], where: Path) -> None:
    """Refuse NaN or infinite weights: a policy from them acts at random or not at all."""
    for name, tensor in tensors.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise StoreError(f"{where}: tensor {name!r} holds NaN or inf; expected finite weights")


def check_field(meta: Mapping[str, Any], key: str, ok: bool, expected: str, where: Path) -> None:
    """Unless ``ok``, a StoreError saying what ``meta[key]`` is and what was ``expected``."""
    if not ok:
        raise StoreError(f"{where}: {key} is {meta.get(key)!r}; expected {expected}")


def positive_int(value: Any) -> bool:
    """An int above 0 (a JSON ``true`` is not one)."""
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def adapter_rank(value: Any) -> bool:
    """A LoRA rank as stored: an int of at least 0 (0: an adapter truncated to nothing)."""
    return positive_int(value) or (value == 0 and type(value) is int)


def encode(
    tensors: Mapping[str, torch.Tensor], record: dict[str, Any], where: Path, stem: str
) -> tuple[bytes, str, str]:
    """(safetensors bytes, JSON text, sha256 of the bytes); the JSON records that sha256."""
    data = _serialise(tensors, where)
    digest = hashlib.sha256(data).hexdigest()
    record["sha256"] = digest
    try:  # through JSON and back, so the hash covers exactly what a reader will parse
        plain = json.loads(json.dumps(record, default=_json_default))
    except (TypeError, ValueError) as exc:
        raise StoreError(
            f"{where}: {stem} meta cannot be stored ({exc}); expected JSON-serialisable values"
        ) from exc
    plain[MANIFEST_KEY] = manifest_digest(plain)
    text = json.dumps(plain, indent=2, sort_keys=True, ensure_ascii=False)
    return data, text + "\n", digest


def read_verified(
    root: Path, vdir: Path, stem: str, required: tuple[str, ...], expected_base_hash: str | None
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """``<stem>.safetensors`` and ``<stem>.json`` of a version directory in the store ``root``,
    both verified (module doc), and (if given) the base policy hash.
    """
    json_path, weights_path = vdir / f"{stem}.json", vdir / f"{stem}.safetensors"
    required = (*required, "base_hash") if expected_base_hash is not None else required
    meta = _read_meta(json_path, root, required)
    what = f"{stem} weights (safetensors) listed in {json_path.name}"
    data = read_store_file(weights_path, root, what)
    digest = hashlib.sha256(data).hexdigest()
    if digest != meta["sha256"]:
        raise StoreError(
            f"{weights_path}: sha256 is {digest}; expected {meta['sha256']} from "
            f"{json_path.name} (file corrupted or modified)"
        )
    tensors = _parse(weights_path, data)
    _check_finite(tensors, weights_path)
    if expected_base_hash is not None and meta["base_hash"] != expected_base_hash:
        raise StoreError(
            f"{json_path}: base_hash is {meta['base_hash']!r}; expected "
            f"{expected_base_hash!r} (saved for a different base policy)"
        )
    return tensors, meta
