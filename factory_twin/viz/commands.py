"""What `watch` and `replay` do once their options are checked: exports or the window.

Why here and not in the CLI: the command line only parses and prints; choosing the start
time, checking a replay's `--select` against the recorded stations and sizing a replay's
export are the viewer's business, and this keeps them testable without typer.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from factory_twin.viz.app import run_window, view_start
from factory_twin.viz.drivers import Driver, ReplayDriver
from factory_twin.viz.export import export, export_gif
from factory_twin.viz.options import VIEWS, WatchPlan, station_index


def show(drivers: Sequence[Driver], plan: WatchPlan) -> Iterator[str]:
    """Carry out a checked `watch` plan: exports, or the window; yields lines to print."""
    start = view_start(drivers, plan.from_start)
    if not plan.window:
        paths, gif = export(drivers, plan.minutes, plan.every, plan.frames, plan.gif,
                            selected=plan.select, start=start, view=plan.view)  # fmt: skip
        if plan.frames is not None:
            yield f"wrote {len(paths)} frames to {plan.frames}"
        if gif is not None:
            yield f"wrote {gif}"
    else:
        run_window(drivers, plan.speed, start=start, selected=plan.select, view=plan.view)


def replay(
    driver: ReplayDriver,
    speed: float,
    gif: Path | None = None,
    select: str | None = None,
    view: str = VIEWS[0],
) -> Iterator[str]:
    """The recorded run in the window (seek with the keys), or as a GIF of 60 frames over
    the whole recording."""
    selected = station_index(select, [st.name for st in driver.snapshot().stations])
    if gif is None:
        run_window([driver], speed, selected=selected, view=view)
        return
    span = max(driver.recording.end - driver.recording.start, 1.0)
    out = export_gif([driver], span, max(span / 60, 1.0), gif, selected=selected, view=view)
    yield f"wrote {out}"
