"""Choosing actions for every station of several lines in one batched forward pass."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from factory_twin.policy.networks import Actor


@dataclass
class Choice:
    actions: torch.Tensor  # [E, N]
    logp: torch.Tensor  # [E, N]
    probs: torch.Tensor  # [E, N, A]


def act(
    actor: Actor,
    obs: np.ndarray,
    mask: np.ndarray,
    greedy: bool = False,
    generator: torch.Generator | None = None,
) -> Choice:
    """obs [E, N, D] and mask [E, N, A] (E lines, N stations) -> actions for all of them.

    Rows are handed to the actor grouped by station ([N, E, D]), the layout its LoRA layers
    compute fastest. Sampling draws from `generator` when given (evaluation), else from
    torch's global generator (training, seeded by the trainer).
    """
    o = torch.from_numpy(obs).transpose(0, 1)
    m = torch.from_numpy(mask).transpose(0, 1)
    logits = actor.forward_grouped(o, m)
    logp_all = torch.log_softmax(logits, dim=-1)
    probs = logp_all.exp()
    if greedy:
        a = logits.argmax(-1)
    else:
        flat = probs.reshape(-1, probs.shape[-1])
        a = torch.multinomial(flat, 1, generator=generator).view(probs.shape[:-1])
    logp = logp_all.gather(-1, a.unsqueeze(-1)).squeeze(-1)
    return Choice(a.transpose(0, 1), logp.transpose(0, 1), probs.transpose(0, 1))
