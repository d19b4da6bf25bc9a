"""Station-identity probe: can a station tell, from its own observation, which station it is?

Why: one shared network (PS) can behave differently at two stations only where their
observations differ. Where stations need different behaviour but a classifier cannot tell them
apart from what they observe, the shared network cannot either, and only the station's id
(PS+ID, NPS, LoRASA adapters) can serve them. So the probe says, per line and policy, whether
a shared policy *could* identify the stations.

How: the line runs its horizon under a policy (a heuristic, or a stored learned policy acting
greedily as in evaluation); the observations the acting stations decide on after the warm-up
are kept, labelled with the station's index, and balanced to the same number per station, so
chance is exactly 1 / stations. A small MLP is trained on a seeded, per-station (stratified)
split and scored on the held-out part. High accuracy: the observation identifies the station.
Near chance: the stations look alike, whatever their dynamics.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from factory_twin.env import LineEnv
from factory_twin.errors import TrainingError
from factory_twin.policy.acting import act
from factory_twin.policy.networks import Actor
from factory_twin.scenario import Scenario
from factory_twin.sim.line import Decider

# (env, obs [N, D], mask [N, A], actions out [N]) -> fills the acting stations' actions
Chooser = Callable[[LineEnv, np.ndarray, np.ndarray, np.ndarray], None]

HELD_OUT = 0.25  # share of each station's samples kept for scoring
HIDDEN = 64
EPOCHS = 300
LEARNING_RATE = 1e-2


@dataclass(frozen=True)
class ProbeResult:
    """Held-out accuracy of predicting the station from its observation, against chance."""

    scenario: str
    policy: str
    stations: list[str]
    per_station: int  # balanced samples per station (train + held out)
    held_out: int  # held-out samples in all
    accuracy: float
    chance: float
    recall: dict[str, float]  # per station: share of its held-out samples named correctly

    def to_json(self) -> dict:
        return asdict(self)


def heuristic_chooser(decider: Decider) -> Chooser:
    """The line run by a rule, as the simulator would call it."""

    def choose(env: LineEnv, obs: np.ndarray, mask: np.ndarray, out: np.ndarray) -> None:
        env.decider_actions(decider, out)

    return choose


def actor_chooser(actor: Actor) -> Chooser:
    """The line run by a learned actor, greedily (how evaluation runs it)."""

    @torch.inference_mode()
    def choose(env: LineEnv, obs: np.ndarray, mask: np.ndarray, out: np.ndarray) -> None:
        out[:] = act(actor, obs[None], mask[None], greedy=True).actions[0].numpy()

    return choose


def collect(scenario: Scenario, choose: Chooser, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(observations [M, D], station index [M]) of every decision after the warm-up of one
    full-horizon episode on line seed `seed`."""
    h = scenario.horizon
    env = LineEnv(scenario, h.length, warmup=h.warmup)
    obs, mask, _ = env.reset_arrays(seed)
    acts = np.zeros(env.n_agents, np.int64)
    rows, labels, done = [], [], False
    while not done:
        acting = env.acting_stations
        if env.now >= h.warmup and acting:
            rows.append(obs[acting].copy())
            labels.extend(acting)
        choose(env, obs, mask, acts)
        obs, mask, _, _, done = env.step_arrays(acts)
    dim = env.obs_dim
    x = np.concatenate(rows) if rows else np.zeros((0, dim), np.float32)
    return x, np.asarray(labels, np.int64)


def split(
    y: np.ndarray, n_classes: int, per_class: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, held out): `per_class` random samples of each class, the last
    `HELD_OUT` share of each class's draw held out."""
    test_n = max(1, round(per_class * HELD_OUT))
    train, test = [], []
    for c in range(n_classes):
        chosen = rng.permutation(np.flatnonzero(y == c))[:per_class]
        train.append(chosen[test_n:])
        test.append(chosen[:test_n])
    return np.concatenate(train), np.concatenate(test)


def fit_classifier(x: np.ndarray, y: np.ndarray, n_classes: int, seed: int) -> nn.Module:
    """A one-hidden-layer MLP on standardised features, full-batch Adam, seeded init."""
    gen = torch.Generator().manual_seed(seed)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    mean, std = xt.mean(0), xt.std(0).clamp_min(1e-6)
    net = nn.Sequential(nn.Linear(x.shape[1], HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, n_classes))
    with torch.no_grad():
        for layer in (net[0], net[2]):
            nn.init.normal_(layer.weight, std=1 / math.sqrt(layer.in_features), generator=gen)
            layer.bias.zero_()
    model = nn.Sequential(_Standardise(mean, std), net)
    opt = torch.optim.Adam(net.parameters(), lr=LEARNING_RATE)
    for _ in range(EPOCHS):
        opt.zero_grad()
        nn.functional.cross_entropy(model(xt), yt).backward()
        opt.step()
    return model.eval()


class _Standardise(nn.Module):
    def __init__(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        super().__init__()
        self.mean, self.std = mean, std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def probe_line(
    scenario: Scenario, choose: Chooser, policy: str, seed: int = 0, per_station: int = 800
) -> ProbeResult:
    """Collect one episode's decisions on line seed `seed` under `choose`, train the
    classifier on a split seeded by `seed`, score it on the held-out samples."""
    torch.set_num_threads(1)  # as in training: a net this small runs fastest on one thread
    x, y = collect(scenario, choose, seed)
    names = [st.name for st in scenario.stations]
    counts = np.bincount(y, minlength=len(names))
    fewest = int(counts.min())
    if fewest < 8:
        raise TrainingError(
            f"{scenario.name}: station {names[int(counts.argmin())]!r} decided {fewest} times "
            "after the warm-up; the probe needs at least 8 decisions per station"
        )
    per = min(per_station, fewest)
    train, test = split(y, len(names), per, np.random.default_rng(seed))
    model = fit_classifier(x[train], y[train], len(names), seed)
    with torch.no_grad():
        guess = model(torch.from_numpy(x[test])).argmax(-1).numpy()
    right = guess == y[test]
    recall = {n: float(right[y[test] == i].mean()) for i, n in enumerate(names)}
    return ProbeResult(
        scenario.name, policy, names, per, len(test), float(right.mean()), 1 / len(names), recall
    )
