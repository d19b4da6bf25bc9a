"""Multi-agent linear layers: one shared weight plus a stack of per-agent low-rank adapters.

LoRASA (arXiv 2502.05573) trains a shared policy first, then freezes it and trains only a
rank-``r`` update ``B_i A_i`` per agent. Storing the adapters of all agents as stacked tensors
(``lora_A[n_agents, r, in]``, ``lora_B[n_agents, out, r]``) lets one batched matmul serve every
station at once instead of a Python loop over stations or a per-row gather of matrices.

Rows of a batch belong to agents through ``agent_idx``. Rollouts are naturally laid out as
``[n_agents, rows, features]`` so that layout has a dedicated fast path (``forward_grouped``);
arbitrary row orders are handled by :class:`AgentGroups`, which scatters rows into a padded
``[n_agents, max_rows, features]`` block once per batch and gathers the results back. Rows
already sorted by agent in uneven blocks (the trainer's minibatches) skip the padding: a grouped
GEMM (``torch.nn.functional.grouped_mm``) runs each agent's block against its own adapter.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["AgentGroups", "MultiAgentLinear", "MultiAgentLoRALinear"]

# Rows per agent (on average) from which agent-sorted rows take the grouped GEMM. It runs one
# small GEMM per agent block and call, so on fewer rows (a rollout step's acting stations) the
# padded batched path is cheaper; from about this many rows (a training minibatch) the grouped
# GEMM's saved padding and gathers win (measured at width 128, rank 8, 6-32 agents).
SORTED_MIN_ROWS = 32


@functools.lru_cache(maxsize=32)
def _grouped_index(n_agents: int, rows: int, device: torch.device) -> Tensor:
    """``[0]*rows + [1]*rows + ...``: the agent index of an equally grouped batch (cached)."""
    with torch.inference_mode(False):  # a cached inference tensor would be unusable elsewhere
        return torch.arange(n_agents, device=device).repeat_interleave(rows)


@dataclass(frozen=True)
class AgentGroups:
    """How the rows of a flat batch map onto a padded ``[n_agents, rows, ...]`` block.

    Building the plan costs a sort, so a network builds it once per forward and hands it to each
    layer. When the batch is already ``n_agents`` equal consecutive groups (agent 0's rows, then
    agent 1's, ...), ``src``/``slot`` are ``None`` and regrouping is a free ``view``.

    Padding slots point at row 0 instead of holding zeros: every row of a batched matmul is
    independent and ``from_padded`` never reads a padding slot, so their values do not matter,
    and gathering with ``index_select`` is several times faster than scattering into zeros. Their
    gradient is exactly zero, so the duplicated row 0 receives nothing extra in backward.
    """

    n_agents: int
    rows: int  # rows per agent in the padded block (the largest agent count)
    batch: int
    src: Tensor | None  # [n_agents * rows]: flat row feeding each padded slot
    slot: Tensor | None  # [batch]: padded slot holding each flat row
    offs: Tensor | None = None  # [n_agents] int32 block ends, when rows are sorted by agent

    @property
    def is_contiguous(self) -> bool:
        """Rows are already ``n_agents`` equal consecutive groups: regrouping is a view."""
        return self.src is None

    @property
    def is_padding_free(self) -> bool:
        """Every agent has the same number of rows, so the padded block has no filler slots."""
        return self.n_agents * self.rows == self.batch

    @staticmethod
    def from_index(agent_idx: Tensor, n_agents: int) -> AgentGroups:
        """Build the plan for ``agent_idx[B]`` (values in ``[0, n_agents)``)."""
        if agent_idx.dim() != 1:
            raise ValueError(f"agent_idx must have shape [B], got {tuple(agent_idx.shape)}")
        batch = agent_idx.shape[0]
        if batch == 0:
            return AgentGroups(n_agents, 0, 0, None, None)
        if batch % n_agents == 0:  # cheap check for the common rollout layout before sorting
            rows = batch // n_agents
            if torch.equal(agent_idx, _grouped_index(n_agents, rows, agent_idx.device)):
                return AgentGroups(n_agents, rows, batch, None, None)
        counts = torch.bincount(agent_idx, minlength=n_agents)  # raises on negative ids
        if counts.numel() != n_agents:
            raise ValueError(f"agent_idx values must lie in [0, {n_agents})")
        lo, hi = (int(v) for v in counts.aminmax())
        order = torch.argsort(agent_idx, stable=True)
        arange = torch.arange(batch, device=agent_idx.device)
        if lo == hi:
            slot = torch.empty_like(order).scatter_(0, order, arange)
            return AgentGroups(n_agents, hi, batch, order, slot)
        sorted_idx = agent_idx.index_select(0, order)
        starts = torch.cumsum(counts, 0) - counts
        pos = sorted_idx * hi + arange - starts.index_select(0, sorted_idx)
        src = order.new_zeros(n_agents * hi).scatter_(0, pos, order)
        slot = torch.empty_like(order).scatter_(0, order, pos)
        return AgentGroups(n_agents, hi, batch, src, slot)

    @staticmethod
    def from_counts(counts: np.ndarray) -> AgentGroups:
        """The plan for rows already sorted by agent, ``counts[i]`` rows of agent ``i``: no
        sort needed, and built in numpy (a few microseconds instead of a dozen tensor ops),
        which is what the trainer's station-sorted minibatches and acting rows use."""
        counts = np.asarray(counts, dtype=np.int64)
        n_agents, batch = len(counts), int(counts.sum())
        hi = int(counts.max()) if batch else 0
        if batch == 0 or int(counts.min()) == hi:
            return AgentGroups(n_agents, hi, batch, None, None)
        starts = np.cumsum(counts) - counts
        slot = np.repeat(np.arange(n_agents) * hi - starts, counts) + np.arange(batch)
        src = np.zeros(n_agents * hi, np.int64)
        src[slot] = np.arange(batch)
        offs = torch.from_numpy(np.cumsum(counts).astype(np.int32))
        return AgentGroups(n_agents, hi, batch, torch.from_numpy(src), torch.from_numpy(slot), offs)

    def to_padded(self, x: Tensor) -> Tensor:
        """``x[B, d] -> [n_agents, rows, d]`` (padding slots hold arbitrary real rows)."""
        if self.src is not None:
            x = x.index_select(0, self.src)
        return x.reshape(self.n_agents, self.rows, x.shape[-1])

    def from_padded(self, y: Tensor) -> Tensor:
        """``y[n_agents, rows, d] -> [B, d]`` in the original row order."""
        flat = y.reshape(self.n_agents * self.rows, y.shape[-1])
        return flat if self.slot is None else flat.index_select(0, self.slot)


def _as_groups(agent_idx: Tensor | AgentGroups, n_agents: int) -> AgentGroups:
    if isinstance(agent_idx, AgentGroups):
        if agent_idx.n_agents != n_agents:
            raise ValueError(f"plan is for {agent_idx.n_agents} agents, layer has {n_agents}")
        return agent_idx
    return AgentGroups.from_index(agent_idx, n_agents)


def _init_base(weight: Tensor, bias: Tensor, init_gain: float | None) -> None:
    """nn.Linear's default init, or orthogonal with ``init_gain`` and zero bias (CleanRL PPO)."""
    if init_gain is None:
        fan_in = weight.shape[-1]
        nn.init.kaiming_uniform_(weight, a=math.sqrt(5))
        bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        nn.init.uniform_(bias, -bound, bound)
    else:
        nn.init.orthogonal_(weight, gain=init_gain)
        nn.init.zeros_(bias)


def _fits_grouped_mm(x: Tensor, *widths: int) -> bool:
    """Whether torch's CPU ``grouped_mm`` takes these rows: float32 only, and every non-unit
    stride a multiple of 16 bytes, so the row width and the layer's other widths (output,
    rank) must be multiples of 4. Other layers keep the padded path."""
    return (
        x.dtype == torch.float32
        and x.device.type == "cpu"
        and all(w % 4 == 0 for w in (x.shape[-1], *widths))
    )


def _sorted_delta(x: Tensor, lora_A: Tensor, lora_B: Tensor, offs: Tensor) -> tuple[Tensor, Tensor]:
    """``(x_i A_i^T) B_i^T`` for rows sorted by agent in blocks ending at ``offs``, and the
    rank-r activations ``low^T[r, B]`` it went through. The rank-r side is kept as the rows of
    each GEMM (``A_i x_i^T``, not ``x_i A_i^T``): MKL runs a skinny product about twice as fast
    in that layout."""
    low_t = F.grouped_mm(lora_A, x.t(), offs=offs)
    return F.grouped_mm(low_t.t(), lora_B.transpose(1, 2), offs=offs), low_t


class _SortedLoRA(torch.autograd.Function):
    """The LoRA layer on agent-sorted rows with a hand-written backward.

    Autograd through the grouped GEMMs would differentiate them in the slow skinny layout and
    trips on zero-stride gradients; writing the backward out keeps every rank-r product
    rank-rows-first and needs no weight gradient of the shared layer when it is frozen."""

    @staticmethod
    def forward(
        ctx: Any,
        x: Tensor,
        weight: Tensor,
        bias: Tensor,
        lora_A: Tensor,
        lora_B: Tensor,
        offs: Tensor,
        scale: float,
    ) -> Tensor:
        delta, low_t = _sorted_delta(x, lora_A, lora_B, offs)
        ctx.save_for_backward(x, weight, lora_A, lora_B, offs, low_t)
        ctx.scale = scale
        return torch.addmm(bias, x, weight.t()).add_(delta, alpha=scale)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        x, weight, lora_A, lora_B, offs, low_t = ctx.saved_tensors
        need_x, need_w, need_b, need_a, need_bb = ctx.needs_input_grad[:5]
        grad = grad.contiguous()  # a broadcast (zero-stride) gradient breaks grouped_mm
        dx = dw = db = da = dbb = None
        if need_x or need_a:
            grad_b_t = F.grouped_mm(lora_B.transpose(1, 2), grad.t(), offs=offs)  # [r, B]
        if need_x:
            dx = (grad @ weight).add_(
                F.grouped_mm(grad_b_t.t(), lora_A, offs=offs), alpha=ctx.scale
            )
        if need_w:
            dw = grad.t() @ x
        if need_b:
            db = grad.sum(0)
        if need_a:
            da = F.grouped_mm(grad_b_t, x, offs=offs).mul_(ctx.scale)
        if need_bb:
            dbb = F.grouped_mm(low_t, grad, offs=offs).mul_(ctx.scale).transpose(1, 2)
        return dx, dw, db, da, dbb, None, None


class MultiAgentLoRALinear(nn.Module):
    """``y = x W^T + b + scale * (x A_i^T) B_i^T`` where ``i`` is the row's agent.

    ``lora_B`` starts at zero so that a freshly attached adapter leaves the shared policy's
    output unchanged; LoRASA fine-tuning then starts exactly from the trained shared policy.
    With ``adapters=False`` (or ``rank=0``) the layer is a plain shared linear layer, which is
    how the parameter-sharing baseline and the output head are built.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        n_agents: int,
        rank: int = 8,
        alpha: float | None = None,
        adapters: bool = True,
        init_gain: float | None = None,
    ) -> None:
        super().__init__()
        if n_agents < 1:
            raise ValueError(f"n_agents must be >= 1, got {n_agents}")
        if rank < 0:
            raise ValueError(f"rank must be >= 0, got {rank}")
        self.in_features, self.out_features, self.n_agents = in_features, out_features, n_agents
        self.rank = rank if adapters else 0
        self.alpha = float(alpha) if alpha is not None else float(self.rank)
        self.scale = self.alpha / self.rank if self.rank > 0 else 0.0
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        self.bias = nn.Parameter(torch.empty(out_features))
        _init_base(self.weight, self.bias, init_gain)
        if self.rank > 0:
            self.lora_A = nn.Parameter(torch.empty(n_agents, self.rank, in_features))
            self.lora_B = nn.Parameter(torch.zeros(n_agents, out_features, self.rank))
            # Same scale as nn.Linear's default: bound 1/sqrt(in) keeps x A^T at unit order.
            bound = 1.0 / math.sqrt(in_features) if in_features > 0 else 0.0
            nn.init.uniform_(self.lora_A, -bound, bound)
        else:
            self.register_parameter("lora_A", None)
            self.register_parameter("lora_B", None)
        self.active = self.rank > 0

    @property
    def has_adapters(self) -> bool:
        return self.rank > 0

    def set_active(self, on: bool) -> None:
        """Switch the adapter path off (the layer computes its shared part only, and autograd
        does not track the adapters) or back on. Only exact while the adapters are zero, as
        in LoRASA's base phase: then it saves their forward and backward for nothing."""
        self.active = on and self.has_adapters
        for p in self.adapter_parameters():
            p.requires_grad_(on)

    def extra_repr(self) -> str:
        return (
            f"in={self.in_features}, out={self.out_features}, n_agents={self.n_agents}, "
            f"rank={self.rank}, scale={self.scale:g}"
        )

    # --- forward ---------------------------------------------------------------------------

    def forward(self, x: Tensor, agent_idx: Tensor | AgentGroups) -> Tensor:
        """``x[B, in]``, ``agent_idx[B]`` (or a prebuilt :class:`AgentGroups`) -> ``[B, out]``."""
        if not self.active:
            return torch.addmm(self.bias, x, self.weight.t())
        groups = _as_groups(agent_idx, self.n_agents)
        if groups.batch == 0:
            return torch.addmm(self.bias, x, self.weight.t())
        if groups.is_padding_free:
            return groups.from_padded(self.forward_grouped(groups.to_padded(x)))
        if groups.batch >= SORTED_MIN_ROWS * self.n_agents and groups.offs is not None:
            if _fits_grouped_mm(x, self.out_features, self.rank):
                return self._forward_sorted(x.contiguous(), groups.offs)
        # Uneven counts: the shared part runs on the flat rows and only the rank-r path is
        # regrouped, so padding wastes rank-r work rather than full-width work.
        delta = torch.bmm(groups.to_padded(x), self.lora_A.transpose(1, 2))
        delta = torch.bmm(delta, self.lora_B.transpose(1, 2))
        base = torch.addmm(self.bias, x, self.weight.t())
        return base.add_(groups.from_padded(delta), alpha=self.scale)

    def _forward_sorted(self, x: Tensor, offs: Tensor) -> Tensor:
        """Rows sorted by agent in uneven blocks: no padding, no gathers."""
        params = (self.weight, self.bias, self.lora_A, self.lora_B)
        if torch.is_grad_enabled() and (x.requires_grad or any(p.requires_grad for p in params)):
            return _SortedLoRA.apply(x, *params, offs, self.scale)
        delta, _ = _sorted_delta(x, self.lora_A, self.lora_B, offs)
        return torch.addmm(self.bias, x, self.weight.t()).add_(delta, alpha=self.scale)

    def forward_grouped(self, x: Tensor) -> Tensor:
        """Fast path for rows already grouped per agent: ``x[n_agents, rows, in] -> [.., out]``."""
        n, rows, d_in = x.shape
        if n != self.n_agents:
            raise ValueError(f"expected {self.n_agents} agent groups, got {n}")
        base = torch.addmm(self.bias, x.reshape(n * rows, d_in), self.weight.t())
        base = base.view(n, rows, self.out_features)
        if not self.active:
            return base
        low = torch.bmm(x, self.lora_A.transpose(1, 2))
        # In-place accumulate into the fresh addmm output: one GEMM with beta=1 instead of a
        # separate bmm + add (measured ~2x cheaper for the rank-r half at width 128).
        return base.baddbmm_(low, self.lora_B.transpose(1, 2), alpha=self.scale)

    # --- parameter groups ------------------------------------------------------------------

    def base_parameters(self) -> list[nn.Parameter]:
        return [self.weight, self.bias]

    def adapter_parameters(self) -> list[nn.Parameter]:
        return [self.lora_A, self.lora_B] if self.has_adapters else []

    def freeze_base(self) -> None:
        """Stop gradients into the shared weights (LoRASA phase 2)."""
        for p in self.base_parameters():
            p.requires_grad_(False)

    def parameter_counts(self) -> dict[str, int]:
        per_agent = self.rank * (self.in_features + self.out_features)
        return {
            "base": self.out_features * self.in_features + self.out_features,
            "adapter_total": per_agent * self.n_agents,
            "adapter_per_agent": per_agent,
        }

    # --- per-agent views -------------------------------------------------------------------

    def _check_agent(self, agent: int) -> None:
        if not 0 <= agent < self.n_agents:
            raise ValueError(f"agent must lie in [0, {self.n_agents}), got {agent}")

    def merged_weight(self, agent: int) -> Tensor:
        """``W + scale * B_i A_i``: a plain weight that reproduces agent ``i``'s layer."""
        self._check_agent(agent)
        w = self.weight.detach()
        if not self.has_adapters:
            return w.clone()
        return torch.addmm(
            w, self.lora_B[agent].detach(), self.lora_A[agent].detach(), alpha=self.scale
        )

    def merged_weights(self) -> Tensor:
        """All agents' merged weights stacked ``[n_agents, out, in]`` (for batched inference)."""
        w = self.weight.detach().expand(self.n_agents, -1, -1)
        if not self.has_adapters:
            return w.clone()
        return torch.baddbmm(w, self.lora_B.detach(), self.lora_A.detach(), alpha=self.scale)

    def export_adapter(self, agent: int) -> dict[str, Tensor]:
        """Agent's adapter as detached contiguous copies ``{"A": [r, in], "B": [out, r]}``."""
        self._check_agent(agent)
        if not self.has_adapters:
            raise ValueError("this layer has no adapters")
        return {
            "A": self.lora_A[agent].detach().clone().contiguous(),
            "B": self.lora_B[agent].detach().clone().contiguous(),
        }

    def load_adapter(self, agent: int, tensors: dict[str, Tensor]) -> None:
        """Copy ``{"A", "B"}`` into agent ``i``'s slot after checking keys and shapes."""
        self._check_agent(agent)
        if not self.has_adapters:
            raise ValueError("this layer has no adapters")
        expected = {
            "A": (self.rank, self.in_features),
            "B": (self.out_features, self.rank),
        }
        if set(tensors) != set(expected):
            raise ValueError(f"adapter keys must be {sorted(expected)}, got {sorted(tensors)}")
        for key, shape in expected.items():
            if tuple(tensors[key].shape) != shape:
                raise ValueError(
                    f"adapter {key} must have shape {shape}, got {tuple(tensors[key].shape)}"
                )
        with torch.no_grad():
            self.lora_A[agent].copy_(tensors["A"])
            self.lora_B[agent].copy_(tensors["B"])


class MultiAgentLinear(nn.Module):
    """Fully separate per-agent linear layers stacked as ``weight[n_agents, out, in]``.

    Used by the no-parameter-sharing (NPS) baseline; the stacked layout runs every agent in one
    ``baddbmm`` rather than ``n_agents`` separate modules.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        n_agents: int,
        init_gain: float | None = None,
    ) -> None:
        super().__init__()
        if n_agents < 1:
            raise ValueError(f"n_agents must be >= 1, got {n_agents}")
        self.in_features, self.out_features, self.n_agents = in_features, out_features, n_agents
        self.weight = nn.Parameter(torch.empty(n_agents, out_features, in_features))
        self.bias = nn.Parameter(torch.empty(n_agents, out_features))
        for i in range(n_agents):  # each agent initialised like its own nn.Linear
            _init_base(self.weight.data[i], self.bias.data[i], init_gain)

    def extra_repr(self) -> str:
        return f"in={self.in_features}, out={self.out_features}, n_agents={self.n_agents}"

    def forward(self, x: Tensor, agent_idx: Tensor | AgentGroups) -> Tensor:
        """``x[B, in]``, ``agent_idx[B]`` (or a prebuilt :class:`AgentGroups`) -> ``[B, out]``."""
        groups = _as_groups(agent_idx, self.n_agents)
        if groups.batch == 0:
            return x.new_zeros(0, self.out_features)
        return groups.from_padded(self.forward_grouped(groups.to_padded(x)))

    def forward_grouped(self, x: Tensor) -> Tensor:
        """``x[n_agents, rows, in] -> [n_agents, rows, out]`` in one batched matmul."""
        if x.shape[0] != self.n_agents:
            raise ValueError(f"expected {self.n_agents} agent groups, got {x.shape[0]}")
        return torch.baddbmm(self.bias.unsqueeze(1), x, self.weight.transpose(1, 2))

    def parameter_counts(self) -> dict[str, int]:
        per_agent = self.out_features * self.in_features + self.out_features
        return {"base": 0, "per_agent": per_agent, "total": per_agent * self.n_agents}
