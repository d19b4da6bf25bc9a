"""A learned policy driving a live line for the viewer, with its action probabilities.

Goes through the environment (the only seam between simulator and learning): each decision
is taken with one batched forward pass, greedy as in evaluation, and the probabilities the
policy gave each action at a station's last decision are attached to that station's
snapshot so the detail panel can show what the policy was weighing.
"""

from __future__ import annotations

import numpy as np
import torch

from factory_twin.env import LineEnv
from factory_twin.policy.acting import act
from factory_twin.policy.networks import Actor
from factory_twin.scenario import Scenario
from factory_twin.sim.snapshot import LineSnap


class LearnedDriver:
    """Driver protocol (see viz.drivers) over a LineEnv and an actor."""

    def __init__(self, scenario: Scenario, actor: Actor, seed: int = 0, label: str = "") -> None:
        h = scenario.horizon
        self.env = LineEnv(scenario, h.length, warmup=h.warmup)
        self.actor = actor
        self.label = label or f"{scenario.name} · learned · seed {seed}"
        self.seed = seed
        self._extra = {
            "warmup": h.warmup,
            "end": h.warmup + h.length,
            "policy": self.label,
            "seed": seed,
            "scenario": scenario.name,
        }
        obs, mask, acting = self.env.reset_arrays(seed)
        self._obs, self._mask, self._acting = obs.copy(), mask.copy(), acting.copy()
        self._probs: list[list[float] | None] = [None] * self.env.n_agents
        self._done = False

    @property
    def time(self) -> float:
        return float(self.env.now)

    @property
    def done(self) -> bool:
        return self._done

    @torch.inference_mode()
    def _decide_once(self) -> None:
        choice = act(self.actor, self._obs[None], self._mask[None], greedy=True)
        for i in np.flatnonzero(self._acting):
            self._probs[i] = [round(float(p), 4) for p in choice.probs[0, i]]
        obs, mask, acting, _, done = self.env.step_arrays(choice.actions[0].numpy())
        self._obs[:], self._mask[:], self._acting[:] = obs, mask, acting
        self._done = done

    def advance(self, minutes: float) -> LineSnap:
        target = self.env.now + max(minutes, 0.0)
        while not self._done and self.env.now < target:
            self._decide_once()
        return self.snapshot()

    def snapshot(self) -> LineSnap:
        snap = self.env.snapshot()
        for st, probs in zip(snap.stations, self._probs, strict=True):
            st.action_probs = probs
        snap.extra = dict(self._extra)
        return snap
