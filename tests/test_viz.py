"""Visualizer tests: pixels of rendered frames, replay fidelity, exports and one loop iteration.

Headless (SDL dummy video driver); every check reads colours at rectangles that come from the
same `layout` function the renderer and click handling use.
"""

from __future__ import annotations

import copy
import hashlib
import os
from pathlib import Path

import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import numpy as np  # noqa: E402
import pygame  # noqa: E402
import torch  # noqa: E402

from factory_twin.env import LineEnv  # noqa: E402
from factory_twin.policy.networks import Actor, ActorConfig  # noqa: E402
from factory_twin.scenario import load_scenario  # noqa: E402
from factory_twin.sim.snapshot import LineSnap, MachineSnap, StationSnap  # noqa: E402
from factory_twin.viz import theme  # noqa: E402
from factory_twin.viz.app import App  # noqa: E402
from factory_twin.viz.drivers import (  # noqa: E402
    Driver,
    HeuristicDriver,
)
from factory_twin.viz.export import export_frames, export_gif  # noqa: E402
from factory_twin.viz.learned import LearnedDriver  # noqa: E402
from factory_twin.viz.pane import PaneState, kpi_values  # noqa: E402
from factory_twin.viz.render import draw_frame, layout, render_detail  # noqa: E402

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
SIZE = (1280, 720)


@pytest.fixture(scope="module", autouse=True)
def _fonts() -> None:
    pygame.font.init()


def colours_in(surface: pygame.Surface, rect: pygame.Rect) -> set[tuple[int, int, int]]:
    px = pygame.surfarray.array3d(surface)[rect.left : rect.right, rect.top : rect.bottom]
    return {tuple(int(v) for v in c) for c in np.unique(px.reshape(-1, 3), axis=0)}


def pixel(surface: pygame.Surface, pos: tuple[int, int]) -> tuple[int, int, int]:
    return tuple(surface.get_at(pos))[:3]


def run_pane(driver: HeuristicDriver, minutes: float, step: float = 10.0) -> PaneState:
    pane = PaneState.start(driver.label, driver.snapshot())
    t = 0.0
    while t < minutes:
        pane.update(driver.advance(step))
        t += step
    return pane


def machine(state: str, product: int = 0) -> MachineSnap:
    return MachineSnap(state=state, product=product, age=12.0)


def station(name: str, buffer: list[int], capacity: int | None, states: list[str]) -> StationSnap:
    return StationSnap(
        name=name,
        buffer=buffer,
        capacity=capacity,
        machines=[machine(s) for s in states],
        processed=10,
        scrapped=1,
        setups=2,
        pms=0,
        failures=1,
        state_fractions={"busy": 0.6, "setup": 0.1, "starved": 0.3},
    )


def synthetic(stations: list[StationSnap]) -> LineSnap:
    return LineSnap(
        time=100.0, products=["alpha", "beta"], stations=stations, good=9, scrapped=1, wip=7,
        throughput=0.09,
    )  # fmt: skip


# --- rendering of the shipped scenarios ---------------------------------------------------------


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.yaml")), ids=lambda p: p.stem)
def test_shipped_scenario_frame_shows_states_and_products(path: Path) -> None:
    pane = run_pane(HeuristicDriver(path, 0, "min-setup"), 600)
    surface = pygame.Surface(SIZE)
    (lay,) = draw_frame(surface, [pane])
    assert len(colours_in(surface, surface.get_rect())) > 50  # not blank
    snap = pane.snap
    assert len(lay.stations) == len(snap.stations)
    for sl, st in zip(lay.stations, snap.stations, strict=True):
        seen = colours_in(surface, sl.box)
        for m, lamp in zip(st.machines, sl.lamps, strict=True):
            assert theme.state_colour(m.state) in seen
            assert pixel(surface, lamp.center) == theme.state_colour(m.state)
        scale = st.capacity or max(sum(st.buffer), 10)
        for k, count in enumerate(st.buffer):
            if count * sl.buffer.width / scale >= 3:
                assert theme.product_colour(k) in colours_in(surface, sl.buffer)


def test_down_machine_lamp_is_red() -> None:
    snap = synthetic(
        [
            station("cut", [1, 0], 4, ["busy", "busy"]),
            station("weld", [0, 2], 4, ["idle"]),
            station("pack", [0, 0], 4, ["starved"]),
        ]
    )
    down = copy.deepcopy(snap)
    down.stations[0].machines[1].state = "down"
    surface = pygame.Surface(SIZE)
    rect = surface.get_rect()
    draw_frame(surface, [PaneState.start("down", down)])
    lamps = layout(down, rect).stations[0].lamps
    assert pixel(surface, lamps[1].center) == theme.STATE_COLOURS["down"]
    assert pixel(surface, lamps[0].center) == theme.STATE_COLOURS["busy"]
    weld = layout(down, rect).stations[1].lamps[0]
    assert pixel(surface, weld.center) == theme.STATE_COLOURS["idle"]


def test_buffer_bars_fill_to_their_fraction() -> None:
    snap = synthetic(
        [
            station("full", [3, 5], 8, ["busy"]),
            station("empty", [0, 0], 8, ["starved"]),
            station("half", [2, 2], 8, ["busy"]),
            station("open", [25, 0], None, ["busy"]),  # infinite: 25 of a 40-part scale
        ]
    )
    surface = pygame.Surface(SIZE)
    draw_frame(surface, [PaneState.start("buffers", snap)])
    bars = [s.buffer for s in layout(snap, surface.get_rect()).stations]
    products = {theme.product_colour(0), theme.product_colour(1)}
    full, empty, half, open_ = bars
    assert pixel(surface, (full.right - 1, full.centery)) in products
    assert pixel(surface, (full.left, full.centery)) == theme.product_colour(0)
    assert pixel(surface, (full.right - 1, full.centery)) == theme.product_colour(1)
    assert pixel(surface, (empty.left, empty.centery)) == theme.BAR_BG
    assert pixel(surface, (empty.right - 1, empty.centery)) == theme.BAR_BG
    assert pixel(surface, (half.left + half.width // 2 - 2, half.top + 1)) in products
    assert pixel(surface, (half.left + half.width // 2 + 2, half.top + 1)) == theme.BAR_BG
    edge = open_.left + round(open_.width * 25 / 40)
    assert pixel(surface, (edge - 2, open_.top + 1)) == theme.product_colour(0)
    assert pixel(surface, (edge + 2, open_.top + 1)) == theme.BAR_BG


def test_long_line_wraps_and_clicks_map_to_stations() -> None:
    snap = synthetic([station(f"s{i}", [1, 1], 5, ["busy"]) for i in range(10)])
    lay = layout(snap, pygame.Rect(0, 0, 880, 800))
    tops = sorted({s.box.top for s in lay.stations})
    assert len(tops) == 2  # two rows
    assert len(lay.arrows) == 11  # source, 9 links, sink
    assert all(lay.rect.contains(s.box) for s in lay.stations)
    for i, s in enumerate(lay.stations):
        assert lay.station_at(s.box.center) == i
    assert lay.station_at((1, 1)) is None


def test_detail_panel_draws_action_probabilities_when_present() -> None:
    st = station("pick", [1, 2], 6, ["busy"])
    rect = pygame.Rect(0, 0, 520, 300)
    plain = pygame.Surface(rect.size)
    render_detail(plain, rect, st, ["alpha", "beta"])
    assert theme.ACCENT not in colours_in(plain, rect)
    st.action_probs = [0.05, 0.6, 0.1, 0.15, 0.05, 0.05]  # wait, alpha x2, beta x2, pm
    learned = pygame.Surface(rect.size)
    render_detail(learned, rect, st, ["alpha", "beta"])
    assert theme.ACCENT in colours_in(learned, rect)
    assert theme.state_colour("busy") in colours_in(learned, rect)


# --- side by side --------------------------------------------------------------------------------


def test_side_by_side_panes_differ_by_policy() -> None:
    panes = [
        run_pane(HeuristicDriver(SCENARIOS / "smt.yaml", 0, policy), 600)
        for policy in ("fifo", "min-setup")
    ]
    surface = pygame.Surface((1764, 760))
    left, right = draw_frame(surface, panes)
    assert left.rect.right <= right.rect.left
    assert left.rect.width == pytest.approx(right.rect.width, abs=1)
    k0, k1 = (kpi_values(p.snap) for p in panes)
    assert k0["throughput"] != k1["throughput"]
    assert panes[0].snap.throughput != panes[1].snap.throughput
    assert panes[0].label != panes[1].label

    def digest(rect: pygame.Rect) -> str:
        return hashlib.sha256(pygame.image.tobytes(surface.subsurface(rect), "RGB")).hexdigest()

    assert digest(left.kpi) != digest(right.kpi)
    assert digest(left.title) != digest(right.title)


# --- learned driver ----------------------------------------------------------------------------


def test_learned_driver_moves_through_the_env_and_shows_the_policys_probabilities() -> None:
    sc = load_scenario(SCENARIOS / "smt.yaml")
    n, d, a = LineEnv.sizes(sc)
    torch.manual_seed(0)
    driver = LearnedDriver(sc, Actor(ActorConfig(d, a, n, (16,), kind="shared")), seed=2)
    assert isinstance(driver, Driver)
    snap = driver.advance(60.0)
    assert driver.time >= 60.0 and not driver.done
    assert snap.time == pytest.approx(driver.time, abs=1e-4)  # snapshots round the clock
    assert snap.extra["end"] == sc.horizon.warmup + sc.horizon.length
    probs = [st.action_probs for st in snap.stations]
    assert all(p is not None and len(p) == a and sum(p) == pytest.approx(1.0, abs=1e-3)
               for p in probs)  # fmt: skip
    assert driver.snapshot().time == snap.time  # looking does not move the clock


# --- export and the loop -------------------------------------------------------------------------


def test_export_frames_writes_one_png_per_interval(tmp_path: Path) -> None:
    driver = HeuristicDriver(SCENARIOS / "engine.yaml", 0, "fifo")
    paths = export_frames([driver], minutes=50, every=10, out_dir=tmp_path, size=(640, 480))
    assert len(paths) == 5
    assert all(p.exists() and p.suffix == ".png" for p in paths)
    assert pygame.image.load(str(paths[-1])).get_size() == (640, 480)


def test_export_gif_is_animated(tmp_path: Path) -> None:
    from PIL import Image

    drivers = [HeuristicDriver(SCENARIOS / "smt.yaml", 0, p) for p in ("fifo", "min-setup")]
    out = export_gif(drivers, minutes=40, every=10, path=tmp_path / "a.gif", size=(800, 360))
    with Image.open(out) as gif:
        assert gif.n_frames == 4
        assert gif.size == (800, 360)


def test_loop_iteration_handles_click_and_keys() -> None:
    pygame.display.init()
    try:
        screen = pygame.display.set_mode(SIZE)
        driver = HeuristicDriver(SCENARIOS / "bottling.yaml", 0, "min-setup")
        app = App([driver], minutes_per_second=60.0, fps=30, surface=screen)
        assert app.iterate()
        t0 = app.panes[0].snap.time
        assert t0 > 0  # a tick advanced the line
        target = app.layouts[0].stations[2].box
        pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=target.center, button=1))
        assert app.iterate()
        assert app.selected == 2
        assert theme.SELECTED_BORDER in colours_in(screen, target)

        def key(k: int) -> None:
            pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=k, mod=0, unicode=""))

        key(pygame.K_SPACE)
        app.iterate()
        paused_at = app.panes[0].snap.time
        app.iterate()
        assert app.paused and app.panes[0].snap.time == paused_at
        key(pygame.K_RIGHT)
        app.iterate()
        assert app.panes[0].snap.time == pytest.approx(paused_at + 2.0)  # 60 min/s / 30 fps
        key(pygame.K_KP_PLUS)
        app.iterate()
        assert app.minutes_per_second == 120.0
        key(pygame.K_MINUS)
        key(pygame.K_MINUS)
        app.iterate()
        assert app.minutes_per_second == 30.0
        pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=(2, 2), button=1))
        app.iterate()
        assert app.selected is None
        key(pygame.K_ESCAPE)
        assert not app.iterate()
    finally:
        pygame.display.quit()
