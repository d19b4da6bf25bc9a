"""Dynamic rank: an adapter's update cut down by SVD to the rank it actually needs.

A station's adapter changes each adapted layer's weight by ``delta W = scale * B A`` (``B`` is
``out x r``, ``A`` is ``r x in``). Its singular value decomposition ``B A = U S V^T`` gives, for
every k, the best rank-k approximation of that update in the Frobenius and spectral norms
(Eckart-Young): ``B_k A_k`` with ``B_k = U_k sqrt(S_k)`` and ``A_k = sqrt(S_k) V_k^T``. The
square root is split between the two factors so neither carries all the scale. Rank 0 is no
update at all: the station runs the shared base there.

Stored truncated adapters keep their own rank (fewer parameters on disk); `padded` fills one
back up with zero rows/columns to the rank of the policy's stacked adapter slots, which
leaves ``B A`` exactly as it was.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["adapter_tensor_rank", "padded", "singular_values", "truncated"]


def _layers(tensors: dict[str, Tensor]) -> list[str]:
    """The layer prefixes of an exported adapter (``layers.<i>`` of ``layers.<i>.A``/``.B``)."""
    return sorted({key.rsplit(".", 1)[0] for key in tensors})


def adapter_tensor_rank(tensors: dict[str, Tensor]) -> int:
    """The rank of an exported adapter (rows of its ``A`` factors, the same in every layer)."""
    ranks = {int(tensors[f"{layer}.A"].shape[0]) for layer in _layers(tensors)}
    if len(ranks) != 1:
        raise ValueError(f"adapter layers have different ranks {sorted(ranks)}")
    return ranks.pop()


def _factors(b: Tensor, a: Tensor, rank: int) -> tuple[Tensor, Tensor]:
    """``(B_k, A_k)`` with ``B_k A_k`` the best rank-`rank` approximation of ``B A``."""
    u, s, vh = torch.linalg.svd((b.double() @ a.double()), full_matrices=False)
    root = s[:rank].sqrt()
    b_k = (u[:, :rank] * root).to(b.dtype).contiguous()
    a_k = (root[:, None] * vh[:rank]).to(a.dtype).contiguous()
    return b_k, a_k


def truncated(tensors: dict[str, Tensor], rank: int) -> dict[str, Tensor]:
    """An exported adapter (``{"layers.<i>.A", "layers.<i>.B"}``) cut to `rank` in every layer
    by SVD of each layer's ``B A``; `rank` at most the adapter's own."""
    have = adapter_tensor_rank(tensors)
    if not 0 <= rank <= have:
        raise ValueError(f"rank must lie in [0, {have}], got {rank}")
    out: dict[str, Tensor] = {}
    for layer in _layers(tensors):
        b_k, a_k = _factors(tensors[f"{layer}.B"], tensors[f"{layer}.A"], rank)
        out[f"{layer}.A"], out[f"{layer}.B"] = a_k, b_k
    return out


def singular_values(tensors: dict[str, Tensor]) -> dict[str, list[float]]:
    """Each layer's singular values of ``B A``, largest first (what truncation throws away):
    as many as the adapter's rank, the rank of ``B A`` at most (the rest are rounding)."""
    out = {}
    for layer in _layers(tensors):
        a, b = tensors[f"{layer}.A"].double(), tensors[f"{layer}.B"].double()
        out[layer] = torch.linalg.svdvals(b @ a)[: a.shape[0]].tolist()
    return out


def padded(tensors: dict[str, Tensor], rank: int) -> dict[str, Tensor]:
    """An adapter of rank r <= `rank` widened with zeros to `rank` (``B A`` unchanged)."""
    have = adapter_tensor_rank(tensors)
    if have > rank:
        raise ValueError(f"adapter has rank {have}; the policy's slots hold at most {rank}")
    if have == rank:
        return tensors
    out: dict[str, Tensor] = {}
    for layer in _layers(tensors):
        a, b = tensors[f"{layer}.A"], tensors[f"{layer}.B"]
        out[f"{layer}.A"] = torch.cat([a, a.new_zeros(rank - have, a.shape[1])], dim=0)
        out[f"{layer}.B"] = torch.cat([b, b.new_zeros(b.shape[0], rank - have)], dim=1)
    return out
