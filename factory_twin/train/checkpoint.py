"""Training checkpoints: everything needed to continue a run after a crash.

A checkpoint is two files written atomically (temp file + rename), weights first:
`checkpoint.safetensors` (actor, critic and optimiser tensors, torch RNG state) and
`checkpoint.json` (counters, phase, value normalisation, numpy RNG state, env episode counters,
and the sha256 of the weights file). The JSON is the commit point: a crash between the two
renames leaves the previous JSON, whose sha256 no longer matches the new weights, and loading
says so instead of mixing two checkpoints. safetensors only, never pickle.

Simulator state is not saved (SimPy processes cannot be serialised): a resumed run starts
fresh episodes where each env's episode counter left off, so it is reproducible from the
checkpoint on, but not bit-identical to a run that was never interrupted.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from factory_twin.errors import StoreError
from factory_twin.store.atomic import atomic_write_bytes, atomic_write_text

WEIGHTS, META = "checkpoint.safetensors", "checkpoint.json"


def _optimizer_tensors(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    state = opt.state_dict()
    tensors, scalars = {}, {}
    for pid, slots in state["state"].items():
        for key, value in slots.items():
            if torch.is_tensor(value):
                tensors[f"opt.{pid}.{key}"] = value.detach().clone().contiguous()
            else:
                scalars[f"{pid}.{key}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _optimizer_state(tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    state: dict[int, dict] = {}
    for name, value in tensors.items():
        if name.startswith("opt."):
            _, pid, key = name.split(".", 2)
            state.setdefault(int(pid), {})[key] = value
    for name, value in meta["scalars"].items():
        pid, key = name.split(".", 1)
        state.setdefault(int(pid), {})[key] = value
    return {"state": state, "param_groups": meta["param_groups"]}


def save_checkpoint(trainer, directory: Path) -> Path:
    """Write the trainer's full state under `directory`; returns the JSON path."""
    directory.mkdir(parents=True, exist_ok=True)
    opt_tensors, opt_meta = _optimizer_tensors(trainer.optimizer)
    tensors = {
        **prefixed("actor", trainer.actor.state_dict()),
        **prefixed("critic", trainer.critic.state_dict()),
        **opt_tensors,
        "rng.torch": torch.get_rng_state(),
        "rng.sampling": trainer.generator.get_state(),
    }  # fmt: skip
    data = st_save(tensors)
    meta = {
        "steps": trainer.steps,
        "updates": trainer.updates,
        "phase": trainer.phase,
        "phase_start": trainer.phase_start,
        "value_norm": [trainer.value_norm.mean, trainer.value_norm.var, trainer.value_norm.count],
        "numpy_rng": trainer.rng.bit_generator.state,
        "envs": [env.episode_counter for env in trainer.envs],
        "finished_returns": trainer.finished_returns[-1000:],
        "episodes_logged": getattr(trainer, "episodes_logged", 0),
        "optimizer": opt_meta,
        "config": trainer.cfg.to_dict(),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    atomic_write_bytes(directory / WEIGHTS, data)
    atomic_write_text(directory / META, json.dumps(meta, default=_jsonable))
    return directory / META


def _jsonable(value):
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


def load_checkpoint(trainer, directory: Path) -> None:
    """Restore a trainer built with the same config; verifies the weights' sha256."""
    meta_path, weights_path = directory / META, directory / WEIGHTS
    try:
        meta = json.loads(meta_path.read_text())
        data = weights_path.read_bytes()
    except (OSError, ValueError) as exc:
        raise StoreError(f"{meta_path}: cannot read checkpoint ({exc})") from None
    if hashlib.sha256(data).hexdigest() != meta.get("sha256"):
        raise StoreError(f"{weights_path}: sha256 does not match {META}; checkpoint corrupted")
    tensors = st_load(data)
    if meta["phase"] == "adapters" and trainer.phase != "adapters":
        trainer.switch_to_adapters()
    trainer.actor.load_state_dict(unprefixed("actor", tensors))
    trainer.critic.load_state_dict(unprefixed("critic", tensors))
    trainer.optimizer.load_state_dict(_optimizer_state(tensors, meta["optimizer"]))
    torch.set_rng_state(tensors["rng.torch"])
    trainer.generator.set_state(tensors["rng.sampling"])
    trainer.steps, trainer.updates = meta["steps"], meta["updates"]
    trainer.phase_start = meta["phase_start"]
    vn = trainer.value_norm
    vn.mean, vn.var, vn.count = meta["value_norm"]
    trainer.rng.bit_generator.state = meta["numpy_rng"]
    for env, counter in zip(trainer.envs, meta["envs"], strict=True):
        env.episode_counter = tuple(counter)
    trainer.finished_returns = list(meta["finished_returns"])
    trainer.episodes_logged = meta.get("episodes_logged", 0)


def prefixed(prefix: str, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Flatten a module's state under `prefix.` (one safetensors file holds several)."""
    return {f"{prefix}.{k}": v.detach().clone().contiguous() for k, v in state.items()}


def unprefixed(prefix: str, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    n = len(prefix) + 1
    return {k[n:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}
