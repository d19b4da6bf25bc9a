"""Train a shipped line with TorchRL instead of the project's own trainer.

    python examples/torchrl_line.py [scenarios/bottling.yaml] [--iterations 3]

`LineEnv` is a PettingZoo ParallelEnv, so TorchRL's `PettingZooWrapper` takes it as it is.
Three things to know (see docs/other-libraries.md):

- Put every station in ONE group (`MarlGroupMapType.ALL_IN_ONE_GROUP`). Station names carry
  no `_<int>` suffix, so TorchRL's default would give each station its own group and its own
  network; one group stacks them as `[stations, ...]` tensors for one shared policy.
- The action mask comes in the observation dict; the wrapper moves it to
  `("agents", "action_mask")`, which a `MaskedCategorical` reads. Stations that are not
  asked to act this step have a mask that allows only action 0 (wait).
- Every station gets the same team reward, at `("next", "agents", "reward")`.

The script runs one masked random episode, then a few PPO iterations (shared actor,
centralized critic: MAPPO). A few iterations show the plumbing, not a trained line; the
tuned trainer is `factory-twin train`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import torch
from tensordict import TensorDictBase
from tensordict.nn import TensorDictModule
from torch import nn
from torchrl.collectors import Collector
from torchrl.envs import PettingZooWrapper
from torchrl.envs.utils import MarlGroupMapType
from torchrl.modules import MaskedCategorical, MultiAgentMLP, ProbabilisticActor
from torchrl.objectives import ClipPPOLoss, ValueEstimators

from factory_twin.env import LineEnv
from factory_twin.scenario import load_scenario

GROUP = "agents"  # the name TorchRL gives the single group
OBS = (GROUP, "observation", "observation")  # LineEnv's Dict space keeps its "observation" key
MASK = (GROUP, "action_mask")
ACTION = (GROUP, "action")
LOG_PROB = (GROUP, "action_log_prob")
VALUE = (GROUP, "state_value")
DEFAULT_SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "bottling.yaml"


def make_env(scenario: Path, episode_minutes: float = 60.0, seed: int = 0) -> PettingZooWrapper:
    """A shipped line as a TorchRL env with all stations in one group (a shared policy)."""
    line = LineEnv(load_scenario(scenario), episode_minutes=episode_minutes, seed=seed)
    return PettingZooWrapper(line, group_map=MarlGroupMapType.ALL_IN_ONE_GROUP, seed=seed)


def random_policy(generator: torch.Generator) -> Callable[[TensorDictBase], TensorDictBase]:
    """A policy that picks uniformly among each station's allowed actions."""

    def act(td: TensorDictBase) -> TensorDictBase:
        allowed = td.get(MASK).float()
        td.set(ACTION, torch.multinomial(allowed, 1, generator=generator).squeeze(-1))
        return td

    return act


def make_actor_critic(env: PettingZooWrapper) -> tuple[ProbabilisticActor, TensorDictModule]:
    """Shared actor on each station's observation; critic on all of them (centralized)."""
    n_agents, obs_dim = env.observation_spec[OBS].shape
    n_actions = env.full_action_spec[ACTION].space.n

    def mlp(n_out: int, centralized: bool) -> MultiAgentMLP:
        return MultiAgentMLP(
            n_agent_inputs=obs_dim,
            n_agent_outputs=n_out,
            n_agents=n_agents,
            centralized=centralized,
            share_params=True,
            depth=2,
            num_cells=64,
            activation_class=nn.Tanh,
        )

    logits = TensorDictModule(mlp(n_actions, False), in_keys=[OBS], out_keys=[(GROUP, "logits")])
    actor = ProbabilisticActor(
        logits,
        in_keys={"logits": (GROUP, "logits"), "mask": MASK},
        out_keys=[ACTION],
        distribution_class=MaskedCategorical,
        return_log_prob=True,
        log_prob_key=LOG_PROB,
    )
    critic = TensorDictModule(mlp(1, True), in_keys=[OBS], out_keys=[VALUE])
    return actor, critic


def train(
    env: PettingZooWrapper, iterations: int, frames: int, seed: int
) -> tuple[ProbabilisticActor, list[float]]:
    """A few MAPPO iterations; returns the actor and each batch's mean team reward per decision."""
    torch.manual_seed(seed)  # network initialisation and action sampling
    actor, critic = make_actor_critic(env)
    loss = ClipPPOLoss(
        actor,
        critic,
        entropy_coeff=0.01,
        normalize_advantage=True,
        normalize_advantage_exclude_dims=(-2,),  # statistics per station, not across stations
    )
    loss.set_keys(
        reward=(GROUP, "reward"),
        action=ACTION,
        sample_log_prob=LOG_PROB,
        value=VALUE,
        done=(GROUP, "done"),
        terminated=(GROUP, "terminated"),
    )
    loss.make_value_estimator(ValueEstimators.GAE, gamma=0.99, lmbda=0.95)
    optim = torch.optim.Adam(loss.parameters(), lr=3e-4)
    collector = Collector(
        env,
        actor,
        frames_per_batch=frames,
        total_frames=frames * iterations,
        auto_register_policy_transforms=False,  # a feed-forward actor needs no env transforms
    )
    rewards = []
    for batch in collector:
        with torch.no_grad():
            loss.value_estimator(batch, params=loss.critic_network_params)
        for _ in range(4):  # epochs over the whole batch
            parts = loss(batch)
            total = parts["loss_objective"] + parts["loss_critic"] + parts["loss_entropy"]
            optim.zero_grad()
            total.backward()
            optim.step()
        rewards.append(batch.get(("next", GROUP, "reward"))[:, 0].mean().item())
    collector.shutdown()
    return actor, rewards


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", nargs="?", type=Path, default=DEFAULT_SCENARIO)
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--frames", type=int, default=256, help="decisions per PPO batch")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # networks this small run fastest on one thread

    env = make_env(args.scenario, seed=args.seed)
    print(f"group_map: {env.group_map}")
    episode = env.rollout(10_000, random_policy(torch.Generator().manual_seed(args.seed)))
    team = episode.get(("next", GROUP, "reward"))[:, 0, 0]
    print(f"random episode: {len(team)} decisions, team reward {team.sum().item():.2f}")
    _, rewards = train(env, args.iterations, args.frames, args.seed)
    for i, r in enumerate(rewards, 1):
        print(f"ppo iteration {i}: mean team reward per decision {r:.4f}")


if __name__ == "__main__":
    main()
