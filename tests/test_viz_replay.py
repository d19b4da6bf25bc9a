"""Replay: the whole horizon recorded compactly (key snapshots and changes), replayed minute
by minute as the live run was, with seeking both ways, and a title that says what is shown."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import pygame  # noqa: E402

from factory_twin.scenario import load_scenario  # noqa: E402
from factory_twin.viz.app import App  # noqa: E402
from factory_twin.viz.drivers import (  # noqa: E402
    Driver,
    HeuristicDriver,
    ReplayDriver,
    replay_from_rows,
    replay_run,
)
from factory_twin.viz.recording import (  # noqa: E402
    KEY_MINUTES,
    SLOW_MINUTES,
    Recording,
    record_run,
    slots,
)
from factory_twin.viz.timeline import WINDOW_MINUTES  # noqa: E402

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
SMT = SCENARIOS / "smt.yaml"


@pytest.fixture(scope="module", autouse=True)
def _fonts() -> None:
    pygame.font.init()


def round_trip(rows: list) -> list:
    return json.loads(json.dumps(rows))  # what the database does to them


def test_every_recorded_minute_replays_the_live_run() -> None:
    rows = round_trip(record_run(HeuristicDriver(SMT, 3, "min-setup"), until=700.0))
    assert [r[0] for r in rows] == list(range(len(rows))) == list(range(12))  # one per hour
    recording = Recording.from_rows(rows)
    live = HeuristicDriver(SMT, 3, "min-setup")
    for t in range(0, 701):
        want, got = live.advance_to(float(t)), recording.at(float(t))
        assert got.time == want.time
        assert slots(got) == slots(want), t  # machine states, buffers, counters, totals
        assert got.throughput == pytest.approx(want.throughput, rel=1e-6, abs=1e-9)
        if t % SLOW_MINUTES == 0:  # slow fields are fresh here, rounded
            for g, w in zip(got.stations, want.stations, strict=True):
                for s, v in w.state_fractions.items():
                    assert g.state_fractions[s] == pytest.approx(v, abs=5e-4)
                assert [m.age for m in g.machines] == pytest.approx(
                    [m.age for m in w.machines], abs=0.5
                )
    assert recording.end == 700.0


@pytest.mark.parametrize("name", ["smt", "bottling", "engine"])
def test_whole_horizon_is_recorded_in_under_8_kb_per_simulated_hour(name: str) -> None:
    driver = HeuristicDriver(SCENARIOS / f"{name}.yaml", 0, "min-setup")
    rows = record_run(driver)
    sc = load_scenario(SCENARIOS / f"{name}.yaml")
    horizon = sc.horizon.warmup + sc.horizon.length
    assert driver.done and Recording.from_rows(rows).end == horizon  # the whole horizon
    size = sum(len(json.dumps(p, separators=(",", ":"))) for _, _, p in rows)
    per_hour = size / (horizon / 60.0)
    full = len(json.dumps(driver.snapshot().to_dict(), separators=(",", ":"))) * 60
    assert per_hour < 8000
    assert per_hour < full / 15  # against a full snapshot every minute


def test_seeking_in_any_order_gives_the_same_snapshots() -> None:
    recording = Recording.from_rows(
        round_trip(record_run(HeuristicDriver(SMT, 1, "fifo"), until=400.0))
    )
    forward = {t: recording.at(float(t)).to_dict() for t in range(0, 401, 3)}
    order = list(forward)
    random.Random(7).shuffle(order)
    for t in order:
        assert recording.at(float(t)).to_dict() == forward[t], t
    assert recording.at(3.5).to_dict() == forward[3]  # between steps: the last one before


def test_rows_of_plain_snapshots_from_older_recordings_still_replay() -> None:
    live = HeuristicDriver(SMT, 2, "min-setup")
    rows = [(k, t, live.advance_to(t).to_dict()) for k, t in enumerate((0.0, 20.0, 40.0))]
    replay = replay_from_rows(round_trip(rows))
    assert replay.advance(19.0).time == 0.0
    assert replay.advance(1.0).to_dict() == rows[1][2]
    assert replay.advance(30.0).time == 40.0 and replay.done


def test_a_recorded_run_through_the_database_is_titled_with_what_it_shows(tmp_path: Path) -> None:
    from factory_twin.store.runlog import open_db

    db = open_db(f"sqlite:///{tmp_path / 'viz.sqlite'}")
    try:
        scenario_id = db.ensure_scenario("smt", "0" * 64, "name: smt")
        run_id = db.start_run(scenario_id, "simulate", "min-setup", 4, {})
        db.add_events(run_id, record_run(HeuristicDriver(SMT, 4, "min-setup"), until=300.0))
        replay = replay_run(db, run_id)
    finally:
        db.close()
    assert isinstance(replay, Driver)
    assert replay.label == f"replay of run {run_id} · smt · min-setup · seed 4"
    pygame.display.init()
    try:
        screen = pygame.display.set_mode((1100, 700))
        app = App([replay], minutes_per_second=60.0, fps=30, surface=screen)
        app.seek(125.0)
        assert app.iterate()
        caption = pygame.display.get_caption()[0]
        assert caption == f"factory-twin · {replay.label} · t 02:07"  # 125 + one 2-minute frame
    finally:
        pygame.display.quit()


def _key(app: App, key: int) -> None:
    app.handle(pygame.event.Event(pygame.KEYDOWN, key=key, mod=0, unicode=""))


def test_keys_seek_a_replay_both_ways_and_the_charts_show_the_past() -> None:
    rows = record_run(HeuristicDriver(SMT, 0, "min-setup"), until=1500.0)
    app = App([replay_from_rows(rows)], surface=pygame.Surface((1100, 700)))
    assert (app.origin, app.end) == (0.0, 1500.0)
    live = HeuristicDriver(SMT, 0, "min-setup")
    _key(app, pygame.K_PAGEDOWN)
    assert app.clock == 60.0 and app.panes[0].snap.time == 60.0
    _key(app, pygame.K_5)
    assert app.clock == 750.0
    assert slots(app.panes[0].snap) == slots(live.advance_to(750.0))
    # the Gantt memory covers the chart window before the jump, as if it had been watched
    runs = app.panes[0].timeline.stations[0]
    assert runs[0][0] == 750.0 - WINDOW_MINUTES
    _key(app, pygame.K_PAGEUP)
    assert app.clock == 690.0 and app.panes[0].snap.time == 690.0
    assert app.panes[0].timeline.stations[0][0][0] == 690.0 - WINDOW_MINUTES
    _key(app, pygame.K_SPACE)
    _key(app, pygame.K_LEFT)  # paused: one frame back (30 min/s at 30 fps: one minute)
    assert app.clock == 689.0
    _key(app, pygame.K_END)
    assert app.clock == 1500.0 and app.done
    _key(app, pygame.K_HOME)
    assert app.clock == 0.0 and app.panes[0].snap.time == 0.0
    assert not isinstance(app.drivers[0], HeuristicDriver)


def test_a_live_run_only_jumps_forward() -> None:
    app = App([HeuristicDriver(SMT, 0, "fifo")], surface=pygame.Surface((1100, 700)))
    assert not app.seekable
    _key(app, pygame.K_PAGEDOWN)
    assert app.clock == 60.0
    _key(app, pygame.K_PAGEUP)
    assert app.clock == 60.0 and app.panes[0].snap.time == 60.0


def test_replay_driver_rewinds_within_the_recording() -> None:
    replay = ReplayDriver(Recording.from_rows(record_run(HeuristicDriver(SMT, 0), until=130.0)))
    replay.advance_to(100.0)
    assert replay.rewind(-5.0).time == 0.0
    assert replay.rewind(KEY_MINUTES + 3).time == KEY_MINUTES + 3
    assert replay.rewind(1e9).time == 130.0 and replay.done


def test_a_learned_run_replays_with_its_action_probabilities() -> None:
    import torch

    from factory_twin.env import LineEnv
    from factory_twin.policy.networks import Actor, ActorConfig
    from factory_twin.viz.learned import LearnedDriver

    sc = load_scenario(SMT)
    n, d, a = LineEnv.sizes(sc)
    torch.manual_seed(0)
    actor = Actor(ActorConfig(d, a, n, (16,), kind="shared"))
    recorder = LearnedDriver(sc, actor, seed=2)
    try:
        rows = round_trip(record_run(recorder, until=90.0))
    finally:
        recorder.close()
    live = LearnedDriver(sc, actor, seed=2)
    try:
        recording = Recording.from_rows(rows)
        for t in (30.0, 60.0, 90.0):  # slow fields are fresh at multiples of SLOW_MINUTES
            want, got = live.advance_to(t), recording.at(t)
            assert slots(got) == slots(want), t
            assert any(st.action_probs for st in want.stations)
            for g, w in zip(got.stations, want.stations, strict=True):
                if w.action_probs is None:  # the station has not decided yet
                    assert g.action_probs is None
                else:
                    assert len(w.action_probs) == a
                    assert g.action_probs == pytest.approx(w.action_probs, abs=6e-4)
        between = recording.at(65.0)  # between slow steps: the probabilities of minute 60
        assert [st.action_probs for st in between.stations] == [
            st.action_probs for st in recording.at(60.0).stations
        ]
    finally:
        live.close()
