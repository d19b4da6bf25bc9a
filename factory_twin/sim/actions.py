"""The action codes a station's policy answers with, shared by heuristics, the simulator and the
environment so a learned policy's integer goes straight into the simulator.

Layout for P products: 0 = wait, 1 + 2k = product k at normal speed, 2 + 2k = product k fast,
1 + 2P = preventive maintenance.
"""

from __future__ import annotations

WAIT = 0
RECHECK = -1  # internal: the request went stale (another machine took the part); look again


def n_actions(n_products: int) -> int:
    return 2 + 2 * n_products


def process(product: int, fast: bool = False) -> int:
    return 1 + 2 * product + int(fast)


def pm(n_products: int) -> int:
    return 1 + 2 * n_products


def decode(action: int, n_products: int) -> tuple[str, int, bool]:
    """Return (kind, product, fast) with kind in {'wait', 'process', 'pm'}."""
    if action == WAIT:
        return "wait", -1, False
    if action == pm(n_products):
        return "pm", -1, False
    if 1 <= action < pm(n_products):
        return "process", (action - 1) // 2, (action - 1) % 2 == 1
    raise ValueError(f"action {action} outside 0..{pm(n_products)}")


def describe(action: int, products: list[str]) -> str:
    kind, k, fast = decode(action, len(products))
    if kind == "process":
        return f"{products[k]} ({'fast' if fast else 'normal'})"
    return kind
