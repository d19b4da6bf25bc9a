"""Actor and critic networks for MAPPO with LoRASA per-station adapters.

Four actor kinds share one code path so that baselines differ only in their layers:

* ``shared``    - one MLP for every station (parameter sharing, PS).
* ``shared-id`` - PS with a one-hot station id appended to the observation inside ``forward``,
  so callers always pass raw observations whatever the kind.
* ``separate``  - independent weights per station (no parameter sharing, NPS), stacked so that
  all stations run in one batched matmul.
* ``lora``      - the shared MLP plus a rank-``r`` adapter per station (LoRASA). Its base keys
  are identical to ``shared``'s, so a trained PS actor loads straight into it.

Hidden activations are tanh, as in CleanRL's PPO and the MAPPO reference settings: bounded
activations keep a low-rank adapter's change from shifting the scale of the next layer's input,
and there are no dead units whose gradient an adapter could never reach.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from factory_twin.policy.lora import AgentGroups, MultiAgentLinear, MultiAgentLoRALinear

__all__ = [
    "MASK_VALUE",
    "Actor",
    "ActorConfig",
    "Critic",
    "base_hash",
    "mlp_logits",
    "value_mlp",
]

ActorKind = Literal["shared", "shared-id", "separate", "lora"]
AdapterLayers = Literal["all", "deeper"]

MASK_VALUE = -1e9
"""Logit given to forbidden actions: exp() underflows to exactly 0 in float32, yet it stays
finite, so log-probs, entropies and KL terms never produce inf - inf = NaN."""

_HIDDEN_GAIN = math.sqrt(2.0)
_HEAD_GAIN = 0.01  # near-uniform initial policy (CleanRL PPO)


@dataclass
class ActorConfig:
    """Shape of an actor.

    ``adapter_layers="all"`` puts an adapter on every hidden layer (obs->h1 and h1->h2);
    ``"deeper"`` only on the last hidden layer. The output head never carries one: it is
    ``h x n_actions``, so an adapter there would cost nearly as much as the head itself.
    With obs_dim 40, width 256, 8 actions and rank 8 on both hidden layers, one station's
    adapter is ``8*(40+256) + 8*(256+256) = 6464`` parameters, about 8% of the 78,344-parameter
    shared actor; at width 128 the share doubles (bottling: 3,208 of 19,590, 16%), since the
    adapter grows with the width and the shared layers with its square. Either way stations
    specialise at a small fraction of the cost of separate networks.
    """

    obs_dim: int
    n_actions: int
    n_agents: int
    hidden: tuple[int, ...]  # widths of the hidden layers (training's: TrainConfig.hidden)
    kind: ActorKind = "lora"
    rank: int = 8
    alpha: float | None = None  # None => rank, i.e. adapter scale 1
    adapter_layers: AdapterLayers = "all"
    # the shared layers also see a one-hot station id (implied by "shared-id"); a "lora" actor
    # with it is LoRASA on the paper's baseline, whose shared policy already knows the agent
    station_id: bool = False
    # the id column each station's one-hot sets (None: station i sets column i); a station
    # added to a trained line wears the id of the stored station it is like, so the frozen
    # base needs no new input for it (`train.extend`)
    id_columns: tuple[int, ...] | None = None

    @property
    def sees_id(self) -> bool:
        return self.kind == "shared-id" or self.station_id

    @property
    def n_ids(self) -> int:
        """Width of the one-hot station id the shared layers see (0 when they see none)."""
        if not self.sees_id:
            return 0
        return self.n_agents if self.id_columns is None else max(self.id_columns) + 1

    def id_column(self, agent: int) -> int:
        """The one-hot column station `agent` sets."""
        return agent if self.id_columns is None else self.id_columns[agent]

    def __post_init__(self) -> None:
        self.hidden = tuple(int(h) for h in self.hidden)
        if self.kind not in ("shared", "shared-id", "separate", "lora"):
            raise ValueError(
                f"kind must be one of shared, shared-id, separate, lora; got {self.kind!r}"
            )
        if self.adapter_layers not in ("all", "deeper"):
            raise ValueError(
                f"adapter_layers must be 'all' or 'deeper', got {self.adapter_layers!r}"
            )
        if min(self.obs_dim, self.n_actions, self.n_agents) < 1 or not self.hidden:
            raise ValueError("obs_dim, n_actions, n_agents and hidden must all be positive")
        if self.kind == "lora" and self.rank < 1:
            raise ValueError(f"kind 'lora' needs rank >= 1, got {self.rank}")
        if self.id_columns is not None:
            self.id_columns = tuple(int(c) for c in self.id_columns)
            if not self.sees_id or len(self.id_columns) != self.n_agents:
                raise ValueError("id_columns needs a station id and one column per agent")
            if not all(0 <= c < self.n_agents for c in self.id_columns):
                raise ValueError(f"id_columns must lie in [0, {self.n_agents}): {self.id_columns}")


def _is_adapter_key(key: str) -> bool:
    return key.endswith(("lora_A", "lora_B"))


class Actor(nn.Module):
    """Per-station policy: ``obs -> masked logits``; ``agent_idx`` picks the station's weights."""

    def __init__(self, config: ActorConfig) -> None:
        super().__init__()
        self.config = config
        in_dim = config.obs_dim + config.n_ids
        ids = config.id_columns
        self.register_buffer(
            "id_of", None if ids is None else torch.tensor(ids, dtype=torch.long), persistent=False
        )
        dims = [in_dim, *config.hidden]
        n_hidden = len(config.hidden)
        layers: list[nn.Module] = []
        for i, (d_in, d_out) in enumerate(zip(dims[:-1], dims[1:], strict=True)):
            layers.append(self._make_layer(d_in, d_out, _HIDDEN_GAIN, self._adapted(i, n_hidden)))
        layers.append(self._make_layer(dims[-1], config.n_actions, _HEAD_GAIN, False))
        self.layers = nn.ModuleList(layers)

    def _adapted(self, layer: int, n_hidden: int) -> bool:
        if self.config.kind != "lora":
            return False
        return self.config.adapter_layers == "all" or layer == n_hidden - 1

    def _make_layer(self, d_in: int, d_out: int, gain: float, adapters: bool) -> nn.Module:
        c = self.config
        if c.kind == "separate":
            return MultiAgentLinear(d_in, d_out, c.n_agents, init_gain=gain)
        return MultiAgentLoRALinear(
            d_in, d_out, c.n_agents, rank=c.rank, alpha=c.alpha, adapters=adapters, init_gain=gain
        )

    @property
    def _per_agent_rows(self) -> bool:
        """Whether any layer treats stations differently (and so needs the row grouping)."""
        return self.config.kind == "separate" or any(
            layer.active for _, layer in self._adapter_layers()
        )

    def _adapter_layers(self) -> Iterator[tuple[int, MultiAgentLoRALinear]]:
        for i, layer in enumerate(self.layers):
            if isinstance(layer, MultiAgentLoRALinear) and layer.has_adapters:
                yield i, layer

    # --- forward ---------------------------------------------------------------------------

    def forward(
        self,
        obs: Tensor,
        agent_idx: Tensor,
        action_mask: Tensor | None = None,
        counts: np.ndarray | None = None,
    ) -> Tensor:
        """``obs[B, obs_dim]``, ``agent_idx[B]``, ``action_mask[B, n_actions]`` (True = allowed)
        -> logits ``[B, n_actions]`` with forbidden actions at :data:`MASK_VALUE`. `counts`:
        rows per station when the rows are sorted by station, so that a kind that groups rows
        builds its plan from them (`AgentGroups.from_counts`) instead of sorting."""
        n = self.config.n_agents
        x = obs
        if self.config.sees_id:
            ids = agent_idx if self.id_of is None else self.id_of[agent_idx]
            x = torch.cat([obs, F.one_hot(ids, self.config.n_ids).to(obs.dtype)], dim=-1)
        # Build the row grouping once and reuse it in every layer.
        rows: Tensor | AgentGroups = agent_idx
        if self._per_agent_rows:
            rows = (
                AgentGroups.from_index(agent_idx, n)
                if counts is None
                else AgentGroups.from_counts(counts)
            )
        # unpacking iterates the ModuleList; slicing it would build a new one on every call,
        # which cost about a fifth of a rollout step's forward on a handful of rows (cProfile)
        *hidden, head = self.layers
        for layer in hidden:
            x = torch.tanh(layer(x, rows))
        return _apply_mask(head(x, rows), action_mask)

    def forward_grouped(self, obs: Tensor, action_mask: Tensor | None = None) -> Tensor:
        """Fast path for ``obs[n_agents, rows, obs_dim]`` (station ``i``'s rows in slot ``i``)
        -> logits ``[n_agents, rows, n_actions]``."""
        n, rows, _ = obs.shape
        x = obs
        if self.config.sees_id:
            eye = torch.eye(self.config.n_ids, dtype=obs.dtype, device=obs.device)
            eye = eye if self.id_of is None else eye[self.id_of]
            x = torch.cat([obs, eye.unsqueeze(1).expand(n, rows, eye.shape[1])], dim=-1)
        *hidden, head = self.layers
        for layer in hidden:
            x = torch.tanh(layer.forward_grouped(x))
        return _apply_mask(head.forward_grouped(x), action_mask)

    # --- parameter groups ------------------------------------------------------------------

    def adapter_parameters(self) -> list[nn.Parameter]:
        return [p for _, layer in self._adapter_layers() for p in layer.adapter_parameters()]

    def base_parameters(self) -> list[nn.Parameter]:
        adapters = {id(p) for p in self.adapter_parameters()}
        return [p for p in self.parameters() if id(p) not in adapters]

    def set_adapters_active(self, on: bool) -> None:
        """Compute (and let autograd track) the adapters, or not: while they are zero and not
        trained (LoRASA's base phase) the actor is then exactly, and as cheaply as, PS."""
        for _, layer in self._adapter_layers():
            layer.set_active(on)

    def freeze_base(self) -> None:
        """Freeze everything except the adapters (LoRASA phase 2), the head included."""
        for p in self.base_parameters():
            p.requires_grad_(False)

    def parameter_counts(self) -> dict[str, int]:
        """``total``, ``base`` (everything but adapters), ``adapter_total``, ``adapter_per_agent``.

        For ``separate`` nothing is shared; all weights count as ``base``.
        """
        total = sum(p.numel() for p in self.parameters())
        adapter_total = sum(p.numel() for p in self.adapter_parameters())
        return {
            "total": total,
            "base": total - adapter_total,
            "adapter_total": adapter_total,
            "adapter_per_agent": adapter_total // self.config.n_agents,
        }

    # --- adapters and base weights ---------------------------------------------------------

    def export_adapter(self, agent: int) -> dict[str, Tensor]:
        """Station ``agent``'s adapter as ``{"layers.<i>.A": ..., "layers.<i>.B": ...}``."""
        out: dict[str, Tensor] = {}
        for i, layer in self._adapter_layers():
            for key, tensor in layer.export_adapter(agent).items():
                out[f"layers.{i}.{key}"] = tensor
        if not out:
            raise ValueError(f"actor kind {self.config.kind!r} has no adapters")
        return out

    def load_adapter(self, agent: int, tensors: dict[str, Tensor]) -> None:
        """Inverse of :meth:`export_adapter`; validates every key and shape before copying."""
        layers = dict(self._adapter_layers())
        expected = {f"layers.{i}.{k}" for i in layers for k in ("A", "B")}
        if not expected:
            raise ValueError(f"actor kind {self.config.kind!r} has no adapters")
        if set(tensors) != expected:
            missing, extra = sorted(expected - set(tensors)), sorted(set(tensors) - expected)
            raise ValueError(f"adapter keys do not match: missing {missing}, unexpected {extra}")
        per_layer = {i: {k: tensors[f"layers.{i}.{k}"] for k in ("A", "B")} for i in layers}
        for i, parts in per_layer.items():  # check all shapes before touching any weight
            layer = layers[i]
            shapes = {"A": (layer.rank, layer.in_features), "B": (layer.out_features, layer.rank)}
            for k, t in parts.items():
                want = shapes[k]
                if tuple(t.shape) != want:
                    raise ValueError(
                        f"adapter layers.{i}.{k} must have shape {tuple(want)}, "
                        f"got {tuple(t.shape)}"
                    )
        for i, parts in per_layer.items():
            layers[i].load_adapter(agent, parts)

    def base_state_dict(self) -> dict[str, Tensor]:
        """Every tensor except adapters: what the shared policy checkpoint and hash cover."""
        return {k: v for k, v in self.state_dict().items() if not _is_adapter_key(k)}

    def load_base_state_dict(self, state: dict[str, Tensor]) -> None:
        """Load a base (e.g. a trained ``shared`` actor) without touching the adapters."""
        expected = set(self.base_state_dict())
        if set(state) != expected:
            missing, extra = sorted(expected - set(state)), sorted(set(state) - expected)
            raise ValueError(f"base keys do not match: missing {missing}, unexpected {extra}")
        self.load_state_dict(state, strict=False)

    def merged_weights(self, agent: int) -> list[tuple[Tensor, Tensor]]:
        """Plain ``(W[out, in], b[out])`` per layer reproducing station ``agent``'s policy on raw
        observations (adapters merged in, a station id one-hot folded into the first bias).
        Used with :func:`mlp_logits` for cheap single-station inference."""
        if not 0 <= agent < self.config.n_agents:
            raise ValueError(f"agent must lie in [0, {self.config.n_agents}), got {agent}")
        out: list[tuple[Tensor, Tensor]] = []
        with torch.no_grad():
            for layer in self.layers:
                if isinstance(layer, MultiAgentLinear):
                    w, b = layer.weight[agent].clone(), layer.bias[agent].clone()
                else:
                    w, b = layer.merged_weight(agent), layer.bias.detach().clone()
                out.append((w, b))
            c = self.config
            if c.sees_id:
                w0, b0 = out[0]
                out[0] = (
                    w0[:, : c.obs_dim].contiguous(),
                    b0 + w0[:, c.obs_dim + c.id_column(agent)],
                )
        return out


def mlp_logits(
    weights: Sequence[tuple[Tensor, Tensor]], obs: Tensor, action_mask: Tensor | None = None
) -> Tensor:
    """Run an actor from :meth:`Actor.merged_weights`: tanh hidden layers, masked logits."""
    x = obs
    for w, b in weights[:-1]:
        x = torch.tanh(F.linear(x, w, b))
    w, b = weights[-1]
    return _apply_mask(F.linear(x, w, b), action_mask)


def _apply_mask(logits: Tensor, action_mask: Tensor | None) -> Tensor:
    if action_mask is None:
        return logits
    if action_mask.shape != logits.shape:
        raise ValueError(
            f"action_mask must have shape {tuple(logits.shape)}, got {tuple(action_mask.shape)}"
        )
    return logits.masked_fill(~action_mask.bool(), MASK_VALUE)


class Critic(nn.Module):
    """Centralised value ``V(global_state, station)`` (MAPPO): one network for all stations,
    told which station it is valuing by a one-hot id, trained on the global state."""

    def __init__(self, state_dim: int, n_agents: int, hidden: Sequence[int]) -> None:
        super().__init__()
        self.state_dim, self.n_agents = state_dim, n_agents
        self.net = value_mlp(state_dim + n_agents, hidden)

    def forward(self, state: Tensor, agent_idx: Tensor) -> Tensor:
        """``state[B, state_dim]``, ``agent_idx[B]`` -> ``value[B]``."""
        one_hot = F.one_hot(agent_idx, self.n_agents).to(state.dtype)
        return self.net(torch.cat([state, one_hot], dim=-1)).squeeze(-1)


def value_mlp(d_in: int, hidden: Sequence[int]) -> nn.Sequential:
    """A critic's network: orthogonal tanh layers and a linear value head (every critic's)."""
    dims = [d_in, *hidden]
    layers: list[nn.Module] = []
    for a, b in zip(dims[:-1], dims[1:], strict=True):
        layers += [_ortho_linear(a, b, _HIDDEN_GAIN), nn.Tanh()]
    layers.append(_ortho_linear(dims[-1], 1, 1.0))
    return nn.Sequential(*layers)


def _ortho_linear(d_in: int, d_out: int, gain: float) -> nn.Linear:
    layer = nn.Linear(d_in, d_out)
    nn.init.orthogonal_(layer.weight, gain=gain)
    nn.init.zeros_(layer.bias)
    return layer


def base_hash(actor: Actor) -> str:
    """SHA-256 (hex) of the actor's base tensors in sorted key order.

    Covers names, dtypes, shapes and raw bytes but not adapters, so an adapter store can refuse
    an adapter trained on a different base while adapters themselves can change freely.
    """
    digest = hashlib.sha256()
    for key, tensor in sorted(actor.base_state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{key}|{t.dtype}|{tuple(t.shape)}|".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()
