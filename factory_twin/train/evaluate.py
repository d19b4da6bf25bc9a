"""Evaluation on held-out seeds: learned actors and heuristics measured the same way.

A learned policy runs the scenario's full horizon (warm-up + measured length) through the
environment, a heuristic through the plain simulator; both use the same line seeds, so they see
the same breakdowns and process times where their decisions agree (common random numbers).
"""

from __future__ import annotations

import numpy as np
import torch

from factory_twin.env import LineEnv
from factory_twin.policy.acting import act_acting
from factory_twin.policy.networks import Actor
from factory_twin.policy.registry import heuristic
from factory_twin.scenario import Scenario
from factory_twin.sim.kpi import KPIs
from factory_twin.sim.run import simulate


@torch.inference_mode()
def evaluate_actor(
    scenario: Scenario, actor: Actor, seeds: list[int], greedy: bool = True
) -> list[KPIs]:
    """Run one full-horizon episode per seed, all seeds batched through the actor.

    Greedy by default: the entropy bonus leaves a little probability on fast mode at
    stations where it scraps parts, and acting on the most likely action did better than
    sampling in most runs at the default budget (by 0.01-0.04 parts/min; on engine sampling
    sometimes won). `greedy=False` samples from a
    generator seeded by the first seed, so it is reproducible too."""
    h = scenario.horizon
    envs = [LineEnv(scenario, h.length, warmup=h.warmup) for _ in seeds]
    N, D, A = envs[0].n_agents, envs[0].obs_dim, envs[0].n_actions
    obs = np.zeros((len(envs), N, D), np.float32)
    mask = np.zeros((len(envs), N, A), bool)
    acting = np.zeros((len(envs), N), bool)
    for e, (env, seed) in enumerate(zip(envs, seeds, strict=True)):
        obs[e], mask[e], acting[e] = env.reset_arrays(seed)
    gen = torch.Generator().manual_seed(seeds[0])
    results: dict[int, KPIs] = {}
    live = list(range(len(envs)))
    while live:
        actions, _ = act_acting(
            actor, obs[live], mask[live], acting[live], greedy=greedy, generator=gen
        )
        still = []
        for row, e in enumerate(live):
            o, m, a, _, done = envs[e].step_arrays(actions[row])
            if done:
                results[e] = envs[e].kpis()
            else:
                obs[e], mask[e], acting[e] = o, m, a
                still.append(e)
        live = still
    return [results[e] for e in range(len(envs))]


def evaluate_heuristic(scenario: Scenario, name: str, seeds: list[int]) -> list[KPIs]:
    sc, decider = heuristic(name, scenario)
    return [simulate(sc, s, decider) for s in seeds]


CURVE_SEEDS = (999_000_000, 999_000_001)  # greedy evaluation along the learning curve
CURVE_POINTS = 10  # greedy evaluations per training run (plus one at the end)
# measured minutes of each curve evaluation (after the scenario's warm-up): with the full
# horizon (4800 min on the shipped lines) the curve cost more env steps than the training
CURVE_MINUTES = 960.0


def curve_every(total_steps: int) -> int:
    """Env steps between two greedy evaluations of a learning curve."""
    return max(total_steps // CURVE_POINTS, 1)


def curve_throughput(scenario: Scenario, actor: Actor) -> float:
    """Greedy good parts/min on the curve seeds, over the scenario's warm-up and then
    `CURVE_MINUTES` (or its horizon, if shorter)."""
    h = scenario.horizon
    short = scenario.model_copy(
        update={"horizon": h.model_copy(update={"length": min(h.length, CURVE_MINUTES)})}
    )
    return float(np.mean([k.throughput for k in evaluate_actor(short, actor, CURVE_SEEDS)]))
