"""Regenerate the documentation screenshots in docs/.

    python -m factory_twin.viz.screenshots [--out docs] [--minutes 600]

Why a script: the pictures in the docs should always match the current renderer, so they are
produced from the shipped scenarios rather than captured by hand.
"""

from __future__ import annotations

import argparse
from pathlib import Path

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
    return paths


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
