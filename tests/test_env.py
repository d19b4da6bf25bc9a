"""The multi-agent environment: PettingZoo API, masks, rewards, reproducibility."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pettingzoo.test import parallel_api_test

from factory_twin.env import LineEnv
from factory_twin.policy.heuristics import min_setup
from factory_twin.scenario import load_scenario
from factory_twin.sim import actions
from factory_twin.sim.run import simulate

SCEN = Path(__file__).parents[1] / "scenarios"


@pytest.mark.parametrize("name", ["bottling", "smt", "engine"])
def test_passes_pettingzoo_parallel_api_test(name):
    parallel_api_test(LineEnv(load_scenario(SCEN / f"{name}.yaml"), episode_minutes=120), 400)


def _roll(env, seed, choose):
    obs, mask, acting = env.reset_arrays(seed)
    total, trace = 0.0, []
    while True:
        acts = np.zeros(env.n_agents, dtype=np.int64)
        for i in np.flatnonzero(acting):
            acts[i] = choose(i, mask[i])
        trace.append((env.line.now, tuple(np.flatnonzero(acting)), tuple(acts)))
        obs, mask, acting, r, done = env.step_arrays(acts)
        total += r
        if done:
            return total, trace


def _first_valid_process(i, m):
    valid = np.flatnonzero(m[1:]) + 1
    return int(valid[0]) if len(valid) else 0


def test_masks_only_offer_what_is_possible():
    env = LineEnv(load_scenario(SCEN / "smt.yaml"), episode_minutes=200)
    obs, mask, acting = env.reset_arrays(1)
    seen_acting = 0
    for _ in range(500):
        line = env.line
        for i, st in enumerate(line.stations):
            if not acting[i]:
                assert mask[i].tolist() == [True] + [False] * (env.n_actions - 1)
                continue
            seen_acting += 1
            counts = st.buffer.counts()
            for k in range(env.n_products):
                assert mask[i, actions.process(k)] == (counts[k] > 0)
                has_fast = st.spec.speed_modes.fast is not None
                assert mask[i, actions.process(k, True)] == (counts[k] > 0 and has_fast)
            assert mask[i, actions.pm(env.n_products)] == (st.spec.pm is not None)
        acts = np.array([_first_valid_process(i, mask[i]) for i in range(env.n_agents)])
        obs, mask, acting, r, done = env.step_arrays(acts)
        assert np.all(np.isfinite(obs))
        if done:
            break
    assert seen_acting > 100


def test_team_reward_adds_up_to_the_scenarios_costs():
    sc = load_scenario(SCEN / "bottling.yaml")
    env = LineEnv(sc, episode_minutes=300)
    total, _ = _roll(env, 3, _first_valid_process)
    line, c = env.line, sc.costs
    line.flush()
    expected = (
        c.good_unit * line.totals.good
        - c.scrap * line.totals.scrapped
        - c.pm * line.pm_count
        - c.wip_per_minute * line.totals.wip_area
    )
    assert line.totals.good > 50
    assert total == pytest.approx(expected, rel=1e-9)


def test_same_seed_same_episode_and_episodes_differ():
    env = LineEnv(load_scenario(SCEN / "engine.yaml"), episode_minutes=200)
    a = _roll(env, 5, _first_valid_process)
    b = _roll(env, 5, _first_valid_process)
    c = _roll(env, 6, _first_valid_process)
    assert a == b
    assert a[0] != c[0]


def test_fast_mode_at_the_bottleneck_earns_more_than_fast_everywhere():
    """The heterogeneity the shipped scenarios are built on: rushing the filler pays, rushing
    every station does not."""
    sc = load_scenario(SCEN / "bottling.yaml")
    env = LineEnv(sc, episode_minutes=1000)
    filler = env.possible_agents.index("filler")

    def fast_where(stations):
        def choose(i, m):
            a = _first_valid_process(i, m)
            return a + 1 if i in stations and a and m[a + 1] else a

        return choose

    neck, everywhere = (
        _roll(env, 1, fast_where({filler}))[0],
        _roll(env, 1, fast_where(range(6)))[0],
    )
    nowhere = _roll(env, 1, fast_where(set()))[0]
    assert neck > nowhere > everywhere


def test_out_of_range_action_is_refused_with_the_station_named():
    env = LineEnv(load_scenario(SCEN / "bottling.yaml"), episode_minutes=60)
    _, mask, acting = env.reset_arrays(0)
    while len(np.flatnonzero(acting)) < 2:  # two stations asking: the second one errs
        _, mask, acting, _, _ = env.step_arrays(np.ones(env.n_agents, dtype=np.int64))
    first, second = np.flatnonzero(acting)[:2]
    before = (env.line.now, env.line.n_pending, [len(st.pending) for st in env.line.stations])
    for bad in (env.n_actions, -1):
        acts = np.zeros(env.n_agents, dtype=np.int64)
        acts[second] = bad
        name = env.possible_agents[second]
        with pytest.raises(ValueError, match=rf"action {bad} for station '{name}'"):
            env.step_arrays(acts)
        after = (env.line.now, env.line.n_pending, [len(st.pending) for st in env.line.stations])
        assert after == before  # station `first` was not answered either
    assert env.line.stations[first].pending


def test_kpis_of_an_episode_answered_by_min_setup_are_those_of_the_plain_simulation():
    """`kpis()` measures the episode's window after the warm-up: answering every request with
    min-setup through the env gives the trajectory and KPIs of simulating the horizon with
    min-setup (the WIP integral is summed in more pieces, hence approx)."""
    sc = load_scenario(SCEN / "smt.yaml")
    h = sc.horizon
    env = LineEnv(sc, h.length, warmup=h.warmup)
    env.reset_arrays(7)
    done = False
    while not done:
        acts = np.zeros(env.n_agents, dtype=np.int64)
        for i in env.acting_stations:
            st = env.line.stations[i]
            acts[i] = min_setup(st, st.pending[0].machine)
        *_, done = env.step_arrays(acts)
    got, want = env.kpis(), simulate(sc, 7, min_setup)
    assert got.sim_minutes == h.length and got.good_parts == want.good_parts > 1000
    assert got.stations == want.stations
    assert got.summary() == pytest.approx(want.summary(), rel=1e-9)


@pytest.mark.parametrize("name", ["smt", "packaging"])
def test_a_heuristic_answering_through_the_env_runs_the_simulators_line(name):
    """decider_actions asks the rule about each acting station's oldest request: the env's
    episode makes exactly the parts the simulator makes with the rule inside it."""
    sc = load_scenario(SCEN / f"{name}.yaml")
    short = sc.model_copy(update={"horizon": sc.horizon.model_copy(update={"length": 600.0})})
    env = LineEnv(short, 600.0, warmup=short.horizon.warmup)
    env.reset_arrays(3)
    acts, done = np.full(env.n_agents, -7, np.int64), False
    while not done:
        env.decider_actions(min_setup, acts)
        *_, done = env.step_arrays(acts)
    expected = simulate(short, 3, min_setup)
    assert env.kpis().good_parts == expected.good_parts > 0
    # the env closes the WIP integral at every step: the same sum in another order
    assert env.kpis().summary() == pytest.approx(expected.summary(), rel=1e-12)
