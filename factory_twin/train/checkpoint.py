"""Training checkpoints: everything needed to continue a run after a crash.

What to keep is the trainer's business (`MAPPO.state_dict`); this module only writes and reads
it. A checkpoint is two files written atomically (temp file + rename), weights first:
`checkpoint.safetensors` (the state's tensors: actor, critic and optimiser tensors, torch RNG
states) and `checkpoint.json` (the state's metadata: counters, phase, value normalisation,
numpy RNG state, env episode counters, config - plus the sha256 of the weights file). The JSON
is the commit point: a crash between the two renames leaves the previous JSON, whose sha256 no
longer matches the new weights, and loading says so instead of mixing two checkpoints.
safetensors only, never pickle.

Simulator state is not saved (SimPy processes cannot be serialised): a resumed run starts
fresh episodes where each env's episode counter left off, so it is reproducible from the
checkpoint on, but not bit-identical to a run that was never interrupted.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from factory_twin.errors import StoreError
from factory_twin.store.atomic import atomic_write_bytes, atomic_write_text
from factory_twin.train.mappo import MAPPO, TrainerState

WEIGHTS, META = "checkpoint.safetensors", "checkpoint.json"


def save_checkpoint(trainer: MAPPO, directory: Path) -> Path:
    """Write the trainer's full state under `directory`; returns the JSON path."""
    directory.mkdir(parents=True, exist_ok=True)
    state = trainer.state_dict()
    data = st_save(state.tensors)
    meta = {**state.meta, "sha256": hashlib.sha256(data).hexdigest()}
    atomic_write_bytes(directory / WEIGHTS, data)
    atomic_write_text(directory / META, json.dumps(meta))
    return directory / META


def load_checkpoint(trainer: MAPPO, directory: Path) -> None:
    """Restore a trainer built with the same config; verifies the weights' sha256."""
    meta_path, weights_path = directory / META, directory / WEIGHTS
    try:
        meta = json.loads(meta_path.read_text())
        data = weights_path.read_bytes()
    except (OSError, ValueError) as exc:
        raise StoreError(f"{meta_path}: cannot read checkpoint ({exc})") from None
    if hashlib.sha256(data).hexdigest() != meta.pop("sha256", None):
        raise StoreError(f"{weights_path}: sha256 does not match {META}; checkpoint corrupted")
    trainer.load_state_dict(TrainerState(st_load(data), meta))
