"""A station's input buffer and the parts that wait in it: per-product FIFO queues with a
capacity and one-shot events for whoever waits for items or for space."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import simpy


@dataclass(slots=True)
class Part:
    id: int
    product: int
    released: float
    arrived: float = 0.0  # when it entered the current buffer (FIFO order across products)


class Buffer:
    """A station's input buffer: one FIFO queue per product, a capacity, and one-shot events
    that wake whoever waits for items or for space. Every add and take raises the station's
    flag in `changed` (`Line.buffers_changed`)."""

    def __init__(
        self,
        env: simpy.Environment,
        capacity: int | None,
        n_products: int,
        changed: list[bool],
        index: int,
    ) -> None:
        self.env = env
        self.capacity = math.inf if capacity is None else capacity
        self.queues: list[deque[Part]] = [deque() for _ in range(n_products)]
        self.count = 0
        self._items_ev: simpy.Event | None = None
        self._space_ev: simpy.Event | None = None
        self._changed, self._index = changed, index

    def has_room(self) -> bool:
        return self.count < self.capacity

    def add(self, part: Part) -> None:
        part.arrived = self.env.now
        self.queues[part.product].append(part)
        self.count += 1
        self._changed[self._index] = True
        if self._items_ev is not None:
            ev, self._items_ev = self._items_ev, None
            ev.succeed()

    def take(self, product: int) -> Part:
        part = self.queues[product].popleft()
        self.count -= 1
        self._changed[self._index] = True
        if self._space_ev is not None:
            ev, self._space_ev = self._space_ev, None
            ev.succeed()
        return part

    def oldest_product(self) -> int:
        """Product of the part that has waited longest (FIFO across products)."""
        best, best_t = -1, math.inf
        for k, q in enumerate(self.queues):
            if q and q[0].arrived < best_t:
                best, best_t = k, q[0].arrived
        return best

    def counts(self) -> list[int]:
        return [len(q) for q in self.queues]

    def when_items(self) -> simpy.Event:
        if self._items_ev is None:
            self._items_ev = self.env.event()
        return self._items_ev

    def when_space(self) -> simpy.Event:
        if self._space_ev is None:
            self._space_ev = self.env.event()
        return self._space_ev
