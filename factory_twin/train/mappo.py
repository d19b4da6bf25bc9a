"""MAPPO for production lines: decentralised actors, one centralised critic.

Read top to bottom like CleanRL's ppo.py: config, collect (into a `Rollout`), advantages,
update, the loop; then the trainer's state for checkpoints (`state_dict` / `load_state_dict`).

Stations act asynchronously: a station acts when one of its machines asks, at irregular
simulated times, and most env steps involve one or two of the stations. So each station is
treated as its own semi-Markov decision process over the steps where it acts:

* the return of a decision is the team reward earned until that station's next decision,
  discounted per simulated minute (``gamma ** minutes``), then the critic's value there;
* the critic ``V(global state, station)`` is trained, and the actor's loss computed, on the
  acting rows only - rows where a station merely watches carry no decision and would cost most
  of the compute for nothing;
* an episode's end is a time limit, not a failure: it bootstraps from the value of the final
  state instead of treating it as terminal (the observation has no clock to predict an end).

The trainer is method-agnostic: the policy registry gives each method's actor kind and, for
LoRASA, `train` freezes the base and hands training to the adapters (`switch_to_adapters`) after
`switch_fraction` of the budget, or with `lorasa_switch="plateau"` as soon as the greedy
learning curve stops rising (`train/switch.py`).

Each update reports, besides the losses, CleanRL's diagnostics: `approx_kl` (how far the
update moved the policy on its own samples, ``mean((ratio - 1) - log ratio)``), `clipfrac`
and `explained_variance` (how much of the returns' variance the critic's values explained
before the update: 1 is perfect, 0 no better than a constant, negative worse).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from factory_twin.env import LineEnv
from factory_twin.errors import TrainingError
from factory_twin.policy.acting import act_acting
from factory_twin.policy.line_critic import make_critic
from factory_twin.policy.networks import Actor, ActorConfig
from factory_twin.policy.registry import training_method
from factory_twin.scenario import Scenario
from factory_twin.train.config import TrainConfig
from factory_twin.train.evaluate import curve_every, curve_throughput
from factory_twin.train.rollout import Rollout
from factory_twin.train.switch import plateaued
from factory_twin.train.tensors import optimizer_state, optimizer_tensors, prefixed, unprefixed
from factory_twin.train.value_stats import RunningMeanStd, explained_variance

STAT_NAMES = ("policy", "value", "entropy", "approx_kl", "clipfrac")
"""What `MAPPO.update` reports per minibatch (means over them), besides explained variance."""


@dataclass
class Progress:
    steps: int
    update: int
    # mean undiscounted return of the last 2 x n_envs finished episodes (nan before the first)
    mean_return: float
    phase: str
    losses: dict = field(default_factory=dict)  # as `MAPPO.update` returns them
    # greedy good parts/min on the curve seeds where the trainer evaluated after this update
    # (LoRASA's plateau switch), else nan
    greedy_throughput: float = math.nan


@dataclass
class TrainerState:
    """A trainer's whole state: `tensors` (weights, optimiser moments, torch RNG states) for a
    safetensors file and JSON-able `meta` (counters, phase, value normalisation, numpy RNG
    state, env episode counters, optimiser settings, config)."""

    tensors: dict[str, torch.Tensor]
    meta: dict


class MAPPO:
    """Holds the envs, networks and optimiser; `train()` runs the whole budget."""

    def __init__(
        self,
        scenario: Scenario,
        cfg: TrainConfig,
        critic_kind: str = "joint",
        id_columns: tuple[int, ...] | None = None,
    ) -> None:
        """`critic_kind` "pooled" builds the critic that serves a changed line
        (`policy.line_critic`); normal training keeps the joint one. `id_columns`: the station
        id each station wears (`ActorConfig.id_columns`; a grown line's new station its twin's)."""
        method = training_method(cfg.method)
        torch.set_num_threads(cfg.threads)
        torch.manual_seed(cfg.seed)
        self.scenario, self.cfg = scenario, cfg
        self.n_agents, self.obs_dim, self.n_actions = LineEnv.sizes(scenario)
        E, N = cfg.n_envs, self.n_agents
        # every env keeps its observations in its own slice of these: no copies per step
        self.obs = np.zeros((E, N, self.obs_dim), np.float32)
        self.mask = np.zeros((E, N, self.n_actions), bool)
        self.acting = np.zeros((E, N), bool)
        self.envs = [
            LineEnv(
                scenario,
                cfg.episode_minutes,
                seed=cfg.seed * 1000 + e,
                out=(self.obs[e], self.mask[e], self.acting[e]),
            )
            for e in range(E)
        ]
        env = self.envs[0]
        self.actor = Actor(
            ActorConfig(
                obs_dim=env.obs_dim,
                n_actions=env.n_actions,
                n_agents=env.n_agents,
                hidden=cfg.hidden,
                kind=method.actor_kind,
                rank=cfg.rank,
                alpha=cfg.alpha,
                adapter_layers=cfg.adapter_layers,
                station_id=cfg.method == "lorasa" and cfg.lorasa_base == "ps-id",
                id_columns=id_columns,
            )
        )
        if cfg.method == "lorasa":
            # the base phase is PS or PS+ID alone: zero adapters, neither computed nor tracked
            self.actor.set_adapters_active(False)
        self.critic_kind = critic_kind
        self.critic = make_critic(critic_kind, env.obs_dim, env.n_agents, cfg.hidden)
        self.value_norm = RunningMeanStd()
        self.phase = "base"
        self.phase_start = 0  # step at which the current phase began (for lr annealing)
        self.optimizer = self._make_optimizer()
        self.rng = np.random.default_rng(cfg.seed)
        # action sampling has its own stream: other code drawing from torch's global generator
        # cannot change a training run
        self.generator = torch.Generator().manual_seed(cfg.seed)
        self.steps = 0
        self.updates = 0
        self.curve: list[float] = []  # greedy curve points of the base phase (plateau switch)
        self.finished_returns: list[float] = []
        # called with (env, episode return) as each training episode ends, before the reset:
        # the log uses it to store every episode's KPIs
        self.on_episode: Callable[[LineEnv, float], None] | None = None
        self.episodes_logged = 0
        self._ep_return = [0.0] * cfg.n_envs
        self._clock = [0.0] * cfg.n_envs  # each env's simulated time after its last step
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
                {"params": actor_params, "lr": lr, "initial_lr": lr},
                {"params": self.critic.parameters(), "lr": cfg.lr, "initial_lr": cfg.lr},
            ],
            eps=1e-5,
        )

    def switch_to_adapters(self) -> None:
        """LoRASA's second phase: freeze the shared base, train only per-station adapters."""
        self.phase = "adapters"
        self.phase_start = self.steps
        self.actor.freeze_base()
        self.actor.set_adapters_active(True)
        self.optimizer = self._make_optimizer()

    def _phase_end(self) -> int:
        """The step at which the current phase ends: LoRASA's base phase after `switch_fraction`
        of the budget, any other phase with the budget (the one place that says when)."""
        cfg = self.cfg
        if cfg.method == "lorasa" and self.phase == "base":
            return int(cfg.switch_fraction * cfg.total_steps)
        return cfg.total_steps

    def _phase_left(self) -> float:
        """Share of the current phase still to run, 1 at its start and 0 at its end."""
        span = max(self._phase_end() - self.phase_start, 1)
        return max(1.0 - (self.steps - self.phase_start) / span, 0.0)

    def _anneal(self) -> None:
        """Linear decay to zero over the current phase (CleanRL): late updates fine-tune."""
        if not self.cfg.anneal_lr:
            return
        frac = self._phase_left()
        for g in self.optimizer.param_groups:
            g["lr"] = g["initial_lr"] * frac

    def _ent_coef(self) -> float:
        """The entropy bonus of this update: the base's, or in LoRASA's adapter phase its own,
        by default falling linearly to zero so that the adapted policy ends decided."""
        cfg = self.cfg
        if self.phase != "adapters":
            return cfg.ent_coef
        return cfg.adapter_ent_coef * (self._phase_left() if cfg.adapter_ent_anneal else 1.0)

    # --- rollout -------------------------------------------------------------------------
    def _reset_all(self) -> None:
        for e, env in enumerate(self.envs):
            env.reset_arrays()  # writes into self.obs[e], self.mask[e], self.acting[e]
            self._clock[e] = env.now
        self._started = True

    @torch.inference_mode()
    def collect(self) -> Rollout:
        """Run every env `rollout_len` steps. Besides the usual arrays it records how many
        simulated minutes each step took (`minutes`) and, where an episode ended, the final
        observation (`final_obs`) to bootstrap from."""
        T, E, N = self.cfg.rollout_len, self.cfg.n_envs, self.n_agents
        if not self._started:
            self._reset_all()
        buf = Rollout.zeros(T, E, N, self.obs_dim, self.n_actions)
        clock, ep_return = self._clock, self._ep_return
        for t in range(T):
            buf.obs[t], buf.mask[t], buf.acting[t] = self.obs, self.mask, self.acting
            buf.actions[t], buf.logp[t] = act_acting(
                self.actor, self.obs, self.mask, self.acting, generator=self.generator
            )
            act_np = buf.actions[t]
            rewards, minutes, dones = [0.0] * E, [0.0] * E, [False] * E
            for e, env in enumerate(self.envs):
                _, _, _, r, done = env.step_arrays(act_np[e])  # updates self.obs[e] etc.
                now = env.now
                rewards[e], minutes[e], dones[e] = r, now - clock[e], done
                clock[e] = now
                ep_return[e] += r
                if done:
                    buf.final_obs[t, e] = self.obs[e]
                    self.finished_returns.append(ep_return[e])
                    if self.on_episode is not None:
                        self.on_episode(env, ep_return[e])
                    ep_return[e] = 0.0
                    env.reset_arrays()
                    clock[e] = env.now
            buf.rewards[t], buf.minutes[t], buf.dones[t] = rewards, minutes, dones
        self.steps += T * E
        if not np.isfinite(buf.obs).all() or not np.isfinite(buf.rewards).all():
            raise TrainingError("non-finite observation or reward from the simulator")
        buf.last_obs[:] = self.obs
        return buf

    # --- advantages ----------------------------------------------------------------------
    def _critic_values(self, states: np.ndarray, agents: np.ndarray) -> np.ndarray:
        """De-normalised V(state, station) for rows of global states and station indices."""
        with torch.inference_mode():
            v = self.critic(torch.from_numpy(states), torch.from_numpy(agents)).numpy()
        return v * self.value_norm.std + self.value_norm.mean

    def _all_station_values(self, obs: np.ndarray) -> np.ndarray:
        """obs [E, N, D] -> V(state_e, station i) for every pair, [E, N] (bootstrap values)."""
        E, N = obs.shape[:2]
        states = np.repeat(obs.reshape(E, -1), N, axis=0)
        agents = np.tile(np.arange(N), E)
        return self._critic_values(states, agents).reshape(E, N)

    def advantages(self, buf: Rollout) -> tuple[np.ndarray, np.ndarray]:
        """GAE(lambda) along each station's own decisions; returns (adv, values) [T, E, N],
        meaningful at acting rows only.

        Backwards over steps, per (env, station) it carries what follows the station's next
        decision, referenced to the current step's time: the discounted reward sum until then,
        the discounted value there and the discounted advantage there. A step where the
        station acts closes one semi-MDP transition:
        ``A = R + gamma^dt V(next) - V(now) + lambda gamma^dt A(next)``."""
        cfg = self.cfg
        T, E, N = buf.acting.shape
        acting = buf.acting
        values = np.zeros((T, E, N), np.float32)
        tt, ee, ii = np.nonzero(acting)
        states = buf.obs.reshape(T, E, -1)[tt, ee]
        values[tt, ee, ii] = self._critic_values(states, ii)
        discount = np.power(cfg.gamma, buf.minutes).astype(np.float32)  # [T, E]
        final_values = np.zeros((T, E, N), np.float32)
        dt, de = np.nonzero(buf.dones)
        if len(dt):
            final_values[dt, de] = self._all_station_values(buf.final_obs[dt, de])
        adv = np.zeros((T, E, N), np.float32)
        reward_sum = np.zeros((E, N), np.float32)
        # past the rollout, every station bootstraps from the last state, valued as if it were
        # deciding there: the critic only sees decision states, but the team's future reward
        # hardly depends on which station happens to be asking
        next_value = self._all_station_values(buf.last_obs)
        next_adv = np.zeros((E, N), np.float32)
        for t in reversed(range(T)):
            done = buf.dones[t][:, None]
            # an episode that ended after this step continues in value only: bootstrap from
            # its final state, nothing of the next episode leaks back
            reward_sum = np.where(done, 0.0, reward_sum)
            next_value = np.where(done, final_values[t], next_value)
            next_adv = np.where(done, 0.0, next_adv)
            d = discount[t][:, None]
            reward_sum = buf.rewards[t][:, None] + d * reward_sum
            next_value, next_adv = d * next_value, d * next_adv
            a = acting[t]
            here = reward_sum + next_value - values[t] + cfg.gae_lambda * next_adv
            adv[t] = np.where(a, here, 0.0)
            reward_sum = np.where(a, 0.0, reward_sum)
            next_value = np.where(a, values[t], next_value)
            next_adv = np.where(a, here, next_adv)
        return adv, values

    # --- update --------------------------------------------------------------------------
    def update(self, buf: Rollout) -> dict[str, float]:
        """PPO epochs over the acting rows (one row = one station's decision). Returns the
        means over minibatches of the losses, `approx_kl` and `clipfrac`, and the critic's
        `explained_variance` of the returns (see the module docstring)."""
        cfg = self.cfg
        adv, values = self.advantages(buf)
        acting = buf.acting
        tt, ee, ii = np.nonzero(acting)
        returns = (adv + values)[tt, ee, ii]
        explained = explained_variance(values[tt, ee, ii], returns)
        self.value_norm.update(returns)
        obs = torch.from_numpy(buf.obs[tt, ee, ii])
        mask = torch.from_numpy(buf.mask[tt, ee, ii])
        state = torch.from_numpy(buf.obs.reshape(*acting.shape[:2], -1)[tt, ee])
        agent = torch.from_numpy(ii)
        actions = torch.from_numpy(buf.actions[tt, ee, ii])
        old_logp = torch.from_numpy(buf.logp[tt, ee, ii])
        adv_t = torch.from_numpy(adv[tt, ee, ii])
        if adv_t.numel() > 1:
            adv_t = (adv_t - adv_t.mean()) / (adv_t.std() + 1e-8)
        ret_t = torch.from_numpy(
            ((returns - self.value_norm.mean) / self.value_norm.std).astype(np.float32)
        )
        self._anneal()
        actor_params = [p for p in self.actor.parameters() if p.requires_grad]
        columns = (obs, mask, state, agent, actions, old_logp, adv_t, ret_t)
        stats: list[torch.Tensor] = []
        mb = max(1, math.ceil(len(ii) / cfg.minibatches))
        for _ in range(cfg.update_epochs):
            order = self._minibatch_order(ii, mb)
            # one gather per epoch; each minibatch is then a contiguous slice (a view)
            shuffled = [c.index_select(0, torch.from_numpy(order)) for c in columns]
            for start in range(0, len(ii), mb):
                part = slice(start, start + mb)
                counts = np.bincount(ii[order[part]], minlength=self.n_agents)
                stats.append(
                    self._minibatch_step(*(c[part] for c in shuffled), counts, actor_params)
                )
        self.updates += 1
        means = torch.stack(stats).double().mean(0).tolist()
        return {**dict(zip(STAT_NAMES, means, strict=True)), "explained_variance": explained}

    def _minibatch_order(self, agent: np.ndarray, mb: int) -> np.ndarray:
        """A random permutation of the rows, each minibatch's `mb` rows then grouped by station:
        the order within a minibatch does not change its loss, and grouped rows let the
        per-station layers run on contiguous blocks."""
        order = self.rng.permutation(len(agent))
        for start in range(0, len(order), mb):
            part = order[start : start + mb]
            order[start : start + mb] = part[np.argsort(agent[part], kind="stable")]
        return order

    def _minibatch_step(
        self,
        obs: torch.Tensor,
        mask: torch.Tensor,
        state: torch.Tensor,
        agent: torch.Tensor,
        actions: torch.Tensor,
        old_logp: torch.Tensor,
        adv: torch.Tensor,
        ret: torch.Tensor,
        counts: np.ndarray,
        actor_params: list[nn.Parameter],
    ) -> torch.Tensor:
        """One clipped-PPO gradient step on a minibatch (rows sorted by station, `counts` of
        each); returns its `STAT_NAMES` (detached)."""
        cfg = self.cfg
        logp_all = torch.log_softmax(self.actor(obs, agent, mask, counts), dim=-1)
        logp = logp_all.gather(-1, actions.unsqueeze(-1)).squeeze(-1)
        logratio = logp - old_logp
        ratio = logratio.exp()
        surrogate = torch.max(-adv * ratio, -adv * ratio.clamp(1 - cfg.clip, 1 + cfg.clip))
        policy_loss = surrogate.mean()
        # masked actions have probability exactly 0 and a finite log-probability: no NaN
        entropy = -(logp_all.exp() * logp_all).sum(-1).mean()
        value_loss = 0.5 * (self.critic(state, agent) - ret).square().mean()
        loss = policy_loss - self._ent_coef() * entropy + cfg.vf_coef * value_loss
        if not torch.isfinite(loss):
            raise TrainingError(
                f"loss became {loss.item()} at step {self.steps}; stopping, the last "
                "checkpoint is kept"
            )
        self.optimizer.zero_grad()
        loss.backward()
        # actor and critic share no weights: clip each on its own scale
        nn.utils.clip_grad_norm_(actor_params, cfg.max_grad_norm)
        nn.utils.clip_grad_norm_(self.critic.parameters(), cfg.max_grad_norm)
        self.optimizer.step()
        with torch.no_grad():
            approx_kl = ((ratio - 1) - logratio).mean()
            clipfrac = ((ratio - 1).abs() > cfg.clip).float().mean()
            return torch.stack([policy_loss, value_loss, entropy, approx_kl, clipfrac])

    # --- the loop ------------------------------------------------------------------------
    def train(self, on_progress: Callable[[Progress], None] | None = None) -> None:
        """Collect and update until the step budget is spent (switching phase for LoRASA)."""
        cfg = self.cfg
        while self.steps < cfg.total_steps:
            if self.steps >= self._phase_end():  # only LoRASA's base phase ends before the budget
                self.switch_to_adapters()
            steps_before = self.steps
            losses = self.update(self.collect())
            greedy = self._watch_plateau(steps_before)
            if on_progress is not None:
                recent = self.finished_returns[-cfg.n_envs * 2 :]
                mean_ret = float(np.mean(recent)) if recent else float("nan")
                on_progress(
                    Progress(self.steps, self.updates, mean_ret, self.phase, losses, greedy)
                )
            if not math.isnan(greedy) and plateaued(self.curve):
                self.switch_to_adapters()

    def _watch_plateau(self, steps_before: int) -> float:
        """In LoRASA's base phase under the plateau switch, the greedy throughput where the
        learning curve has a point (the first update past each multiple of `curve_every`, as
        the job's curve), kept in `self.curve`; nan everywhere else."""
        cfg = self.cfg
        if cfg.method != "lorasa" or cfg.lorasa_switch != "plateau" or self.phase != "base":
            return math.nan
        every = curve_every(cfg.total_steps)
        if self.steps // every == steps_before // every:
            return math.nan
        self.curve.append(curve_throughput(self.scenario, self.actor))
        return self.curve[-1]

    # --- state, for checkpoints ----------------------------------------------------------
    def state_dict(self) -> TrainerState:
        """Everything needed to continue training but the simulator's state (which SimPy cannot
        save): a trainer that loads it starts fresh episodes and otherwise goes on as this one."""
        opt_tensors, opt_meta = optimizer_tensors(self.optimizer)
        tensors = {
            **prefixed("actor", self.actor.state_dict()),
            **prefixed("critic", self.critic.state_dict()),
            **opt_tensors,
            "rng.torch": torch.get_rng_state(),
            "rng.sampling": self.generator.get_state(),
        }  # fmt: skip
        vn = self.value_norm
        meta = {
            "steps": self.steps,
            "updates": self.updates,
            "phase": self.phase,
            "phase_start": self.phase_start,
            "curve": list(self.curve),
            "value_norm": [vn.mean, vn.var, vn.count],
            "numpy_rng": self.rng.bit_generator.state,
            "envs": [list(env.episode_counter) for env in self.envs],
            "finished_returns": self.finished_returns[-1000:],
            "episodes_logged": self.episodes_logged,
            "optimizer": opt_meta,
            "config": self.cfg.to_dict(),
        }
        return TrainerState(tensors, meta)

    def load_state_dict(self, state: TrainerState) -> None:
        """Continue from `state` (of a trainer with the same config); the next `collect`
        starts every env's next episode where its episode counter left off."""
        tensors, meta = state.tensors, state.meta
        if meta["phase"] == "adapters" and self.phase != "adapters":
            self.switch_to_adapters()
        self.actor.load_state_dict(unprefixed("actor", tensors))
        self.critic.load_state_dict(unprefixed("critic", tensors))
        self.optimizer.load_state_dict(optimizer_state(tensors, meta["optimizer"]))
        torch.set_rng_state(tensors["rng.torch"])
        self.generator.set_state(tensors["rng.sampling"])
        self.steps, self.updates = meta["steps"], meta["updates"]
        self.phase_start = meta["phase_start"]
        self.curve = list(meta.get("curve", []))
        vn = self.value_norm
        vn.mean, vn.var, vn.count = meta["value_norm"]
        self.rng.bit_generator.state = meta["numpy_rng"]
        for env, counter in zip(self.envs, meta["envs"], strict=True):
            env.episode_counter = tuple(counter)
        self.finished_returns = list(meta["finished_returns"])
        self.episodes_logged = meta["episodes_logged"]
        self._ep_return = [0.0] * self.cfg.n_envs
        self._started = False
