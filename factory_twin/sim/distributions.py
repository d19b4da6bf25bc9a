"""Seeded samplers built from the scenario's distribution specs.

Each sampler owns one numpy Generator (one per station and purpose, see `streams`), so adding a
breakdown to one station never shifts the process times drawn at another. Draws are taken in
blocks because one numpy call per part dominated the simulator's profile; the sequence is the
same whatever the block size, so results stay reproducible.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np

from factory_twin.scenario import (
    Deterministic,
    Distribution,
    Erlang,
    Exponential,
    Gamma,
    LogNormal,
    Normal,
    Uniform,
    Weibull,
)

BLOCK = 256


def _block_drawer(spec: Distribution, rng: np.random.Generator):
    """Return a function n -> array of n draws for the spec."""
    if isinstance(spec, Exponential):
        return lambda n: rng.exponential(spec.mean, n)
    if isinstance(spec, Uniform):
        return lambda n: rng.uniform(spec.low, spec.high, n)
    if isinstance(spec, Normal):
        return lambda n: np.maximum(rng.normal(spec.mu, spec.sd, n), 0.0)
    if isinstance(spec, LogNormal):
        if spec.cv == 0:
            return lambda n: np.full(n, spec.mean)
        sigma2 = math.log1p(spec.cv**2)
        mu = math.log(spec.mean) - sigma2 / 2
        return lambda n: rng.lognormal(mu, math.sqrt(sigma2), n)
    if isinstance(spec, Gamma):
        shape = 1.0 / spec.cv**2
        return lambda n: rng.gamma(shape, spec.mean / shape, n)
    if isinstance(spec, Erlang):
        return lambda n: rng.gamma(spec.k, spec.mean / spec.k, n)
    if isinstance(spec, Weibull):
        return lambda n: spec.scale * rng.weibull(spec.shape, n)
    raise TypeError(f"no sampler for {type(spec).__name__}")


class Sampler:
    """Draws from one distribution spec; deterministic specs cost no random numbers. `mean` is
    the spec's `mean`, the mean of what is drawn."""

    __slots__ = ("_draw", "_buf", "_i", "_const", "mean")

    def __init__(self, spec: Distribution, rng: np.random.Generator | None) -> None:
        self.mean = float(spec.mean)
        self._const = spec.value if isinstance(spec, Deterministic) else None
        self._draw = None if self._const is not None else _block_drawer(spec, rng)
        self._buf: list[float] = []
        self._i = 0

    def __call__(self) -> float:
        if self._const is not None:
            return self._const
        if self._i >= len(self._buf):
            self._buf = self._draw(BLOCK).tolist()
            self._i = 0
        x = self._buf[self._i]
        self._i += 1
        return x


def sampler(spec: Distribution, seed: int, *names: str | int) -> Sampler:
    """A Sampler on the stream `streams(seed, *names)`, made only for a random spec: a fixed
    time draws nothing, so giving setups and PM a stream leaves fixed-time runs as they were."""
    rng = None if isinstance(spec, Deterministic) else streams(seed, *names)
    return Sampler(spec, rng)


class Coin:
    """Bernoulli draws (scrap decisions) from its own stream, in blocks like `Sampler`."""

    __slots__ = ("_rng", "_buf", "_i")

    def __init__(self, rng: np.random.Generator) -> None:
        self._rng = rng
        self._buf: list[float] = []
        self._i = 0

    def __call__(self, p: float) -> bool:
        if p <= 0.0:
            return False
        if self._i >= len(self._buf):
            self._buf = self._rng.random(BLOCK).tolist()
            self._i = 0
        u = self._buf[self._i]
        self._i += 1
        return u < p


def streams(seed: int, *names: str | int) -> np.random.Generator:
    """A Generator for one (station, purpose) pair, independent of every other pair.

    Its SeedSequence entropy is the run seed followed by a stable hash of each name (first 8
    bytes of sha256), so a stream depends only on the seed and its names, never on how many
    streams were created before it or in which order.
    """
    key = [int.from_bytes(hashlib.sha256(str(n).encode()).digest()[:8], "little") for n in names]
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, *key])))
