"""MAPPO for production lines: decentralised actors, one centralised critic.

Read top to bottom like CleanRL's ppo.py: config, rollout buffer, collect, advantages, update.
Stations act asynchronously (a station acts when one of its machines asks), so every env step
stores all stations' rows with an `acting` flag: the policy loss and entropy use only acting
rows, the critic learns from every row (the team reward reaches all stations).

The trainer is method-agnostic: `methods.py` decides which actor kind to build and, for LoRASA,
when to freeze the base and hand training to the adapters (`switch_to_adapters`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn

from factory_twin.env import LineEnv
from factory_twin.errors import TrainingError
from factory_twin.policy.acting import act
from factory_twin.policy.networks import Actor, ActorConfig, Critic
from factory_twin.scenario import Scenario


@dataclass
class TrainConfig:
    method: str = "lorasa"  # ps | ps-id | nps | lorasa
    total_steps: int = 200_000  # env steps over all parallel envs (the shared budget)
    n_envs: int = 8
    rollout_len: int = 128  # steps per env per update
    episode_minutes: float = 480.0  # one shift per training episode
    gamma: float = 0.99
    gae_lambda: float = 0.95
    lr: float = 5e-4
    adapter_lr: float = 2e-3  # adapters start at zero and are tiny: a larger step is safe
    update_epochs: int = 4
    minibatches: int = 4
    clip: float = 0.2
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    hidden: tuple[int, ...] = (256, 256)
    rank: int = 8
    alpha: float | None = None
    adapter_layers: str = "all"  # all | deeper
    switch_fraction: float = 0.5  # LoRASA: share of the budget trained as plain PS first
    seed: int = 0
    threads: int = 1

    def to_dict(self) -> dict:
        d = asdict(self)
        d["hidden"] = list(self.hidden)
        return d


ACTOR_KIND = {"ps": "shared", "ps-id": "shared-id", "nps": "separate", "lorasa": "lora"}


class RunningMeanStd:
    """Running mean/variance of value targets (value normalisation as in MAPPO)."""

    def __init__(self) -> None:
        self.mean, self.var, self.count = 0.0, 1.0, 1e-4

    def update(self, x: np.ndarray) -> None:
        m, v, n = float(x.mean()), float(x.var()), x.size
        delta, total = m - self.mean, self.count + n
        self.mean += delta * n / total
        self.var = (self.var * self.count + v * n + delta**2 * self.count * n / total) / total
        self.count = total

    @property
    def std(self) -> float:
        return math.sqrt(self.var) + 1e-8


@dataclass
class Progress:
    steps: int
    update: int
    mean_return: float  # mean undiscounted return of episodes finished since the last report
    phase: str
    losses: dict = field(default_factory=dict)


class MAPPO:
    """Holds the envs, networks and optimiser; `train()` runs the whole budget."""

    def __init__(self, scenario: Scenario, cfg: TrainConfig) -> None:
        torch.set_num_threads(cfg.threads)
        torch.manual_seed(cfg.seed)
        self.scenario, self.cfg = scenario, cfg
        self.envs = [
            LineEnv(scenario, cfg.episode_minutes, seed=cfg.seed * 1000 + e)
            for e in range(cfg.n_envs)
        ]
        env = self.envs[0]
        self.n_agents, self.obs_dim, self.n_actions = env.n_agents, env.obs_dim, env.n_actions
        self.actor = Actor(
            ActorConfig(
                obs_dim=env.obs_dim,
                n_actions=env.n_actions,
                n_agents=env.n_agents,
                hidden=cfg.hidden,
                kind=ACTOR_KIND[cfg.method],
                rank=cfg.rank,
                alpha=cfg.alpha,
                adapter_layers=cfg.adapter_layers,
            )
        )
        self.critic = Critic(env.state_dim, env.n_agents, cfg.hidden)
        self.value_norm = RunningMeanStd()
        self.phase = "base"
        self.optimizer = self._make_optimizer()
        self.rng = np.random.default_rng(cfg.seed)
        self.steps = 0
        self.updates = 0
        self.finished_returns: list[float] = []
        self._ep_return = np.zeros(cfg.n_envs)
        self._agent_idx = torch.arange(self.n_agents)
        self._started = False

    # --- optimiser and phases ------------------------------------------------------------
    def _make_optimizer(self) -> torch.optim.Optimizer:
        """Phase 'base' trains the actor's shared weights (adapters stay at zero: pure PS);
        phase 'adapters' trains only the adapters. The critic trains throughout."""
        cfg = self.cfg
        if self.phase == "adapters":
            actor_params, lr = self.actor.adapter_parameters(), cfg.adapter_lr
        elif cfg.method == "lorasa":
            actor_params, lr = self.actor.base_parameters(), cfg.lr
        else:
            actor_params, lr = list(self.actor.parameters()), cfg.lr
        # plain Adam (no weight decay): adapters of stations absent from a batch stay untouched
        return torch.optim.Adam(
            [
                {"params": actor_params, "lr": lr},
                {"params": self.critic.parameters(), "lr": cfg.lr},
            ],
            eps=1e-5,
        )

    def switch_to_adapters(self) -> None:
        """LoRASA's second phase: freeze the shared base, train only per-station adapters."""
        self.phase = "adapters"
        self.actor.freeze_base()
        self.optimizer = self._make_optimizer()

    # --- acting --------------------------------------------------------------------------
    def _values(self, state: np.ndarray) -> torch.Tensor:
        """state [E, S] -> normalised values [E, N]."""
        E = state.shape[0]
        s = torch.from_numpy(state).repeat_interleave(self.n_agents, 0)
        idx = self._agent_idx.repeat(E)
        return self.critic(s, idx).view(E, self.n_agents)

    # --- rollout -------------------------------------------------------------------------
    def _reset_all(self) -> None:
        E, N = self.cfg.n_envs, self.n_agents
        self.obs = np.zeros((E, N, self.obs_dim), np.float32)
        self.mask = np.zeros((E, N, self.n_actions), bool)
        self.acting = np.zeros((E, N), bool)
        for e, env in enumerate(self.envs):
            o, m, a = env.reset_arrays()
            self.obs[e], self.mask[e], self.acting[e] = o, m, a
        self._started = True

    @torch.inference_mode()
    def collect(self) -> dict[str, np.ndarray]:
        T, E, N = self.cfg.rollout_len, self.cfg.n_envs, self.n_agents
        if not self._started:
            self._reset_all()
        buf = {
            "obs": np.zeros((T, E, N, self.obs_dim), np.float32),
            "mask": np.zeros((T, E, N, self.n_actions), bool),
            "acting": np.zeros((T, E, N), bool),
            "actions": np.zeros((T, E, N), np.int64),
            "logp": np.zeros((T, E, N), np.float32),
            "values": np.zeros((T, E, N), np.float32),
            "rewards": np.zeros((T, E), np.float32),
            "dones": np.zeros((T, E), np.float32),
        }
        for t in range(T):
            buf["obs"][t], buf["mask"][t], buf["acting"][t] = self.obs, self.mask, self.acting
            choice = act(self.actor, self.obs, self.mask)
            buf["actions"][t], buf["logp"][t] = choice.actions.numpy(), choice.logp.numpy()
            buf["values"][t] = self._values(self.obs.reshape(E, -1)).numpy()
            act_np = buf["actions"][t]
            for e, env in enumerate(self.envs):
                o, m, a, r, done = env.step_arrays(act_np[e])
                buf["rewards"][t, e], buf["dones"][t, e] = r, done
                self._ep_return[e] += r
                if done:
                    self.finished_returns.append(float(self._ep_return[e]))
                    self._ep_return[e] = 0.0
                    o, m, a = env.reset_arrays()
                self.obs[e], self.mask[e], self.acting[e] = o, m, a
        self.steps += T * E
        if not np.isfinite(buf["obs"]).all() or not np.isfinite(buf["rewards"]).all():
            raise TrainingError("non-finite observation or reward from the simulator")
        buf["last_values"] = self._values(self.obs.reshape(E, -1)).numpy()
        return buf

    def advantages(self, buf: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """GAE(lambda) per station on the team reward; values are de-normalised first."""
        cfg = self.cfg
        mu, sd = self.value_norm.mean, self.value_norm.std
        values = buf["values"] * sd + mu
        next_value = buf["last_values"] * sd + mu
        T = values.shape[0]
        adv = np.zeros_like(values)
        last = np.zeros_like(next_value)
        for t in reversed(range(T)):
            nonterminal = 1.0 - buf["dones"][t][:, None]
            nv = next_value if t == T - 1 else values[t + 1]
            # an episode's end is a time limit, not a failure: bootstrapping from the reset
            # state's value is the usual approximation and is harmless at gamma < 1
            delta = buf["rewards"][t][:, None] + cfg.gamma * nv * nonterminal - values[t]
            last = delta + cfg.gamma * cfg.gae_lambda * nonterminal * last
            adv[t] = last
        return adv, adv + values

    # --- update --------------------------------------------------------------------------
    def update(self, buf: dict[str, np.ndarray]) -> dict[str, float]:
        cfg, N = self.cfg, self.n_agents
        adv, returns = self.advantages(buf)
        self.value_norm.update(returns)
        T, E = adv.shape[:2]
        B = T * E
        # keep the station axis: minibatches are [N, rows] so the actor runs grouped
        obs = torch.from_numpy(buf["obs"].reshape(B, N, -1)).transpose(0, 1)
        mask = torch.from_numpy(buf["mask"].reshape(B, N, -1)).transpose(0, 1)
        acting = torch.from_numpy(buf["acting"].reshape(B, N)).T.float()
        actions = torch.from_numpy(buf["actions"].reshape(B, N)).T
        old_logp = torch.from_numpy(buf["logp"].reshape(B, N)).T
        state = torch.from_numpy(buf["obs"].reshape(B, -1))
        adv_t = torch.from_numpy(adv.reshape(B, N)).T.float()
        act_adv = adv_t[acting.bool()]
        if act_adv.numel() > 1:
            adv_t = (adv_t - act_adv.mean()) / (act_adv.std() + 1e-8)
        ret_t = torch.from_numpy(
            (returns.reshape(B, N) - self.value_norm.mean) / self.value_norm.std
        )
        ret_t = ret_t.T.float()
        params = [p for g in self.optimizer.param_groups for p in g["params"]]
        stats: dict[str, list[float]] = {"policy": [], "value": [], "entropy": [], "clipfrac": []}
        mb = max(1, B // cfg.minibatches)
        for _ in range(cfg.update_epochs):
            order = torch.from_numpy(self.rng.permutation(B))
            for start in range(0, B, mb):
                i = order[start : start + mb]
                logits = self.actor.forward_grouped(obs[:, i], mask[:, i])
                dist = torch.distributions.Categorical(logits=logits)
                logp = dist.log_prob(actions[:, i])
                ratio = (logp - old_logp[:, i]).exp()
                a = adv_t[:, i]
                w = acting[:, i]
                n_act = w.sum().clamp(min=1.0)
                surrogate = torch.max(-a * ratio, -a * ratio.clamp(1 - cfg.clip, 1 + cfg.clip))
                policy_loss = (surrogate * w).sum() / n_act
                entropy = (dist.entropy() * w).sum() / n_act
                s = state[i].repeat_interleave(N, 0)
                idx = self._agent_idx.repeat(len(i))
                v = self.critic(s, idx).view(len(i), N).T
                value_loss = 0.5 * ((v - ret_t[:, i]) ** 2).mean()
                loss = policy_loss - cfg.ent_coef * entropy + cfg.vf_coef * value_loss
                if not torch.isfinite(loss):
                    raise TrainingError(
                        f"loss became {loss.item()} at step {self.steps}; stopping, the last "
                        "checkpoint is kept"
                    )
                self.optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
                self.optimizer.step()
                stats["policy"].append(policy_loss.item())
                stats["value"].append(value_loss.item())
                stats["entropy"].append(entropy.item())
                clipped = ((ratio - 1).abs() > cfg.clip).float()
                stats["clipfrac"].append(((clipped * w).sum() / n_act).item())
        self.updates += 1
        return {k: float(np.mean(v)) for k, v in stats.items()}

    # --- the loop ------------------------------------------------------------------------
    def train(self, on_progress: Callable[[Progress], None] | None = None) -> None:
        """Collect and update until the step budget is spent (switching phase for LoRASA)."""
        cfg = self.cfg
        switch_at = int(cfg.switch_fraction * cfg.total_steps)
        while self.steps < cfg.total_steps:
            if cfg.method == "lorasa" and self.phase == "base" and self.steps >= switch_at:
                self.switch_to_adapters()
            losses = self.update(self.collect())
            if on_progress is not None:
                recent = self.finished_returns[-cfg.n_envs * 2 :]
                mean_ret = float(np.mean(recent)) if recent else float("nan")
                on_progress(Progress(self.steps, self.updates, mean_ret, self.phase, losses))
