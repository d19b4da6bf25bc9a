"""Benchmark the visualizer: frames per second drawing a 10-station line, and how the drawing
cost compares with advancing the simulation behind it; then the live loop at 60 simulated
minutes per second on a 6-station line, learned drivers (PS, LoRASA) against the heuristic
driver in the same run.

Why: the viewer must stay fluid (target: >= 30 fps) on a long line, and drawing should not be
what limits how fast a planner can watch a run. Only drawing is timed as "draw" (`draw_frame` +
`display.flip`, on the SDL dummy driver when there is no display); advancing the drivers and
updating the panes is timed separately as "advance". The live cases run the window's own
loop (`App.iterate` at a 30 fps cap) for a while of wall time and report the frames per
second and simulated minutes per second it kept; learned actors are freshly initialised at
the trained size (a decision costs the same whatever the weights). ``--write`` puts the
section into ``benchmarks/RESULTS.md`` between this script's own markers, leaving other
sections alone.

    python benchmarks/bench_viz.py            # print results
    python benchmarks/bench_viz.py --write    # ... and update benchmarks/RESULTS.md
    python benchmarks/bench_viz.py --quick    # tiny smoke run (seconds)
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shlex
import statistics
import sys
import time
from pathlib import Path

import pygame
import torch

from common import cpu_name, publish
from factory_twin.env import LineEnv
from factory_twin.policy.networks import Actor, ActorConfig
from factory_twin.scenario import Scenario, parse_scenario
from factory_twin.train.config import TrainConfig
from factory_twin.viz.app import App
from factory_twin.viz.drivers import HeuristicDriver, close_all
from factory_twin.viz.layout import preferred_size
from factory_twin.viz.learned import LearnedDriver

if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

START, END = "<!-- bench_viz:start -->", "<!-- bench_viz:end -->"
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
TARGET_FPS = 30.0
STATIONS = 10
LIVE_STATIONS = 6
LIVE_SPEED = 60.0
LIVE_KINDS = {"heuristic": None, "ps": "shared", "lorasa": "lora"}


def ten_station_scenario(n: int = STATIONS) -> Scenario:
    """A synthetic n-station (default 10), 3-product line with setups, failures, PM and parallel
    machines, so every kind of box content (several lamps, mixed buffers) is on screen."""
    stations = []
    for i in range(n):
        st: dict = {
            "name": f"station-{i + 1:02d}",
            "machines": 1 + (i % 3 == 1),
            "buffer": 6 + i % 4,
            "process": {"dist": "lognormal", "mean": 0.9 + 0.1 * (i % 4), "cv": 0.3},
        }
        if i % 3 == 0:
            st["setup"] = {"from_to": {"a->b": 3.0, "b->c": 3.0, "c->a": 4.0}}
        if i % 4 == 2:
            st["failure"] = {
                "ttf": {"dist": "weibull", "shape": 2.0, "scale": 200},
                "ttr": {"dist": "exponential", "mean": 8},
            }
            st["pm"] = {"duration": 5}
        stations.append(st)
    doc = {
        "name": f"bench-{n}",
        "horizon": {"warmup": 60, "length": 1_000_000},
        "products": [
            {"name": "a", "mix": 0.5},
            {"name": "b", "mix": 0.3},
            {"name": "c", "mix": 0.2},
        ],
        "source": {"kind": "saturated"},
        "stations": stations,
    }
    return parse_scenario(doc, "bench_viz")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="few frames (smoke test)")
    p.add_argument("--write", action="store_true", help=f"update the section in {RESULTS.name}")
    p.add_argument("--frames", type=int, default=None, help="timed frames per case")
    p.add_argument("--live-seconds", type=float, default=10.0, help="wall time per live case")
    return p.parse_args(argv)


def run_case(panes: int, speed: float, fps: int, frames: int, warm: int) -> dict:
    """Time `frames` viewer frames: advance (simulation + pane update) and draw (+ flip)."""
    scenario = ten_station_scenario()
    policies = ("fifo", "min-setup")
    drivers = [HeuristicDriver(scenario, 0, policies[i % 2]) for i in range(panes)]
    size = preferred_size([d.snapshot() for d in drivers])
    screen = pygame.display.set_mode(size)
    app = App(drivers, minutes_per_second=speed, fps=fps, surface=screen)
    app.selected = 3  # the detail panel is part of a typical frame
    app.advance(120.0)  # past the warm-up: counters, sparkline and dots are live
    draw, advance = [], []
    for i in range(warm + frames):
        t0 = time.perf_counter()
        app.advance(app.step_minutes)
        t1 = time.perf_counter()
        app.draw()
        pygame.display.flip()
        t2 = time.perf_counter()
        if i >= warm:
            advance.append(t1 - t0)
            draw.append(t2 - t1)
    mean_draw, mean_adv = statistics.fmean(draw), statistics.fmean(advance)
    return {
        "panes": panes,
        "speed": speed,
        "size": size,
        "frames": frames,
        "draw_ms": mean_draw * 1e3,
        "draw_p95_ms": sorted(draw)[int(0.95 * (len(draw) - 1))] * 1e3,
        "advance_ms": mean_adv * 1e3,
        "fps": 1.0 / mean_draw,
        "ratio": mean_draw / mean_adv if mean_adv > 0 else float("inf"),
    }


def live_driver(policy: str, scenario: Scenario, seed: int = 0):
    kind = LIVE_KINDS[policy]
    if kind is None:
        return HeuristicDriver(scenario, seed, "min-setup", label="heuristic (min-setup)")
    n, d, a = LineEnv.sizes(scenario)
    torch.manual_seed(seed)
    actor = Actor(ActorConfig(d, a, n, TrainConfig.hidden, kind=kind))  # the trained size
    return LearnedDriver(scenario, actor, seed, policy, start=scenario.horizon.warmup)


def run_live(policy: str, seconds: float, panes: int = 1) -> dict:
    """The window's loop for `seconds` of wall time after the view is ready (first frame at
    the end of the warm-up): achieved fps and simulated minutes per second."""
    scenario = ten_station_scenario(LIVE_STATIONS)
    drivers = [live_driver(policy, scenario, seed) for seed in range(panes)]
    size = preferred_size([d.snapshot() for d in drivers])
    screen = pygame.display.set_mode(size)
    app = App(drivers, LIVE_SPEED, 30, screen, start=scenario.horizon.warmup)
    clock = pygame.time.Clock()
    t0 = time.perf_counter()
    while min(d.available for d in drivers) < app.clock:  # loading: the warm-up is computed
        app.iterate(clock.tick(30) / 1000.0)
    ready = time.perf_counter() - t0
    sim0, n = app.clock, 0
    t1 = time.perf_counter()
    clock.tick(30)
    while time.perf_counter() - t1 < seconds:
        app.iterate(clock.tick(30) / 1000.0)
        n += 1
    wall = time.perf_counter() - t1
    close_all(drivers)
    return {
        "policy": policy,
        "panes": panes,
        "ready_s": ready,
        "fps": n / wall,
        "sim_speed": (min(p.snap.time for p in app.panes) - sim0) / wall,
        "seconds": wall,
    }


def machine_lines(driver: str) -> list[str]:
    cpu = cpu_name()
    return [
        f"- Machine: {platform.platform()}, {cpu}, {os.cpu_count()} logical CPUs",
        f"- pygame-ce {pygame.version.ver} (SDL {'.'.join(map(str, pygame.get_sdl_version()))}),"
        f" video driver `{driver}`, Python {platform.python_version()}",
        f"- Date: {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- Command: `{shlex.join(['python', *sys.argv])}`",
    ]


def render_live(live: list[dict], quick: bool) -> list[str]:
    out = [
        "",
        f"### Live loop at {LIVE_SPEED:g} sim-min/s on a {LIVE_STATIONS}-station line",
        "",
        "The window's own loop (30 fps cap) after the view opens at the end of the warm-up; "
        "learned policies precompute in a worker thread on stacked merged weights. *ready* = "
        "wall seconds until the first frame after the warm-up; *kept* = simulated minutes "
        "shown per wall second.",
        "",
        "| policy | panes | ready s | fps | kept sim-min/s | wall s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for c in live:
        out.append(
            f"| {c['policy']} | {c['panes']} | {c['ready_s']:.2f} | {c['fps']:.1f} | "
            f"{c['sim_speed']:.1f} | {c['seconds']:.1f} |"
        )
    ok = all(c["fps"] >= TARGET_FPS * 0.95 and c["sim_speed"] >= LIVE_SPEED * 0.95 for c in live)
    verdict = "not judged (--quick smoke run)" if quick else ("met" if ok else "MISSED")
    out += ["", f"Target: >= {TARGET_FPS:.0f} fps keeping {LIVE_SPEED:g} sim-min/s (5% slack) "
            f"with every driver: **{verdict}**."]  # fmt: skip
    return out


def render_section(
    args: argparse.Namespace, cases: list[dict], driver: str, live: list[dict]
) -> str:
    out = [
        START,
        "## bench_viz: viewer frame rate on a 10-station line",
        "",
        *machine_lines(driver),
        "",
        f"{STATIONS}-station, 3-product synthetic line under heuristic drivers, one station "
        "selected (detail panel drawn). *draw* = `draw_frame` + `display.flip`; *advance* = "
        "driver steps + pane updates for the same frame; fps = 1 / mean draw time.",
        "",
        "| panes | window | speed (sim min/s at 30 fps) | frames | draw ms (mean / p95) "
        "| fps | advance ms | draw / advance |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for c in cases:
        w, h = c["size"]
        out.append(
            f"| {c['panes']} | {w}x{h} | {c['speed']:g} | {c['frames']} | "
            f"{c['draw_ms']:.2f} / {c['draw_p95_ms']:.2f} | {c['fps']:.0f} | "
            f"{c['advance_ms']:.2f} | {c['ratio']:.2f} |"
        )
    worst = min(c["fps"] for c in cases)
    verdict = "met" if worst >= TARGET_FPS else "MISSED"
    if args.quick:
        verdict = "not judged (--quick smoke run)"
    out += ["", f"Target: >= {TARGET_FPS:.0f} fps in every case: **{verdict}** "
            f"(slowest {worst:.0f} fps)."]  # fmt: skip
    out += [*render_live(live, args.quick), END]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    frames = args.frames or (10 if args.quick else 600)
    warm = 3 if args.quick else 30
    pygame.display.init()
    pygame.font.init()
    try:
        specs = [(1, 30.0), (2, 30.0)] if args.quick else [(1, 30.0), (2, 30.0), (1, 960.0)]
        cases = [run_case(p, s, 30, frames, warm) for p, s in specs]
        seconds = 1.0 if args.quick else args.live_seconds
        live_specs = [(p, 1) for p in LIVE_KINDS] + ([] if args.quick else [("lorasa", 2)])
        live = [run_live(p, seconds, n) for p, n in live_specs]
        driver = pygame.display.get_driver()
    finally:
        pygame.display.quit()
    section = render_section(args, cases, driver, live)
    summary = [f"fps panes={c['panes']} speed={c['speed']:g} = {c['fps']:.1f}" for c in cases]
    summary += [
        f"live policy={c['policy']} panes={c['panes']} fps = {c['fps']:.1f} "
        f"sim-min/s = {c['sim_speed']:.1f}"
        for c in live
    ]
    publish(section, "bench_viz", summary, args.write)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
