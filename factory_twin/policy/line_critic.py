"""A centralised critic whose size does not depend on the line: for lines that change.

MAPPO's `Critic` reads every station's observation concatenated, so its first layer has
``n_stations * obs_dim`` inputs and a one-hot of ``n_stations``: a trained critic cannot value
a line with one station more. `PooledCritic` values ``V(state, station)`` from

* the station's own observation,
* the mean and the maximum of every station's observation (a summary of the whole line that
  has the same size however many stations there are; the maximum keeps a single blocked or
  broken station visible where the mean would dilute it), and
* a learned embedding of the station, one row per station, found by name.

Normal training keeps the joint `Critic` (its results are recorded bit for bit); this one is
used where a station was added to a trained line (`train/extend.py`). There it starts fresh,
since nothing of the joint critic carries over, and trains with the new station's adapter;
extending an extended line again keeps it and only grows the embedding (`grown_state`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor, nn

from factory_twin.policy.networks import Critic, value_mlp

__all__ = ["CRITIC_KINDS", "CriticKind", "PooledCritic", "grown_state", "make_critic"]

CriticKind = Literal["joint", "pooled"]
CRITIC_KINDS: tuple[str, ...] = ("joint", "pooled")
EMBED_DIM = 8  # station embedding width: a handful of numbers tells dozens of stations apart


class PooledCritic(nn.Module):
    """``V(state, station)`` over own observation, mean/max line summary and station embedding."""

    def __init__(self, obs_dim: int, n_agents: int, hidden: Sequence[int] = (256, 256)) -> None:
        super().__init__()
        self.obs_dim, self.n_agents = obs_dim, n_agents
        self.station_embedding = nn.Parameter(torch.randn(n_agents, EMBED_DIM))
        self.net = value_mlp(3 * obs_dim + EMBED_DIM, hidden)

    def forward(self, state: Tensor, agent_idx: Tensor) -> Tensor:
        """``state[B, n_agents * obs_dim]`` (as `Critic` takes it), ``agent_idx[B]`` -> ``[B]``."""
        obs = state.view(state.shape[0], self.n_agents, self.obs_dim)
        own = obs[torch.arange(obs.shape[0]), agent_idx]
        summary = [own, obs.mean(dim=1), obs.amax(dim=1), self.station_embedding[agent_idx]]
        return self.net(torch.cat(summary, dim=-1)).squeeze(-1)


def make_critic(
    kind: str, obs_dim: int, n_agents: int, hidden: Sequence[int]
) -> Critic | PooledCritic:
    """The critic of a kind ("joint": `Critic` over the concatenated state; "pooled")."""
    if kind == "joint":
        return Critic(obs_dim * n_agents, n_agents, tuple(hidden))
    if kind == "pooled":
        return PooledCritic(obs_dim, n_agents, tuple(hidden))
    raise ValueError(f"critic kind must be one of {CRITIC_KINDS}, got {kind!r}")


def grown_state(
    state: dict[str, Tensor], old_names: Sequence[str], new_names: Sequence[str]
) -> dict[str, Tensor]:
    """A `PooledCritic` state for the line `new_names` from one trained on `old_names`: the
    network as it is, each known station's embedding row moved to its new place, and a station
    the critic never saw given the mean row (valued like a typical station until it learns)."""
    old = state["station_embedding"]
    rows = [
        old[list(old_names).index(name)] if name in old_names else old.mean(dim=0)
        for name in new_names
    ]
    return {**state, "station_embedding": torch.stack(rows).clone()}
