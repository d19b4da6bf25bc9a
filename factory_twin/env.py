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
from array import array

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from factory_twin.scenario import Scenario
from factory_twin.sim import actions
from factory_twin.sim.line import STATES, Line

INF_BUFFER_SCALE = 20.0  # how many parts count as "full" for an infinite buffer in observations
# machine-state shares of a one-machine station, ready to copy into an observation row
_ONE_HOT_STATES = [
    array("f", [float(s == t) for t in range(len(STATES))]) for s in range(len(STATES))
]


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
        # flat views for fast scalar stores into the arrays above (see `_observe_station`)
        self._obs_flat = memoryview(self._obs).cast("B").cast("f")
        self._mask_flat = memoryview(self._mask).cast("B")
        self._acting_flat = memoryview(self._acting).cast("B")
        self._idle_mask = bytes([1] + [0] * (self.n_actions - 1))  # not asking: only "0"
        self._acting_idx: list[int] = []
        self._fill = [0.0] * self.n_agents  # buffer fill per station, as last observed
        tail = 3 * self.n_products
        self._up_slot = [i * self.obs_dim + tail + 2 for i in range(self.n_agents)]
        self._down_slot = [i * self.obs_dim + tail + 3 for i in range(self.n_agents)]
        costs = scenario.costs
        self._costs = (costs.good_unit, costs.scrap, costs.pm, costs.wip_per_minute)
        self._last_totals = (0, 0, 0, 0.0)
        self._has_fast = [st.speed_modes.fast is not None for st in scenario.stations]
        self._has_pm = [st.pm is not None for st in scenario.stations]
        self._age_scale = [_age_scale(st) for st in scenario.stations]
        self._switch = [_switch_costs(st, scenario.product_names) for st in scenario.stations]
        self._blocks = [_product_blocks(sw) for sw in self._switch]
        self._share = [1.0 / st.machines for st in scenario.stations]
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
        self._observe_all()
        return self._obs, self._mask, self._acting

    def step_arrays(self, acts) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, bool]:
        """Apply the acting stations' actions, run to the next decision; returns
        (obs, mask, acting, team reward, episode over). Masked actions fall back to waiting."""
        line, mask, width = self.line, self._mask_flat, self.n_actions
        for i in self._acting_idx:
            a = int(acts[i])
            if not mask[i * width + a]:
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

    def _observe_all(self) -> None:
        """Build every row from scratch (a new line: every station is flagged changed), with
        the first station's upstream feature, which no buffer change ever rewrites."""
        self._obs.fill(0.0)
        source_full = self.scenario.source.kind == "saturated"
        self._obs[0, 3 * self.n_products + 2] = 1.0 if source_full else 0.0
        self._observe()

    def _observe(self) -> None:
        """Rebuild the rows of stations the line flagged as changed (a step usually touches
        about half of them), then the neighbour buffer features those changes affect."""
        changed, n = self.line.changed, self.n_agents
        touched = [i for i, c in enumerate(changed) if c]
        for i in touched:
            changed[i] = False
            self._observe_station(i)
        obs, fill, up, down = self._obs_flat, self._fill, self._up_slot, self._down_slot
        for i in touched:
            if i > 0:
                obs[down[i - 1]] = fill[i]
            if i + 1 < n:
                obs[up[i + 1]] = fill[i]
        self._acting_idx = [i for i, st in enumerate(self.line.stations) if st.pending]

    def _observe_station(self, i: int) -> None:
        """Station i's own features, action mask and acting flag (see the module docstring).
        It runs for a few stations at every decision, so it writes through flat memoryviews
        of the arrays (a third of the cost of numpy item assignment) and copies precomputed
        per-product blocks instead of computing setup features."""
        st, P, obs = self.line.stations[i], self.n_products, self._obs_flat
        base, cap = i * self.obs_dim, self._cap[i]
        tail = base + 3 * P
        queues, pending = st.buffer.queues, st.pending
        asking = pending[0].machine if pending else st.machines[0]
        block = self._blocks[i][asking.last_product]
        for k in range(P):
            block[3 * k] = len(queues[k]) / cap
        obs[base:tail] = array("f", block)
        machines = st.machines
        if len(machines) == 1:
            obs[tail + 4 : tail + 4 + len(STATES)] = _ONE_HOT_STATES[machines[0].state]
        else:
            states = [0.0] * len(STATES)
            share = self._share[i]
            for m in machines:
                states[m.state] += share
            obs[tail + 4 : tail + 4 + len(STATES)] = array("f", states)
        fill = self._fill[i] = st.buffer.count / cap
        obs[tail] = fill
        obs[tail + 1] = min(asking.age / self._age_scale[i], 3.0)
        mask, width = self._mask_flat, self.n_actions
        row = i * width
        if not pending:
            mask[row : row + width] = self._idle_mask
            self._acting_flat[i] = 0
            return
        self._acting_flat[i] = 1
        # waiting is offered only while something can still arrive: with a full input buffer
        # it can only idle the machine, and a policy that prefers it there (say, holding out
        # for the product it is set up for) would stall the line
        mask[row] = st.buffer.count < st.buffer.capacity
        fast = self._has_fast[i]
        for k in range(P):
            waiting = len(queues[k]) > 0
            mask[row + 1 + 2 * k] = waiting
            mask[row + 2 + 2 * k] = waiting and fast
        mask[row + 1 + 2 * P] = self._has_pm[i]

    @property
    def acting_stations(self) -> list[int]:
        """Indices of the stations that must act at this step (the True entries of `acting`)."""
        return self._acting_idx

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


def _product_blocks(switch: list[list[float]]) -> list[list[float]]:
    """Per last product (index -1: none yet), the station's per-product observation block
    [waiting, set up for k, changeover to k] * P with the waiting slots left to fill in."""
    n = len(switch)
    blocks = []
    for last in [*range(n), -1]:
        block = [0.0] * (3 * n)
        for k in range(n):
            block[3 * k + 1] = 1.0 if k == last else 0.0
            block[3 * k + 2] = switch[last][k] if last >= 0 else 0.0
        blocks.append(block)
    return blocks


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
