"""PettingZoo ParallelEnv over the line simulator: the one seam between SimPy and learning.

Agents are stations. The simulator runs until some machine asks its station what to do; at
that step the asking stations act (their action masks show what is possible) and every other
station gets a mask that only allows waiting, which the env ignores for them. The action
codes (wait, each product at normal or fast speed, preventive maintenance) are `sim.actions`;
waiting is masked while the input buffer is full. All stations share one team reward: the
value of good parts out minus WIP, scrap and PM costs from the scenario's `costs`.

What a station observes, and how the observation is kept current, is in `observation`; the
observation space declares its true bounds (`observation.Layout.bounds`). The global state
for the centralized critic is every station's observation concatenated.

`step_arrays` is the array-level step used by training; `step` wraps it in PettingZoo's
dict API.

What other layers may use. Learning code (train/, the learned viewer driver) goes through
this class only: `sizes`, `reset_arrays` / `step_arrays`, `acting_stations`, `now`,
`last_seed`, `episode_counter`, `decider_actions` (a heuristic's answers, so a rule-based
run can be observed like a learned one), `kpis()` (the episode's KPIs, for logging and
evaluation), `snapshot()` (a read-only picture of the line, for the viewer) and `call_every` (the
viewer's captures at exact times between decisions). `line`, the live simulator, stays
public for tests and benchmarks that check the env against the simulator step by step;
nothing in the package outside this module and `observation` reads it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from factory_twin.observation import Arrays, Observer, obs_dim
from factory_twin.scenario import Scenario
from factory_twin.sim import actions
from factory_twin.sim.clock import call_every
from factory_twin.sim.kpi import KPIs, collect
from factory_twin.sim.line import Decider, Line
from factory_twin.sim.snapshot import LineSnap, snapshot


class LineEnv(ParallelEnv):
    metadata = {"name": "factory_twin_line_v0", "render_modes": [], "is_parallelizable": True}

    def __init__(
        self,
        scenario: Scenario,
        episode_minutes: float = 480.0,
        seed: int = 0,
        warmup: float = 0.0,
        out: Arrays | None = None,
    ) -> None:
        """`out`: optional (obs [N, D], mask [N, A], acting [N]) arrays for the env to keep
        its observations in, e.g. slices of a trainer's [envs, N, ...] batch (no copies)."""
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
        self._observer = Observer(scenario, out)
        self._obs, self._mask = self._observer.obs, self._observer.mask
        self._acting = self._observer.acting
        costs = scenario.costs
        self._costs = (costs.good_unit, costs.scrap, costs.pm, costs.wip_per_minute)
        self._last_totals = (0, 0, 0, 0.0)
        low, high = self._observer.layout.bounds()
        self._observation_space = spaces.Dict(
            {
                "observation": spaces.Box(low, high, dtype=np.float32),
                "action_mask": spaces.Box(0, 1, (self.n_actions,), np.int8),
            }
        )
        self._action_space = spaces.Discrete(self.n_actions)

    @staticmethod
    def sizes(scenario: Scenario) -> tuple[int, int, int]:
        """(stations, observation size, number of actions) of a scenario's env."""
        n_products = len(scenario.products)
        return len(scenario.stations), obs_dim(n_products), actions.n_actions(n_products)

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
        self.line.advance()
        self._observer.attach(self.line)
        return self._obs, self._mask, self._acting

    def step_arrays(self, acts) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, bool]:
        """Apply the acting stations' actions, run to the next decision; returns
        (obs, mask, acting, team reward, episode over). Masked actions fall back to waiting;
        an action outside [0, n_actions) is a ValueError, raised before anything changes."""
        line, observer, width = self.line, self._observer, self.n_actions
        mask = observer.mask_flat
        for i in observer.acting_stations:  # refuse before answering anyone
            if not 0 <= acts[i] < width:
                name = self.possible_agents[i]
                raise ValueError(f"action {acts[i]} for station {name!r} is not in [0, {width})")
        for i in observer.acting_stations:
            a = int(acts[i])
            if not mask[i * width + a]:
                a = actions.WAIT
            line.answer(i, a)
        running = line.advance()
        reward = self._reward()
        observer.update()
        return self._obs, self._mask, self._acting, reward, not running

    def _reward(self) -> float:
        """Team reward since the last call: good parts, scrap, PM and WIP time, at their costs."""
        line = self.line
        line.flush_wip()
        t = line.totals
        good, scrap, pm, wip = t.good, t.scrapped, line.pm_count, t.wip_area
        last_good, last_scrap, last_pm, last_wip = self._last_totals
        self._last_totals = (good, scrap, pm, wip)
        c_good, c_scrap, c_pm, c_wip = self._costs
        return (
            c_good * (good - last_good)
            - c_scrap * (scrap - last_scrap)
            - c_pm * (pm - last_pm)
            - c_wip * (wip - last_wip)
        )

    def decider_actions(self, decider: Decider, out: np.ndarray) -> np.ndarray:
        """Write into `out` what a rule-based `decider` answers for each acting station now
        (for the machine of its oldest request, as the simulator would ask it); the other
        entries are left as they are. Stepping with these answers runs the heuristic's line
        through the env, so its observations can be studied like a learned policy's."""
        stations = self.line.stations
        for i in self._observer.acting_stations:
            st = stations[i]
            out[i] = decider(st, st.pending[0].machine)
        return out

    @property
    def acting_stations(self) -> list[int]:
        """Indices of the stations that must act at this step (the True entries of `acting`)."""
        return self._observer.acting_stations

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

    def kpis(self) -> KPIs:
        """The episode's KPIs over its measured window (after the warm-up) up to now: what
        training logs per episode and evaluation compares with the heuristics."""
        return collect(self.line)

    def snapshot(self) -> LineSnap:
        """A plain picture of the line now (buffers, machine states, counters) for the viewer.
        Like `kpis()` it closes the time accounting at the current clock, which changes
        neither the trajectory nor what the policy observes."""
        return snapshot(self.line)

    def call_every(self, period: float, first: float, fn: Callable[[], None]) -> None:
        """Call `fn()` at simulated times `first`, `first + period`, ... of this episode while
        `step_arrays` runs the line (see `sim.clock.call_every`: the episode is unchanged).
        The viewer takes its `snapshot()` there, so a learned run is shown at exact times."""
        call_every(self.line, period, first, fn)

    # --- PettingZoo API --------------------------------------------------------------------
    def reset(self, seed: int | None = None, options: dict | None = None):
        self.reset_arrays(seed)
        return self._dict_obs(), self._infos()

    def step(self, action_dict: dict[str, int]):
        # only the acting stations' actions are read (the others wait whatever they send)
        acts, names = [0] * self.n_agents, self.possible_agents
        for i in self._observer.acting_stations:
            acts[i] = int(action_dict.get(names[i], 0))
        _, _, _, reward, over = self.step_arrays(acts)
        obs, infos = self._dict_obs(), self._infos()
        agents = self.agents
        rewards = dict.fromkeys(agents, reward)
        terminations = dict.fromkeys(agents, False)
        truncations = dict.fromkeys(agents, over)
        if over:
            self.agents = []
        return obs, rewards, terminations, truncations, infos

    def _dict_obs(self) -> dict:
        """Each station's observation and mask as its own row of one fresh copy per step (two
        array copies instead of two per station; no row aliases the env's state)."""
        rows = zip(self.possible_agents, self._obs.copy(), self._mask.astype(np.int8), strict=True)
        return {name: {"observation": o, "action_mask": m} for name, o, m in rows}

    def _infos(self) -> dict:
        now = self.line.now
        return {
            name: {"acting": acting, "time": now}
            for name, acting in zip(self.possible_agents, self._acting.tolist(), strict=True)
        }

    def close(self) -> None:
        self.line = None
