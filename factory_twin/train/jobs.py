"""Training and evaluation as jobs: pure functions of their arguments that return results.

Jobs run wherever the executor puts them (this process, a local pool, a Ray task); they never
touch the log or the store. A training job returns the trained weights, every training
episode's KPIs and a learning curve; the driver stores and logs them. Because each job draws
only from the seeds it is given, the same job gives bit-identical results on any backend.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from factory_twin.policy.networks import Actor
from factory_twin.scenario import Scenario
from factory_twin.sim.kpi import KPIs
from factory_twin.store.curves import UpdatePoint
from factory_twin.store.runlog import episode_kpis
from factory_twin.train.config import TrainConfig
from factory_twin.train.evaluate import (
    curve_every,
    curve_throughput,
    evaluate_actor,
    evaluate_heuristic,
)
from factory_twin.train.mappo import MAPPO, Progress
from factory_twin.train.pipeline import Trained, build_policy, full_config


@dataclass
class TrainResult:
    """What a training job hands back to the driver: state dicts (plain tensors travel
    between processes), the stored config (`pipeline.full_config`), every training episode as
    a log row (index, seed, minutes, KPI columns) and the learning curve."""

    cfg: TrainConfig
    config: dict = field(default_factory=dict)
    actor: dict[str, torch.Tensor] = field(default_factory=dict)
    critic: dict[str, torch.Tensor] = field(default_factory=dict)
    episodes: list[tuple[int, int, float, dict]] = field(default_factory=list)
    curve: list[UpdatePoint] = field(default_factory=list)  # greedy throughput: NaN between
    evaluation: list[KPIs] = field(default_factory=list)  # greedy, on the job's eval seeds

    def trained(self, run_id: int | None) -> Trained:
        """The policy rebuilt from the returned weights (in the driver)."""
        actor, critic = build_policy(self.config)
        actor.load_state_dict(self.actor)
        critic.load_state_dict(self.critic)
        return Trained(self.cfg.method, actor, critic, run_id, self.config)


def train_job(scenario: Scenario, cfg: TrainConfig, eval_seeds: Sequence[int] = ()) -> TrainResult:
    """Train one method under one seed, then evaluate it on `eval_seeds`; no I/O."""
    trainer = MAPPO(scenario, cfg)
    result = TrainResult(cfg)
    every = curve_every(cfg.total_steps)
    next_eval = every

    def on_episode(env, episode_return: float) -> None:
        kpis = episode_kpis(env.kpis(), episode_return)
        result.episodes.append((len(result.episodes), env.last_seed, env.now, kpis))

    def on_progress(p: Progress) -> None:
        nonlocal next_eval
        throughput = math.nan
        if p.steps >= next_eval or p.steps >= cfg.total_steps:
            # the plateau switch has just evaluated these weights: no second evaluation
            known = not math.isnan(p.greedy_throughput)
            throughput = p.greedy_throughput if known else curve_throughput(scenario, trainer.actor)
            next_eval += every
        point = UpdatePoint(p.update, p.steps, p.phase, p.mean_return, dict(p.losses), throughput)
        result.curve.append(point)

    trainer.on_episode = on_episode
    trainer.train(on_progress)
    result.config = full_config(trainer)
    result.actor = trainer.actor.state_dict()  # detached already; the trainer ends here
    result.critic = trainer.critic.state_dict()
    if eval_seeds:
        result.evaluation = evaluate_actor(scenario, trainer.actor, list(eval_seeds))
    return result


def evaluate_job(scenario: Scenario, policy: str | Actor, seeds: list[int]) -> list[KPIs]:
    """KPIs of `seeds` under a heuristic (by name) or an actor."""
    if isinstance(policy, str):
        return evaluate_heuristic(scenario, policy, seeds)
    return evaluate_actor(scenario, policy, seeds)
