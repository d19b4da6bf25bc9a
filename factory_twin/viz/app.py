"""The interactive viewer window and the headless PNG / GIF exporters.

Controls in the window:

    space          pause / resume
    right arrow    while paused: advance one small step (one frame's worth of simulated time)
    + / -          double / halve the speed in simulated minutes per second (keypad too; '='
                   works as '+' so no shift is needed)
    mouse click    on a station box: show its detail panel (in every pane, to compare the same
                   station across policies); click it again or click elsewhere to close
    h / ?          key help (the list is `overlay.KEYS`)
    Esc / close    quit (background computation stops at once)

Why an `App` object: one loop iteration (`iterate`) is an ordinary method call, so tests can
post a synthetic click and check the result, and the exporters reuse the same stepping and
drawing without opening a window.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import pygame

from factory_twin.errors import OptionError
from factory_twin.viz.compare import frame_areas
from factory_twin.viz.drivers import Driver, close_all
from factory_twin.viz.layout import PaneLayout, layout, preferred_size
from factory_twin.viz.options import HEADLESS_DRIVERS, WatchPlan
from factory_twin.viz.overlay import draw_help, draw_notice
from factory_twin.viz.pane import SAMPLE_MINUTES, PaneState, clock_text
from factory_twin.viz.render import draw_frame

MIN_SPEED = 0.25  # simulated minutes per second
MAX_SPEED = 7680.0  # about five simulated days per second
_FRAME_W, _FRAME_H = 16, 90  # window decorations and a task bar, in pixels
_PLUS_KEYS = {pygame.K_PLUS, pygame.K_KP_PLUS, pygame.K_EQUALS}
_MINUS_KEYS = {pygame.K_MINUS, pygame.K_KP_MINUS, pygame.K_UNDERSCORE}


def _use_dummy_video_if_headless() -> None:
    """Exports never need a screen; without one (no DISPLAY) SDL must not look for one."""
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")


class App:
    """Viewer state and one-iteration logic, independent of how frames are shown."""

    def __init__(
        self,
        drivers: Sequence[Driver],
        minutes_per_second: float = 30.0,
        fps: int = 30,
        surface: pygame.Surface | None = None,
        start: float | None = None,
    ) -> None:
        """`start`: the simulated time the view opens at (default: where the drivers are)."""
        if not drivers:
            raise ValueError("the viewer needs at least one driver")
        self.drivers = list(drivers)
        self.panes = [PaneState.start(d.label, d.snapshot()) for d in self.drivers]
        self.clock = max(d.time for d in self.drivers) if start is None else float(start)
        self.grid = max(d.grid for d in self.drivers)
        self.minutes_per_second = float(minutes_per_second)
        self.fps = max(int(fps), 1)
        self.surface = surface or pygame.Surface(preferred_size([p.snap for p in self.panes]))
        self.paused = False
        self.running = True
        self.waiting = False  # some driver has not computed the current time yet
        self.selected: int | None = None
        self.show_status = True  # speed / pause in the title bars (off for exported pictures)
        self.show_help = False
        self.layouts: list[PaneLayout] = []

    # --- state changes -----------------------------------------------------------------------
    @property
    def done(self) -> bool:
        return all(d.done for d in self.drivers)

    @property
    def step_minutes(self) -> float:
        """Simulated minutes of one frame at the current speed (the single-step size)."""
        return self.minutes_per_second / self.fps

    def _on_grid(self, time: float) -> float:
        """The latest time at or before `time` that every driver can show."""
        if self.grid <= 0:
            return time
        return math.floor(time / self.grid + 1e-9) * self.grid

    def seek(self, time: float, wait: bool = True) -> None:
        """Move every pane to the same simulated `time` (lockstep), in steps of at most
        SAMPLE_MINUTES so the sparkline and the part dots see every change even at high
        speed. Without `wait` the clock stops where the slowest precomputing driver is."""
        if not wait:
            reach = min(d.available for d in self.drivers)
            self.waiting = reach < time and not self.done
            time = min(time, max(reach, self.clock))
        start = self.clock
        chunks = max(1, math.ceil((time - start) / SAMPLE_MINUTES - 1e-9))
        for k in range(1, chunks + 1):
            at = self._on_grid(start + (time - start) * k / chunks)
            for driver, pane in zip(self.drivers, self.panes, strict=True):
                snap = driver.advance_to(at, wait)
                if snap is not pane.snap:
                    pane.update(snap)
        self.clock = max(self.clock, time)

    def advance(self, minutes: float, wait: bool = True) -> None:
        """Move every pane `minutes` forward from the common clock."""
        self.seek(self.clock + max(minutes, 0.0), wait)

    def set_speed(self, minutes_per_second: float) -> None:
        self.minutes_per_second = min(max(minutes_per_second, MIN_SPEED), MAX_SPEED)

    def click(self, pos: tuple[int, int]) -> None:
        """Select the station under `pos` (toggle if already selected); elsewhere: deselect."""
        hit = None
        rects, _ = frame_areas(self.surface.get_rect(), len(self.panes))
        for rect, pane in zip(rects, self.panes, strict=True):
            if rect.collidepoint(pos):
                hit = layout(pane.snap, rect).station_at(pos)
                break
        self.selected = None if hit is None or hit == self.selected else hit

    def handle(self, event: pygame.event.Event) -> None:
        """React to one pygame event."""
        if event.type == pygame.QUIT:
            self.running = False
            close_all(self.drivers)
        elif event.type == pygame.KEYDOWN:
            key = event.key
            if key == pygame.K_ESCAPE:
                self.running = False
                close_all(self.drivers)
            elif key in (pygame.K_h, pygame.K_QUESTION) or getattr(event, "unicode", "") == "?":
                self.show_help = not self.show_help
            elif key == pygame.K_SPACE:
                self.paused = not self.paused
            elif key == pygame.K_RIGHT and self.paused:
                self.advance(self.step_minutes)
            elif key in _PLUS_KEYS or getattr(event, "unicode", "") == "+":
                self.set_speed(self.minutes_per_second * 2)
            elif key in _MINUS_KEYS:
                self.set_speed(self.minutes_per_second / 2)
        elif event.type == pygame.MOUSEBUTTONDOWN and getattr(event, "button", 1) == 1:
            self.click(event.pos)
        elif event.type in (pygame.VIDEORESIZE, pygame.WINDOWSIZECHANGED):
            if pygame.display.get_surface() is not None:
                self.surface = pygame.display.get_surface()

    # --- frames ------------------------------------------------------------------------------
    def status(self) -> str:
        speed = f"{self.minutes_per_second:g} min/s"
        if self.done:
            return f"finished · {speed}"
        if self.paused:
            return f"PAUSED · {speed}"
        return f"computing ahead… · {speed}" if self.waiting else speed

    def draw(self) -> None:
        for pane in self.panes:
            pane.animate()
        status = self.status() if self.show_status else None
        self.layouts = draw_frame(self.surface, self.panes, self.selected, status)
        if not self.show_status:
            return  # exported pictures show the line only
        for lay, pane in zip(self.layouts, self.panes, strict=True):
            behind = self.clock - pane.snap.time
            if behind > max(self.grid, 1e-6) and not self.done:
                message = f"computing the policy's run… at {clock_text(pane.snap.time)}"
                if pane.snap.time < pane.warmup:
                    message = f"simulating the warm-up ({pane.warmup:.0f} min) with the policy…"
                draw_notice(self.surface, lay.line_area, message)
        if self.show_help:
            draw_help(self.surface)

    def tick(self, dt: float | None = None) -> None:
        """One frame: advance by `dt` wall seconds at the current speed (unless paused), draw."""
        if not self.paused:
            seconds = 1.0 / self.fps if dt is None else min(max(dt, 0.0), 0.25)
            self.advance(self.minutes_per_second * seconds, wait=False)
        self.draw()

    def iterate(self, dt: float | None = None) -> bool:
        """Handle pending events, then tick and show the frame; False once the user quit."""
        for event in pygame.event.get():
            self.handle(event)
        if not self.running:
            return False
        self.tick(dt)
        if self.surface is pygame.display.get_surface():
            pygame.display.flip()
        return True


def run_window(
    drivers: Sequence[Driver],
    minutes_per_second: float = 30.0,
    fps: int = 30,
    size: tuple[int, int] | None = None,
    title: str = "factory-twin",
    start: float | None = None,
) -> None:
    """Open the interactive viewer and run it until the user quits (see module docstring).
    A display that cannot be opened is an OptionError (one line, exit 2), not a traceback."""
    problem = None
    try:
        pygame.display.init()  # not pygame.init(): the viewer needs no audio device
        if pygame.display.get_driver() in HEADLESS_DRIVERS:  # SDL fell back: nothing to see
            problem = f"no display reachable, SDL chose {pygame.display.get_driver()!r}"
    except pygame.error as exc:
        problem = str(exc)
    if problem is not None:
        pygame.display.quit()
        raise OptionError(
            f"cannot open a window ({problem}); export instead with --gif FILE.gif or "
            "--frames FOLDER"
        )
    pygame.font.init()
    try:
        snaps = [d.snapshot() for d in drivers]
        limit = screen_limit()
        screen = pygame.display.set_mode(size or preferred_size(snaps, limit), pygame.RESIZABLE)
        pygame.display.set_caption(title)
        app = App(drivers, minutes_per_second, fps, screen, start)
        clock = pygame.time.Clock()
        clock.tick(fps)
        while app.iterate(clock.tick(fps) / 1000.0):
            pass
    finally:
        close_all(drivers)
        pygame.display.quit()  # fonts stay loaded: the text cache keeps using them


def screen_limit() -> tuple[int, int] | None:
    """The largest window that fits the (first) desktop, leaving room for the window frame
    and a task bar; None if SDL cannot tell."""
    sizes = pygame.display.get_desktop_sizes()
    if not sizes or min(sizes[0]) <= 0:
        return None
    w, h = sizes[0]
    return max(w - _FRAME_W, 640), max(h - _FRAME_H, 480)


def view_start(drivers: Sequence[Driver], from_start: bool) -> float:
    """Where a view opens: after the warm-up (its counters are zero before), unless asked."""
    if from_start:
        return max(d.time for d in drivers)
    return max(float(d.snapshot().extra.get("warmup", 0.0)) for d in drivers)


def show(drivers: Sequence[Driver], plan: WatchPlan) -> Iterator[str]:
    """Carry out a checked `watch` plan: exports, or the window; yields lines to print."""
    start = view_start(drivers, plan.from_start)
    if not plan.window:
        paths, gif = export(drivers, plan.minutes, plan.every, plan.frames, plan.gif, start=start)
        if plan.frames is not None:
            yield f"wrote {len(paths)} frames to {plan.frames}"
        if gif is not None:
            yield f"wrote {gif}"
    else:
        run_window(drivers, minutes_per_second=plan.speed, title=_title(drivers), start=start)


def _title(drivers: Sequence[Driver]) -> str:
    return "factory-twin · " + " vs ".join(d.label for d in drivers)


# --- headless export ---------------------------------------------------------------------------


def _offscreen_app(
    drivers: Sequence[Driver],
    size: tuple[int, int] | None,
    selected: int | None,
    start: float | None = None,
) -> App:
    _use_dummy_video_if_headless()
    pygame.font.init()
    snaps = [d.snapshot() for d in drivers]
    app = App(drivers, surface=pygame.Surface(size or preferred_size(snaps)), start=start)
    app.selected = selected
    app.show_status = False
    return app


def frames(
    drivers: Sequence[Driver],
    minutes: float,
    every: float,
    size: tuple[int, int] | None = None,
    selected: int | None = None,
    start: float | None = None,
) -> Iterator[pygame.Surface]:
    """Frames at every `every` simulated minutes for `minutes` from `start` (default: where the
    drivers are; the first frame after `every`; ceil(minutes / every) frames, fewer if all
    drivers end earlier). Every pane of a frame shows the same simulated time. The same
    surface is yielded each time: copy or save it before asking for the next one."""
    if every <= 0 or minutes <= 0:
        raise ValueError("minutes and every must be positive")
    app = _offscreen_app(drivers, size, selected, start)
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
) -> tuple[list[Path], Path | None]:
    """One pass over the frames: PNGs `frame_00001.png`, ... into `frames_dir` and/or an
    animated GIF (looping, `gif_fps` frames per second) at `gif_path`."""
    from PIL import Image  # optional dependency, only needed here

    out = Path(frames_dir) if frames_dir is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    paths, images = [], []
    for i, surface in enumerate(frames(drivers, minutes, every, size, selected, start), start=1):
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
) -> list[Path]:
    """Write PNG frames `frame_00001.png`, ... into `out_dir`; return their paths."""
    return export(drivers, minutes, every, out_dir, None, size, selected, start)[0]


def export_gif(
    drivers: Sequence[Driver],
    minutes: float,
    every: float,
    path: str | Path,
    fps: int = 10,
    size: tuple[int, int] | None = None,
    selected: int | None = None,
    start: float | None = None,
) -> Path:
    """Write an animated GIF (looping, `fps` frames per second) of the same frames."""
    gif = export(drivers, minutes, every, None, path, size, selected, start, fps)[1]
    assert gif is not None
    return gif


def save_screenshot(
    drivers: Sequence[Driver],
    minutes: float,
    path: str | Path,
    size: tuple[int, int] | None = None,
    selected: int | None = None,
) -> Path:
    """Run the drivers for `minutes` (in sparkline-sized steps) and save the last frame."""
    app = _offscreen_app(drivers, size, selected)
    app.advance(minutes)
    close_all(drivers)
    for _ in range(8):  # let the part dots spread out as they would in motion
        app.draw()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    pygame.image.save(app.surface, str(out))
    return out
