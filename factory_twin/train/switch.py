"""When LoRASA's shared base is competent enough to freeze: the plateau rule.

Why a rule and not one fixed share of the budget: the methods table showed that no share
serves every line. On glass_line, where stations need opposite actions, plain sharing settles
on its compromise within the first tenth of the budget and an early switch left the adapters
the most room (48.3 parts/h at 10%, 46.7 at 50%); on bottling the shared policy was still
learning to batch and push the filler at 10%, and freezing it there cost a third of the
throughput (39.6 against 54.2 at 50%). The paper's advice is to switch once the shared policy
is competent; the greedy learning curve says when it has stopped getting better.
"""

from __future__ import annotations

from collections.abc import Sequence

PLATEAU_RISE = 0.02  # a curve point at most 2% above the best before it is not progress


def plateaued(curve: Sequence[float], rise: float = PLATEAU_RISE) -> bool:
    """True when the latest greedy throughput is no more than `rise` (relative) above the
    best point before it; at least two points are needed (the first is only a start)."""
    if len(curve) < 2:
        return False
    best = max(curve[:-1])
    return curve[-1] <= best * (1.0 + rise)
