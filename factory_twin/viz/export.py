"""Headless exports of the viewer: PNG frames, an animated GIF, a single screenshot.

Why apart from the window: exports run without a display (CI, docs, `--gif`), reuse the
`App`'s lockstep stepping and drawing, and never show window-only things (speed, help,
"computing" notices). `look` options shared by all of them: `size` of the picture, the
`selected` station (detail panel, highlighted Gantt row) and the `view` ("kpis" or "charts").
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import pygame

from factory_twin.viz.app import App
from factory_twin.viz.drivers import Driver, close_all
from factory_twin.viz.layout import preferred_size
from factory_twin.viz.options import VIEWS


def _use_dummy_video_if_headless() -> None:
    """Exports never need a screen; without one (no DISPLAY) SDL must not look for one."""
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")


def _offscreen_app(
    drivers: Sequence[Driver],
    size: tuple[int, int] | None,
    selected: int | None,
    start: float | None = None,
    view: str = VIEWS[0],
) -> App:
    _use_dummy_video_if_headless()
    pygame.font.init()
    snaps = [d.snapshot() for d in drivers]
    app = App(drivers, surface=pygame.Surface(size or preferred_size(snaps)), start=start)
    app.selected, app.view = selected, view
    app.show_status = False
    return app


def frames(
    drivers: Sequence[Driver],
    minutes: float,
    every: float,
    size: tuple[int, int] | None = None,
    selected: int | None = None,
    start: float | None = None,
    view: str = VIEWS[0],
) -> Iterator[pygame.Surface]:
    """Frames at every `every` simulated minutes for `minutes` from `start` (default: where the
    drivers are; the first frame after `every`; ceil(minutes / every) frames, fewer if all
    drivers end earlier). Every pane of a frame shows the same simulated time. The same
    surface is yielded each time: copy or save it before asking for the next one."""
    if every <= 0 or minutes <= 0:
        raise ValueError("minutes and every must be positive")
    app = _offscreen_app(drivers, size, selected, start, view)
    try:
        app.seek(app.clock)
        count = max(1, math.ceil(minutes / every - 1e-9))
        origin = app.clock
        for k in range(1, count + 1):
            app.seek(origin + min(k * every, minutes))
            app.draw()
            yield app.surface
            if app.done:
                break
    finally:
        close_all(drivers)


def export(
    drivers: Sequence[Driver],
    minutes: float,
    every: float,
    frames_dir: str | Path | None = None,
    gif_path: str | Path | None = None,
    size: tuple[int, int] | None = None,
    selected: int | None = None,
    start: float | None = None,
    gif_fps: int = 10,
    view: str = VIEWS[0],
) -> tuple[list[Path], Path | None]:
    """One pass over the frames: PNGs `frame_00001.png`, ... into `frames_dir` and/or an
    animated GIF (looping, `gif_fps` frames per second) at `gif_path`."""
    from PIL import Image  # optional dependency, only needed here

    out = Path(frames_dir) if frames_dir is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    paths, images = [], []
    for i, surface in enumerate(
        frames(drivers, minutes, every, size, selected, start, view), start=1
    ):
        if out is not None:
            paths.append(out / f"frame_{i:05d}.png")
            pygame.image.save(surface, str(paths[-1]))
        if gif_path is not None:
            rgb = pygame.surfarray.array3d(surface).swapaxes(0, 1)
            images.append(
                Image.fromarray(rgb).quantize(colors=255, method=Image.Quantize.MEDIANCUT)
            )
    if gif_path is None:
        return paths, None
    gif = Path(gif_path)
    gif.parent.mkdir(parents=True, exist_ok=True)
    images[0].save(
        gif,
        save_all=True,
        append_images=images[1:],
        duration=max(round(1000 / max(gif_fps, 1)), 20),
        loop=0,
        disposal=1,
    )
    return paths, gif


def export_frames(
    drivers: Sequence[Driver],
    minutes: float,
    every: float,
    out_dir: str | Path,
    size: tuple[int, int] | None = None,
    selected: int | None = None,
    start: float | None = None,
    view: str = VIEWS[0],
) -> list[Path]:
    """Write PNG frames `frame_00001.png`, ... into `out_dir`; return their paths."""
    return export(drivers, minutes, every, out_dir, None, size, selected, start, view=view)[0]


def export_gif(
    drivers: Sequence[Driver],
    minutes: float,
    every: float,
    path: str | Path,
    fps: int = 10,
    size: tuple[int, int] | None = None,
    selected: int | None = None,
    start: float | None = None,
    view: str = VIEWS[0],
) -> Path:
    """Write an animated GIF (looping, `fps` frames per second) of the same frames."""
    gif = export(drivers, minutes, every, None, path, size, selected, start, fps, view)[1]
    assert gif is not None
    return gif


def save_screenshot(
    drivers: Sequence[Driver],
    minutes: float,
    path: str | Path,
    size: tuple[int, int] | None = None,
    selected: int | None = None,
    view: str = VIEWS[0],
) -> Path:
    """Run the drivers for `minutes` (in sparkline-sized steps) and save the last frame."""
    app = _offscreen_app(drivers, size, selected, view=view)
    app.advance(minutes)
    close_all(drivers)
    for _ in range(8):  # let the part dots spread out as they would in motion
        app.draw()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    pygame.image.save(app.surface, str(out))
    return out
