"""Checks of the viewer's command-line options, made before anything is loaded or drawn.

Why a module of its own: `watch` and `replay` should fail in a second with one line that says
which option is wrong and what was expected, not after loading a policy or opening a window
(or, with no display, by running invisibly forever). Nothing here imports pygame.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from factory_twin.errors import OptionError, UnknownPolicyError
from factory_twin.policy.registry import resolve

SIDE_BY_SIDE = ("shared", "adapted")  # what `--side-by-side` compares
HEADLESS_DRIVERS = {"dummy", "offscreen"}
VIEWS = ("kpis", "charts")  # what a pane's lower left panel shows (`--view`; key `g` switches)


@dataclass(frozen=True)
class WatchPlan:
    """What `watch` will show: one pane per policy, and where exports go (None: a window)."""

    policies: tuple[str, ...]
    speed: float
    minutes: float
    every: float
    gif: Path | None
    frames: Path | None
    from_start: bool
    view: str = VIEWS[0]
    select: int | None = None  # index of the `--select`ed station

    @property
    def window(self) -> bool:
        return self.gif is None and self.frames is None


def positive(option: str, value: float) -> float:
    if not value > 0:  # also refuses NaN
        raise OptionError(f"{option}: expected a number > 0, got {value:g}")
    return value


def policy_name(name: str, option: str | None = None) -> str:
    """A policy name the registry knows; otherwise its one-line error listing the valid names
    (as `run` and `sweep` word it), prefixed with `option` where two options take names."""
    try:
        resolve(name)
    except UnknownPolicyError as exc:
        if option is None:
            raise
        raise OptionError(f"{option}: {exc}") from None
    return name


def view_name(view: str) -> str:
    if view not in VIEWS:
        raise OptionError(f"--view {view}: expected one of {', '.join(VIEWS)}")
    return view


def station_index(name: str | None, stations: Sequence[str]) -> int | None:
    """The index of `--select`'s station among `stations` (None when not given)."""
    if name is None:
        return None
    if name not in stations:
        raise OptionError(
            f"--select {name}: no such station; expected one of {', '.join(stations)}"
        )
    return list(stations).index(name)


def _nearest_existing(path: Path) -> Path:
    p = path.absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def writable_file(option: str, path: Path) -> Path:
    """A file the export can create or overwrite (its folders are created as needed)."""
    if path.is_dir():
        raise OptionError(f"{option} {path}: is a folder; expected a file name")
    _writable_parent(option, path)
    return path


def writable_dir(option: str, path: Path) -> Path:
    """A folder the export can create or write into."""
    if path.exists() and not path.is_dir():
        raise OptionError(f"{option} {path}: is a file; expected a folder")
    _writable_parent(option, path / "x")
    return path


def _writable_parent(option: str, path: Path) -> None:
    base = _nearest_existing(path.parent)
    if not base.is_dir():
        raise OptionError(f"{option} {path}: {base} is a file, so no folder can be made there")
    if not os.access(base, os.W_OK | os.X_OK):
        raise OptionError(f"{option} {path}: folder {base} is not writable")


def watch_plan(
    *,
    policy: str,
    left: str | None,
    right: str | None,
    side_by_side: bool,
    speed: float,
    minutes: float,
    every: float,
    seed: int,
    gif: Path | None,
    frames: Path | None,
    from_start: bool,
    view: str = VIEWS[0],
    select: str | None = None,
    stations: Sequence[str] = (),
) -> WatchPlan:
    """Check every `watch` option; raise OptionError naming the first bad one. `select` must
    be one of the line's `stations`."""
    if (left is None) != (right is None):
        raise OptionError("--left/--right: give both (one policy per pane) or neither")
    if left is not None and side_by_side:
        raise OptionError(
            "--side-by-side compares shared vs adapted; drop it to use --left/--right"
        )
    if left is not None and right is not None:
        policies = (policy_name(left, "--left"), policy_name(right, "--right"))
    elif side_by_side:
        policies = SIDE_BY_SIDE
    else:
        policies = (policy_name(policy),)
    if seed < 0:
        raise OptionError(f"--seed: expected a whole number >= 0, got {seed}")
    return WatchPlan(
        policies=policies,
        speed=positive("--speed", speed),
        minutes=positive("--minutes", minutes),
        every=positive("--every", every),
        gif=None if gif is None else writable_file("--gif", gif),
        frames=None if frames is None else writable_dir("--frames", frames),
        from_start=from_start,
        view=view_name(view),
        select=station_index(select, stations),
    )


def require_display() -> None:
    """Refuse to open a window nobody can see: without a display SDL would quietly fall back
    to an invisible driver and the viewer would run until killed."""
    forced = os.environ.get("SDL_VIDEODRIVER", "").lower()
    no_server = not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY")
    if forced in HEADLESS_DRIVERS or (sys.platform.startswith("linux") and no_server):
        why = f"SDL_VIDEODRIVER={forced}" if forced in HEADLESS_DRIVERS else "DISPLAY is not set"
        raise OptionError(
            f"no display to open a window on ({why}); export instead with --gif FILE.gif "
            "or --frames FOLDER"
        )
