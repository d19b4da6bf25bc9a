"""Regenerate the documentation screenshots in docs/.

    python -m factory_twin.viz.screenshots [--out docs] [--minutes 600]

Why a script: the pictures in the docs should always match the current renderer, so they are
produced from the shipped scenarios (and the scaling benchmark's synthetic 30-station line)
rather than captured by hand. Headless: SDL's dummy driver, `pygame.image.save`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from factory_twin.scenario.synthetic import serial_line
from factory_twin.viz.drivers import HeuristicDriver
from factory_twin.viz.export import save_screenshot

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
# (scenario, station to show in the detail panel): each line's interesting station
SHOTS: tuple[tuple[str, int | None], ...] = (
    ("bottling", 2),  # filler: the wear-prone bottleneck
    ("smt", 1),  # pick-and-place: setup-heavy bottleneck
    ("engine", 0),  # machining: wears and gets preventive maintenance
)


def make_screenshots(out: Path, minutes: float = 600.0, seed: int = 0) -> list[Path]:
    paths = []
    for name, station in SHOTS:
        driver = HeuristicDriver(SCENARIOS / f"{name}.yaml", seed, "min-setup")
        paths.append(save_screenshot([driver], minutes, out / f"{name}.png", selected=station))
    pair = [HeuristicDriver(SCENARIOS / "smt.yaml", seed, p) for p in ("fifo", "min-setup")]
    paths.append(save_screenshot(pair, minutes, out / "side-by-side.png", selected=1))
    paths.append(gantt_view(out / "gantt.png", minutes, seed))
    paths.append(long_line(out / "line-30.png", minutes, seed))
    return paths


def gantt_view(path: Path, minutes: float = 600.0, seed: int = 0) -> Path:
    """The charts view side by side (fifo vs min-setup on the SMT line), from the end of the
    warm-up on, so the charts and the Gantt strip cover measured time only."""
    pair = [HeuristicDriver(SCENARIOS / "smt.yaml", seed, p) for p in ("fifo", "min-setup")]
    for driver in pair:
        driver.advance_to(driver.line.warmup)
    return save_screenshot(pair, minutes, path, (1600, 900), selected=1, view="charts")


def long_line(path: Path, minutes: float = 600.0, seed: int = 0) -> Path:
    """A 30-station synthetic line (the scaling benchmark's) on a 1600 x 1000 screen."""
    driver = HeuristicDriver(serial_line(30, 4800.0), seed, "min-setup")
    return save_screenshot([driver], minutes, path, (1600, 1000), selected=1)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("docs"))
    p.add_argument("--minutes", type=float, default=600.0)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    for path in make_screenshots(args.out, args.minutes, args.seed):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
