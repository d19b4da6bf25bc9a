"""Flat tensor dicts: several modules' and an optimiser's state as one `name -> tensor` dict,
the form a safetensors file holds (no nesting, no Python objects), plus what is not a tensor
kept apart as JSON-able data."""

from __future__ import annotations

import torch


def prefixed(prefix: str, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Flatten a module's state under `prefix.` (one safetensors file holds several)."""
    return {f"{prefix}.{k}": v.detach().clone().contiguous() for k, v in state.items()}


def unprefixed(prefix: str, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The tensors stored under `prefix.`, with the prefix taken off (inverse of `prefixed`)."""
    n = len(prefix) + 1
    return {k[n:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}


def optimizer_tensors(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """An optimiser's state as tensors `opt.<param id>.<slot>` and JSON-able rest
    (param groups and non-tensor slots)."""
    state = opt.state_dict()
    tensors, scalars = {}, {}
    for pid, slots in state["state"].items():
        for key, value in slots.items():
            if torch.is_tensor(value):
                tensors[f"opt.{pid}.{key}"] = value.detach().clone().contiguous()
            else:
                scalars[f"{pid}.{key}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def optimizer_state(tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    """The `state_dict` an optimiser loads, rebuilt from `optimizer_tensors`' two parts. The
    tensors are copies: the optimiser adopts them and updates them in place, which must not
    reach the caller's tensors (or another optimiser loaded from them)."""
    state: dict[int, dict] = {}
    for name, value in tensors.items():
        if name.startswith("opt."):
            _, pid, key = name.split(".", 2)
            state.setdefault(int(pid), {})[key] = value.clone()
    for name, value in meta["scalars"].items():
        pid, key = name.split(".", 1)
        state.setdefault(int(pid), {})[key] = value
    return {"state": state, "param_groups": meta["param_groups"]}
