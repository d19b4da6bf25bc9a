"""Side by side is a fair comparison: every pane of every exported frame shows the same
simulated time, with rule-based and learned policies mixed freely; a learned policy
precomputed in the viewer's worker thread makes exactly the run evaluation makes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
import yaml

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

from factory_twin.env import LineEnv  # noqa: E402
from factory_twin.policy.acting import act  # noqa: E402
from factory_twin.policy.heuristics import min_setup  # noqa: E402
from factory_twin.policy.networks import Actor, ActorConfig  # noqa: E402
from factory_twin.scenario import Scenario, parse_scenario  # noqa: E402
from factory_twin.sim.clock import call_every  # noqa: E402
from factory_twin.sim.kpi import collect  # noqa: E402
from factory_twin.sim.line import Line  # noqa: E402
from factory_twin.train.evaluate import evaluate_actor  # noqa: E402
from factory_twin.viz.app import App  # noqa: E402
from factory_twin.viz.drivers import HeuristicDriver  # noqa: E402
from factory_twin.viz.export import frames  # noqa: E402
from factory_twin.viz.learned import LearnedDriver, StackedPolicy  # noqa: E402

pytestmark = pytest.mark.timeout(120)
SMT = Path(__file__).resolve().parents[1] / "scenarios" / "smt.yaml"


def short_smt(warmup: float = 60.0, length: float = 240.0) -> Scenario:
    doc = yaml.safe_load(SMT.read_text(encoding="utf-8"))
    doc["horizon"] = {"warmup": warmup, "length": length}
    return parse_scenario(doc, "smt-short")


def tiny_actor(sc: Scenario, kind: str = "lora", seed: int = 0) -> Actor:
    n, d, a = LineEnv.sizes(sc)
    torch.manual_seed(seed)
    actor = Actor(ActorConfig(d, a, n, hidden=(16, 16), kind=kind, rank=2))
    with torch.no_grad():  # adapters start at zero; give them something to merge
        for name, p in actor.named_parameters():
            if "lora_B" in name:
                p.normal_(0.0, 0.3)
    return actor


def pane_times_per_frame(drivers, minutes: float, every: float, start: float) -> list[set]:
    seen = []
    for _ in frames(drivers, minutes, every, size=(900, 500), start=start):
        seen.append({d.snapshot().time for d in drivers})
    return seen


def test_heuristic_panes_show_one_time_at_every_frame() -> None:
    sc = short_smt()
    drivers = [HeuristicDriver(sc, 0, p) for p in ("fifo", "conwip")]
    seen = pane_times_per_frame(drivers, 100, 7.5, start=60)
    assert seen == [{60 + min(7.5 * k, 100)} for k in range(1, 15)]


def test_learned_and_heuristic_panes_stay_in_lockstep() -> None:
    sc = short_smt()
    drivers = [
        HeuristicDriver(sc, 3, "min-setup"),
        LearnedDriver(sc, tiny_actor(sc), 3, "lorasa", start=60),
        LearnedDriver(sc, tiny_actor(sc, "shared", 1), 3, "ps", start=60),
    ]
    seen = pane_times_per_frame(drivers, 120, 10, start=60)
    assert seen == [{60.0 + 10 * k} for k in range(1, 13)]
    goods = [d.snapshot().good for d in drivers]
    assert len(set(goods)) > 1  # different policies, visibly different results


def test_window_clock_waits_for_the_slowest_pane() -> None:
    sc = short_smt()
    learned = LearnedDriver(sc, tiny_actor(sc), 0, "lorasa", start=60)
    app = App([HeuristicDriver(sc, 0, "fifo"), learned], 60.0, 30, start=60.0)
    for _ in range(40):
        app.advance(2.0, wait=False)
        times = {p.snap.time for p in app.panes}
        assert len(times) == 1 or app.waiting
    app.advance(0.0, wait=True)
    assert len({p.snap.time for p in app.panes}) == 1
    learned.close()


@pytest.mark.parametrize("kind", ["lora", "shared", "shared-id", "separate"])
def test_stacked_merged_weights_choose_what_the_actor_chooses(kind: str) -> None:
    sc = short_smt()
    actor = tiny_actor(sc, kind)
    env = LineEnv(sc, 240.0, warmup=60.0)
    obs, mask, _ = env.reset_arrays(5)
    stacked = StackedPolicy(actor)
    for _ in range(60):
        want = act(actor, obs[None], mask[None], greedy=True)
        got_actions, got_probs = stacked.decide(obs, mask)
        assert got_actions.tolist() == want.actions[0].tolist()
        assert got_probs == pytest.approx(want.probs[0].detach().numpy(), abs=1e-5)
        obs, mask, _, _, done = env.step_arrays(got_actions)
        if done:
            break


def test_precomputed_run_is_the_evaluated_run() -> None:
    sc = short_smt(length=120.0)
    actor = tiny_actor(sc)
    driver = LearnedDriver(sc, actor, 2, "lorasa", start=60, ahead=30)
    while not driver.done:
        driver.advance(25.0)
    assert driver.time == 180.0
    got, (want,) = driver.env.kpis(), evaluate_actor(sc, actor, [2])
    assert (got.good_parts, got.scrapped_parts) == (want.good_parts, want.scrapped_parts)
    assert got.good_parts > 0
    assert got.throughput == pytest.approx(want.throughput, rel=1e-12)


def test_close_stops_the_worker_at_once() -> None:
    sc = short_smt(length=100_000)
    driver = LearnedDriver(sc, tiny_actor(sc), 0, "lorasa", start=60, ahead=1e9)
    driver.advance_to(61.0)
    driver.close()
    driver._thread.join(timeout=2.0)
    assert not driver._thread.is_alive()


def test_call_every_fires_at_exact_times_and_leaves_the_run_alone() -> None:
    sc = short_smt()
    plain, watched = (Line(sc, 4, decider) for decider in (min_setup, min_setup))
    times: list[float] = []
    call_every(watched, 0.5, 60.0, lambda: times.append(watched.now))
    plain.run_to(300.0)
    watched.run_to(300.0)
    assert times == [60.0 + 0.5 * k for k in range(480)]
    assert collect(plain) == collect(watched)
