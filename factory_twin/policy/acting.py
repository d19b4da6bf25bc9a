"""Choosing actions for the stations of several lines in one batched forward pass.

Two entry points draw the same random numbers: `act` runs the actor on every station of every
line (the viewer shows all stations' probabilities), `act_acting` only on the stations that act
at this step, which is all that training and evaluation need (at a step one or two of a line's
stations ask, so the other rows would be most of the forward for nothing).

Sampling is torch's one-sample `multinomial` written out: it is ``argmax(p / q)`` with ``q``
drawn from Exp(1) per (row, action) (the exponential race). Drawing ``q`` for all
``[stations x lines]`` rows in either entry point keeps the generator's stream, and the action
an acting station draws, the same whichever rows are computed.
"""

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


def _race(n_rows: int, n_actions: int, generator: torch.Generator | None) -> torch.Tensor:
    """Exp(1) noise ``[n_rows, n_actions]`` (rows station-major): what `multinomial` draws."""
    return torch.empty(n_rows, n_actions).exponential_(1.0, generator=generator)


def _pick(logp_all: torch.Tensor, noise: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """(actions, their log-probabilities) from log-probabilities ``[..., A]``: the most likely
    action when `noise` is None (greedy), else the winner of the exponential race."""
    if noise is None:
        a = logp_all.argmax(-1)
    else:
        a = (logp_all.exp() / noise.view_as(logp_all)).argmax(-1)
    return a, logp_all.gather(-1, a.unsqueeze(-1)).squeeze(-1)


def act(
    actor: Actor,
    obs: np.ndarray,
    mask: np.ndarray,
    greedy: bool = False,
    generator: torch.Generator | None = None,
) -> Choice:
    """obs [E, N, D] and mask [E, N, A] (E lines, N stations) -> actions for all of them.

    Rows are handed to the actor grouped by station ([N, E, D]), the layout its LoRA layers
    compute fastest. Sampling draws from `generator` when given, else from torch's global
    generator.
    """
    o = torch.from_numpy(obs).transpose(0, 1)
    m = torch.from_numpy(mask).transpose(0, 1)
    logits = actor.forward_grouped(o, m)
    logp_all = torch.log_softmax(logits, dim=-1)
    n, e, width = logp_all.shape
    noise = None if greedy else _race(n * e, width, generator)
    a, logp = _pick(logp_all, noise)
    return Choice(a.transpose(0, 1), logp.transpose(0, 1), logp_all.exp().transpose(0, 1))


def act_acting(
    actor: Actor,
    obs: np.ndarray,
    mask: np.ndarray,
    acting: np.ndarray,
    greedy: bool = False,
    generator: torch.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Like `act` for the rows where `acting` [E, N] is set, computed on those rows only:
    returns (actions int64 [E, N], log-probabilities float32 [E, N]), 0 at the other rows
    (which the env ignores). The noise is `act`'s, so an acting station's draw is `act`'s too
    up to float rounding of its probabilities (a smaller batch can round differently)."""
    E, N = acting.shape
    actions = np.zeros((E, N), np.int64)
    logp = np.zeros((E, N), np.float32)
    noise = None if greedy else _race(N * E, mask.shape[-1], generator)
    station, line = np.nonzero(acting.T)  # station-major, as `act` lays rows out
    if len(station) == 0:
        return actions, logp
    logits = actor(
        torch.from_numpy(obs[line, station]),
        torch.from_numpy(station),
        torch.from_numpy(mask[line, station]),
        counts=np.bincount(station, minlength=N),
    )
    rows = None if noise is None else noise[torch.from_numpy(station * E + line)]
    a, lp = _pick(torch.log_softmax(logits, dim=-1), rows)
    actions[line, station] = a.numpy()
    logp[line, station] = lp.numpy()
    return actions, logp
