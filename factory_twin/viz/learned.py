"""A learned policy driving a live line for the viewer, computed ahead in a worker thread.

Why a worker: a decision costs a policy forward pass, and a line makes hundreds of decisions
per simulated hour, so running them inside the render loop made the window stutter and miss
its speed. Here a background thread runs the environment (the only seam between simulator
and learning) and captures a snapshot every `grid` simulated minutes from inside the
simulation, so a capture shows the line exactly at that time even when no decision falls on
it. The render loop only picks up finished captures.

Captures come from `LineEnv.call_every`, which wakes at multiples of `grid`; it draws no
random numbers and adds only its own events, so the run is the one evaluation would make
(checked by the tests). Decisions are greedy as in evaluation, with every station's merged weights
stacked into one batched matrix product (see `StackedPolicy`); the probabilities of a
station's last decision ride along on its snapshot for the detail panel.
"""

from __future__ import annotations

import math
import threading
from collections import deque

import numpy as np
import torch

from factory_twin.env import LineEnv
from factory_twin.policy.networks import MASK_VALUE, Actor
from factory_twin.scenario import Scenario
from factory_twin.sim.snapshot import LineSnap
from factory_twin.viz.drivers import snapshot_extra

CAPTURE_MINUTES = 0.5  # a power of two, so multiples of it are exact in floating point
AHEAD_MINUTES = 240.0  # how far the worker may run ahead of what is shown
_DECISIONS_PER_LOCK = 8
_JOIN_SECONDS = 5.0


class StackedPolicy:
    """Every station's policy as plain stacked weights ([N, out, in] per layer): one batched
    matmul per layer for all stations at once, adapters merged in (no LoRA path per call)."""

    def __init__(self, actor: Actor) -> None:
        per_agent = [actor.merged_weights(i) for i in range(actor.config.n_agents)]
        self.layers = [
            (
                torch.stack([w[k][0] for w in per_agent]).transpose(1, 2).contiguous(),
                torch.stack([w[k][1] for w in per_agent]).unsqueeze(1),
            )
            for k in range(len(per_agent[0]))
        ]

    @torch.inference_mode()
    def decide(self, obs: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """obs [N, D], mask [N, A] -> (greedy actions [N], probabilities [N, A])."""
        x = torch.from_numpy(obs).unsqueeze(1)
        for w, b in self.layers[:-1]:
            x = torch.tanh(torch.baddbmm(b, x, w))
        w, b = self.layers[-1]
        logits = torch.baddbmm(b, x, w).squeeze(1)
        logits = logits.masked_fill(~torch.from_numpy(mask).bool(), MASK_VALUE)
        return logits.argmax(-1).numpy(), torch.softmax(logits, -1).numpy()


class LearnedDriver:
    """Driver protocol (see viz.drivers) over a LineEnv and an actor, precomputed ahead.

    `start`: the first capture (e.g. the end of the warm-up); the worker simulates up to it
    without capturing. The thread starts on first use; `close` stops it at once.
    """

    grid = CAPTURE_MINUTES

    def __init__(
        self,
        scenario: Scenario,
        actor: Actor,
        seed: int = 0,
        label: str = "",
        start: float = 0.0,
        ahead: float = AHEAD_MINUTES,
    ) -> None:
        h = scenario.horizon
        self.env = LineEnv(scenario, h.length, warmup=h.warmup)
        self.policy = StackedPolicy(actor)
        self.label = label or f"{scenario.name} · learned · seed {seed}"
        self.seed = seed
        self.ahead = ahead
        self._extra = snapshot_extra(scenario, self.label, seed)
        obs, mask, acting = self.env.reset_arrays(seed)
        self._obs, self._mask, self._acting = obs.copy(), mask.copy(), acting.copy()
        self._probs: list[list[float] | None] = [None] * self.env.n_agents
        self._sim_done = False
        self._current = self._capture()  # what is shown until the first capture is picked up
        self._queue: deque[LineSnap] = deque()
        self._shown = self._published = self._current.time
        self._cond = threading.Condition()
        self._stop = False
        self._finished = False
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name=f"viz {self.label}", daemon=True)
        first = math.ceil(max(start, 0.0) / self.grid - 1e-9) * self.grid
        self.env.call_every(self.grid, first, self._tick)

    # --- worker side ---------------------------------------------------------------------
    def _capture(self) -> LineSnap:
        snap = self.env.snapshot()
        for st, probs in zip(snap.stations, self._probs, strict=True):
            st.action_probs = probs
        snap.extra = dict(self._extra)
        return snap

    def _tick(self) -> None:
        """Called from inside the simulation at every multiple of `grid` (see __init__)."""
        self._publish(self._capture())

    def _publish(self, snap: LineSnap) -> None:
        with self._cond:
            self._published = snap.time
            self._queue.append(snap)
            self._cond.notify_all()

    def _decide_once(self) -> None:
        actions, probs = self.policy.decide(self._obs, self._mask)
        for i in np.flatnonzero(self._acting):
            self._probs[i] = [round(float(p), 4) for p in probs[i]]
        obs, mask, acting, _, done = self.env.step_arrays(actions)
        self._obs[:], self._mask[:], self._acting[:] = obs, mask, acting
        self._sim_done = done

    def _work(self) -> None:
        try:
            while not self._sim_done:
                with self._cond:
                    while not self._stop and self._lead() > self.ahead:
                        self._cond.wait()
                    if self._stop:
                        return
                for _ in range(_DECISIONS_PER_LOCK):
                    if self._sim_done:
                        break
                    self._decide_once()
            if self.env.now > self._published:
                self._publish(self._capture())  # the end of the horizon
        except BaseException as exc:  # handed to the render thread, which raises it
            self._error = exc
        finally:
            with self._cond:
                self._finished = True
                self._cond.notify_all()

    def _lead(self) -> float:
        return self._published - self._shown

    # --- render side ---------------------------------------------------------------------
    def _ensure_started(self) -> None:
        if not self._thread.is_alive() and not self._finished and not self._stop:
            self._thread.start()

    @property
    def time(self) -> float:
        return self._current.time

    @property
    def available(self) -> float:
        self._ensure_started()
        with self._cond:
            return self._queue[-1].time if self._queue else self._current.time

    @property
    def done(self) -> bool:
        with self._cond:
            return self._finished and not self._queue

    def advance(self, minutes: float) -> LineSnap:
        return self.advance_to(self._shown + max(minutes, 0.0))

    def advance_to(self, time: float, wait: bool = True) -> LineSnap:
        self._ensure_started()
        with self._cond:
            while (
                wait
                and not self._finished
                and (not self._queue or self._queue[-1].time < time - 1e-9)
            ):
                self._cond.wait()
            while self._queue and self._queue[0].time <= time + 1e-9:
                self._current = self._queue.popleft()
            self._shown = max(self._shown, time)  # where the viewer is, captured or not
            self._cond.notify_all()
        if self._error is not None:
            raise self._error
        return self._current

    def snapshot(self) -> LineSnap:
        return self._current

    def close(self) -> None:
        """Stop the worker and wait for it (at most one small batch of decisions): a thread
        left inside torch while the interpreter exits would abort the process."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout=_JOIN_SECONDS)
