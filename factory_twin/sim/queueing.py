"""Exact queueing results the simulator is validated against (tests/test_sim_validation.py):
M/M/c and M/M/1 queues, a Jackson tandem line, and a saturated two-machine line with a finite
buffer and exponential times."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class QueueResult:
    L: float  # mean number in system
    W: float  # mean time in system
    Lq: float  # mean number waiting
    Wq: float  # mean waiting time


def mmc(lam: float, mu: float, c: int = 1) -> QueueResult:
    """M/M/c queue (Erlang C). Requires lam < c * mu."""
    rho = lam / (c * mu)
    if rho >= 1:
        raise ValueError(f"unstable queue: utilisation {rho:.3f} >= 1")
    a = lam / mu
    head = sum(a**k / math.factorial(k) for k in range(c))
    tail = a**c / (math.factorial(c) * (1 - rho))
    p_wait = tail / (head + tail)
    wq = p_wait / (c * mu - lam)
    w = wq + 1 / mu
    return QueueResult(L=lam * w, W=w, Lq=lam * wq, Wq=wq)


def mm1(lam: float, mu: float) -> QueueResult:
    return mmc(lam, mu, 1)


def jackson_tandem(lam: float, stations: list[tuple[float, int]]) -> QueueResult:
    """Tandem of M/M/c stations with infinite buffers and Poisson(lam) arrivals: by Jackson's
    theorem each station behaves as an independent M/M/c, so the means add up."""
    parts = [mmc(lam, mu, c) for mu, c in stations]
    return QueueResult(
        L=sum(p.L for p in parts),
        W=sum(p.W for p in parts),
        Lq=sum(p.Lq for p in parts),
        Wq=sum(p.Wq for p in parts),
    )


def two_machine_exponential(mu1: float, mu2: float, buffer: int) -> float:
    """Throughput of a saturated two-machine line, exponential times, `buffer` places between
    them, blocking after service.

    The parts between the machines (in the buffer, on machine 2, and one blocked on machine 1)
    form a birth-death chain on 0..N with N = buffer + 2, births mu1, deaths mu2.
    """
    n = buffer + 2
    if math.isclose(mu1, mu2):
        return mu2 * n / (n + 1)
    rho = mu1 / mu2
    return mu2 * (rho - rho ** (n + 1)) / (1 - rho ** (n + 1))
