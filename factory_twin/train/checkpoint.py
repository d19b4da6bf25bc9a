"""Training checkpoints: everything needed to continue a run after a crash.

What to keep is the trainer's business (`MAPPO.state_dict`); this module only writes and reads
it. A checkpoint is a folder `ckpt-<N>/` of two files: `checkpoint.safetensors` (the state's
tensors: actor, critic and optimiser tensors, torch RNG states) and `checkpoint.json` (the
state's metadata: counters, phase, value normalisation, numpy RNG state, env episode counters,
config - plus the sha256 of the weights file). Both are written into a locked temp folder that
is then renamed to `ckpt-<N>`; the checkpoint is committed by one more atomic rename, that of
the small pointer file `CURRENT` naming it. A crash at any moment therefore leaves `CURRENT`
naming the previous whole checkpoint; older folders are removed only after the switch.
safetensors only, never pickle.

Simulator state is not saved (SimPy processes cannot be serialised): a resumed run starts
fresh episodes where each env's episode counter left off, so it is reproducible from the
checkpoint on, but not bit-identical to a run that was never interrupted.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path

from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from factory_twin.errors import StoreError
from factory_twin.faults import crash_point
from factory_twin.store.atomic import atomic_write_bytes, atomic_write_text, fsync_dir
from factory_twin.store.tmpdirs import make_locked_dir, sweep_stale
from factory_twin.train.mappo import MAPPO, TrainerState

WEIGHTS, META, POINTER = "checkpoint.safetensors", "checkpoint.json", "CURRENT"
_FOLDER_RE = re.compile(r"ckpt-([1-9][0-9]*)")


def save_checkpoint(trainer: MAPPO, directory: Path) -> Path:
    """Write the trainer's full state as a new checkpoint under `directory` and commit it;
    returns the JSON path."""
    state = trainer.state_dict()
    data = st_save(state.tensors)
    meta = {**state.meta, "sha256": hashlib.sha256(data).hexdigest()}
    try:
        directory.mkdir(parents=True, exist_ok=True)
        sweep_stale(directory)
        tmp = make_locked_dir(directory)
    except OSError as exc:
        raise StoreError(f"{directory}: cannot write a checkpoint ({exc.strerror or exc})") from exc
    try:
        atomic_write_bytes(tmp.path / WEIGHTS, data)
        atomic_write_text(tmp.path / META, json.dumps(meta))
        fsync_dir(tmp.path)
        folder = _rename_to_next(tmp.path, directory)
    except BaseException:
        shutil.rmtree(tmp.path, ignore_errors=True)
        raise
    finally:
        tmp.release()
    crash_point("checkpoint-before-switch")
    atomic_write_text(directory / POINTER, folder.name)
    _remove_all_but(directory, folder.name)
    return folder / META


def _rename_to_next(tmp: Path, directory: Path) -> Path:
    """Rename the filled temp folder to the next free `ckpt-<N>` (one rename)."""
    found = (_FOLDER_RE.fullmatch(name) for name in os.listdir(directory))
    number = max((int(m.group(1)) for m in found if m), default=0) + 1
    while True:
        target = directory / f"ckpt-{number}"
        try:
            os.rename(tmp, target)
        except OSError as exc:
            if not target.exists():
                raise StoreError(f"{target}: cannot commit a checkpoint ({exc.strerror})") from exc
            number += 1
            continue
        fsync_dir(directory)
        return target


def _remove_all_but(directory: Path, keep: str) -> None:
    """Drop the checkpoints `CURRENT` no longer names (after the switch, never before), the
    pair an older version kept directly in the run folder included."""
    for entry in directory.iterdir():
        if _FOLDER_RE.fullmatch(entry.name) and entry.name != keep:
            shutil.rmtree(entry, ignore_errors=True)
        elif entry.name in (WEIGHTS, META):
            entry.unlink(missing_ok=True)


def current_checkpoint(directory: Path) -> Path:
    """The folder of the committed checkpoint (a run from before `CURRENT`: `directory`)."""
    pointer = directory / POINTER
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        if (directory / META).exists():
            return directory  # written by a version that kept the pair directly in the run dir
        raise StoreError(f"{pointer}: missing; expected a committed checkpoint") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise StoreError(f"{pointer}: unreadable ({exc}); expected a checkpoint name") from None
    if not _FOLDER_RE.fullmatch(name):
        raise StoreError(f"{pointer}: holds {name[:40]!r}; expected ckpt-<N>")
    return directory / name


def load_checkpoint(trainer: MAPPO, directory: Path) -> None:
    """Restore a trainer built with the same config; verifies the weights' sha256."""
    folder = current_checkpoint(directory)
    meta_path, weights_path = folder / META, folder / WEIGHTS
    try:
        meta = json.loads(meta_path.read_text())
        data = weights_path.read_bytes()
    except (OSError, ValueError) as exc:
        raise StoreError(f"{meta_path}: cannot read checkpoint ({exc})") from None
    if hashlib.sha256(data).hexdigest() != meta.pop("sha256", None):
        raise StoreError(f"{weights_path}: sha256 does not match {META}; checkpoint corrupted")
    trainer.load_state_dict(TrainerState(st_load(data), meta))
