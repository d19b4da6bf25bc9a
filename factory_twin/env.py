"""PettingZoo ParallelEnv over the line simulator: the one seam between SimPy and learning.

Agents are stations. The simulator runs until some machine asks its station what to do; at
that step the asking stations act (their action masks show what is possible) and every other
station gets a mask that only allows action 0, which the env ignores for them. Actions:
0 wait, 1 + 2k process product k normally, 2 + 2k process product k fast, last: preventive
maintenance (see `sim.actions`); waiting is masked while the input buffer is full. All
stations share one team reward: the value of good parts out minus WIP, scrap and PM costs
from the scenario's `costs`.

Observation of a station (all in [0, 1] or close, same layout for every station), built
around the machine that is asking (a station with several machines answers them one by one):
  per product k: parts of k waiting (share of the buffer capacity), whether the asking machine
  is set up for k, and the changeover it would need to run k next as setup / (setup + process
  time), so "stay on the product you are set up for" is visible per action instead of having
  to be inferred from an index; then buffer fill, the asking machine's wear age (relative to
  mean time to failure; 0 for machines that never fail), upstream and downstream buffer fill,
  and the share of the station's machines in each state. No clock: the line runs
  indefinitely, and a policy that read the clock would not transfer to longer horizons.
The global state for the centralized critic is every station's observation concatenated.

`step_arrays` is the array-level step used by training; `step` wraps it in PettingZoo's
dict API.
"""

from __future__ import annotations

import math

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from factory_twin.scenario import Scenario
from factory_twin.sim import actions
from factory_twin.sim.line import STATES, Line

INF_BUFFER_SCALE = 20.0  # how many parts count as "full" for an infinite buffer in observations


def obs_dim(n_products: int) -> int:
    return 3 * n_products + 4 + len(STATES)


class LineEnv(ParallelEnv):
    metadata = {"name": "factory_twin_line_v0", "render_modes": [], "is_parallelizable": True}

    def __init__(
        self,
        scenario: Scenario,
        episode_minutes: float = 480.0,
        seed: int = 0,
        warmup: float = 0.0,
    ) -> None:
        self.scenario = scenario
        self.episode_minutes = episode_minutes
        self.warmup = warmup
        self.possible_agents = [st.name for st in scenario.stations]
        self.agents: list[str] = []
        self.n_agents = len(self.possible_agents)
        self.n_products = len(scenario.products)
        self.n_actions = actions.n_actions(self.n_products)
        self.obs_dim = obs_dim(self.n_products)
        self.state_dim = self.obs_dim * self.n_agents
        self._seed = seed
        self._episode = 0
        self.last_seed = seed
        self.line: Line | None = None
        self._obs = np.zeros((self.n_agents, self.obs_dim), dtype=np.float32)
        self._mask = np.zeros((self.n_agents, self.n_actions), dtype=bool)
        self._acting = np.zeros(self.n_agents, dtype=bool)
        costs = scenario.costs
        self._costs = (costs.good_unit, costs.scrap, costs.pm, costs.wip_per_minute)
        self._last_totals = (0, 0, 0, 0.0)
        self._has_fast = [st.speed_modes.fast is not None for st in scenario.stations]
        self._has_pm = [st.pm is not None for st in scenario.stations]
        self._age_scale = [_age_scale(st) for st in scenario.stations]
        self._switch = [_switch_costs(st, scenario.product_names) for st in scenario.stations]
        self._observation_space = spaces.Dict(
            {
                "observation": spaces.Box(-1.0, 10.0, (self.obs_dim,), np.float32),
                "action_mask": spaces.Box(0, 1, (self.n_actions,), np.int8),
            }
        )
        self._action_space = spaces.Discrete(self.n_actions)
        self._cap = [
            float(st.buffer) if st.buffer is not None else INF_BUFFER_SCALE
            for st in scenario.stations
        ]

    # --- spaces (the same for every station, so a shared policy fits all) ------------------
    def observation_space(self, agent: str) -> spaces.Dict:
        return self._observation_space

    def action_space(self, agent: str) -> spaces.Discrete:
        return self._action_space

    def state(self) -> np.ndarray:
        return self._obs.reshape(-1).copy()

    # --- array-level API (used by training) ------------------------------------------------
    def reset_arrays(self, seed: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Start a new episode; returns (obs, mask, acting) arrays (views, copy to keep).

        With `seed`, the episode's line uses exactly that seed (so a learned policy and a
        heuristic can be compared on the same random numbers); later episodes without a seed
        derive theirs from the env's seed and the episode count."""
        if seed is not None:
            self._seed, self._episode = seed, 1
            run_seed = seed
        else:
            run_seed = self._seed * 100_003 + self._episode
            self._episode += 1
        self.last_seed = run_seed
        self.line = Line(
            self.scenario, run_seed, None, warmup=self.warmup, length=self.episode_minutes
        )
        self._last_totals = (0, 0, 0, 0.0)
        self.agents = list(self.possible_agents)
        self._running = self.line.advance()
        self._observe()
        return self._obs, self._mask, self._acting

    def step_arrays(self, acts) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, bool]:
        """Apply the acting stations' actions, run to the next decision; returns
        (obs, mask, acting, team reward, episode over). Masked actions fall back to waiting."""
        line = self.line
        for i in np.flatnonzero(self._acting):
            a = int(acts[i])
            if not self._mask[i, a]:
                a = actions.WAIT
            line.answer(i, a)
        self._running = line.advance()
        reward = self._reward()
        self._observe()
        return self._obs, self._mask, self._acting, reward, not self._running

    def _reward(self) -> float:
        line = self.line
        line.flush_wip()
        t = line.totals
        now = (t.good, t.scrapped, line.pm_count, t.wip_area)
        last = self._last_totals
        self._last_totals = now
        good, scrap, pm, wip_cost = self._costs
        return (
            good * (now[0] - last[0])
            - scrap * (now[1] - last[1])
            - pm * (now[2] - last[2])
            - wip_cost * (now[3] - last[3])
        )

    def _observe(self) -> None:
        line, obs, mask, acting = self.line, self._obs, self._mask, self._acting
        P, n = self.n_products, self.n_agents
        obs.fill(0.0)
        mask.fill(False)
        mask[:, 0] = True
        tail = 3 * P  # buffer fill, age, upstream, downstream, then the machine states
        stations = line.stations
        for i, st in enumerate(stations):
            row, cap = obs[i], self._cap[i]
            counts = st.buffer.counts()
            asking = st.pending[0].machine if st.pending else st.machines[0]
            last = asking.last_product
            for k in range(P):
                row[3 * k] = counts[k] / cap
            if last >= 0:
                row[3 * last + 1] = 1.0
                switch = self._switch[i][last]
                for k in range(P):
                    row[3 * k + 2] = switch[k]
            row[tail] = st.buffer.count / cap
            row[tail + 1] = min(asking.age / self._age_scale[i], 3.0)
            if i > 0:
                row[tail + 2] = stations[i - 1].buffer.count / self._cap[i - 1]
            else:
                row[tail + 2] = 1.0 if self.scenario.source.kind == "saturated" else 0.0
            if i + 1 < n:
                row[tail + 3] = stations[i + 1].buffer.count / self._cap[i + 1]
            share = 1.0 / len(st.machines)
            for m in st.machines:
                row[tail + 4 + m.state] += share
            acting[i] = bool(st.pending)
            if acting[i]:
                # waiting is offered only while something can still arrive: with a full input
                # buffer it can only idle the machine, and a policy that prefers it there
                # (say, holding out for the product it is set up for) would stall the line
                mask[i, 0] = st.buffer.has_room()
                for k in range(P):
                    if counts[k]:
                        mask[i, 1 + 2 * k] = True
                        mask[i, 2 + 2 * k] = self._has_fast[i]
                mask[i, 1 + 2 * P] = self._has_pm[i]

    @property
    def episode_counter(self) -> tuple[int, int]:
        """(seed, episodes started): all a checkpoint needs to continue the episode sequence."""
        return self._seed, self._episode

    @episode_counter.setter
    def episode_counter(self, value: tuple[int, int]) -> None:
        self._seed, self._episode = int(value[0]), int(value[1])

    @property
    def now(self) -> float:
        """Simulated minutes since the episode started (decisions come at irregular times)."""
        return self.line.now if self.line is not None else 0.0

    # --- PettingZoo API --------------------------------------------------------------------
    def reset(self, seed: int | None = None, options: dict | None = None):
        self.reset_arrays(seed)
        return self._dict_obs(), self._infos()

    def step(self, action_dict: dict[str, int]):
        acts = np.zeros(self.n_agents, dtype=np.int64)
        for i, name in enumerate(self.possible_agents):
            acts[i] = int(action_dict.get(name, 0))
        _, _, _, reward, over = self.step_arrays(acts)
        obs, infos = self._dict_obs(), self._infos()
        rewards = {a: reward for a in self.agents}
        terminations = {a: False for a in self.agents}
        truncations = {a: over for a in self.agents}
        if over:
            self.agents = []
        return obs, rewards, terminations, truncations, infos

    def _dict_obs(self) -> dict:
        return {
            name: {
                "observation": self._obs[i].copy(),
                "action_mask": self._mask[i].astype(np.int8),
            }
            for i, name in enumerate(self.possible_agents)
        }

    def _infos(self) -> dict:
        return {
            name: {"acting": bool(self._acting[i]), "time": self.line.now}
            for i, name in enumerate(self.possible_agents)
        }

    def close(self) -> None:
        self.line = None


def _age_scale(station) -> float:
    """Wear age is shown relative to the mean time to failure. A machine that never fails shows
    0: its age predicts nothing, and a clock that only grows would tell a shared policy which
    station it is through a feature that carries no decision-relevant information."""
    if station.failure is None:
        return math.inf
    mean = float(station.failure.ttf.mean)
    return mean if mean > 0 and math.isfinite(mean) else math.inf


def _switch_costs(station, products: list[str]) -> list[list[float]]:
    """[from][to] changeover cost as setup / (setup + mean process time of `to`): 0 without a
    changeover, towards 1 when the setup dwarfs the part's own processing."""
    pairs = station.setup.pairs() if station.setup else {}
    out = []
    for a in products:
        row = []
        for b in products:
            setup = pairs.get((a, b), 0.0)
            proc = float(station.process_for(b).mean)
            row.append(setup / (setup + proc) if setup > 0 else 0.0)
        out.append(row)
    return out
