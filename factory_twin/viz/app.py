"""The interactive viewer window and the headless PNG / GIF exporters.

Controls in the window:

    space          pause / resume
    right arrow    while paused: advance one small step (one frame's worth of simulated time)
    + / -          double / halve the speed in simulated minutes per second (keypad too; '='
                   works as '+' so no shift is needed)
    mouse click    on a station box: show its detail panel (in every pane, to compare the same
                   station across policies); click it again or click elsewhere to close
    Esc / close    quit

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

from factory_twin.viz.drivers import Driver
from factory_twin.viz.layout import PaneLayout, layout, pane_rects, preferred_size
from factory_twin.viz.pane import SAMPLE_MINUTES, PaneState
from factory_twin.viz.render import draw_frame

MIN_SPEED = 0.25  # simulated minutes per second
MAX_SPEED = 7680.0  # about five simulated days per second
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
    ) -> None:
        if not drivers:
            raise ValueError("the viewer needs at least one driver")
        self.drivers = list(drivers)
        self.panes = [PaneState.start(d.label, d.snapshot()) for d in self.drivers]
        self.minutes_per_second = float(minutes_per_second)
        self.fps = max(int(fps), 1)
        self.surface = surface or pygame.Surface(preferred_size([p.snap for p in self.panes]))
        self.paused = False
        self.running = True
        self.selected: int | None = None
        self.show_status = True  # speed / pause in the title bars (off for exported pictures)
        self.layouts: list[PaneLayout] = []

    # --- state changes -----------------------------------------------------------------------
    @property
    def done(self) -> bool:
        return all(d.done for d in self.drivers)

    @property
    def step_minutes(self) -> float:
        """Simulated minutes of one frame at the current speed (the single-step size)."""
        return self.minutes_per_second / self.fps

    def advance(self, minutes: float) -> None:
        """Move every driver `minutes` forward, in steps of at most SAMPLE_MINUTES so that the
        sparkline and the part dots see every change even at high speed."""
        chunks = max(1, math.ceil(minutes / SAMPLE_MINUTES - 1e-9))
        for _ in range(chunks):
            for driver, pane in zip(self.drivers, self.panes, strict=True):
                if not driver.done:
                    pane.update(driver.advance(minutes / chunks))

    def set_speed(self, minutes_per_second: float) -> None:
        self.minutes_per_second = min(max(minutes_per_second, MIN_SPEED), MAX_SPEED)

    def click(self, pos: tuple[int, int]) -> None:
        """Select the station under `pos` (toggle if already selected); elsewhere: deselect."""
        hit = None
        rects = pane_rects(self.surface.get_rect(), len(self.panes))
        for rect, pane in zip(rects, self.panes, strict=True):
            if rect.collidepoint(pos):
                hit = layout(pane.snap, rect).station_at(pos)
                break
        self.selected = None if hit is None or hit == self.selected else hit

    def handle(self, event: pygame.event.Event) -> None:
        """React to one pygame event."""
        if event.type == pygame.QUIT:
            self.running = False
        elif event.type == pygame.KEYDOWN:
            key = event.key
            if key == pygame.K_ESCAPE:
                self.running = False
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
        return f"PAUSED · {speed}" if self.paused else speed

    def draw(self) -> None:
        for pane in self.panes:
            pane.animate()
        status = self.status() if self.show_status else None
        self.layouts = draw_frame(self.surface, self.panes, self.selected, status)

    def tick(self, dt: float | None = None) -> None:
        """One frame: advance by `dt` wall seconds at the current speed (unless paused), draw."""
        if not self.paused:
            seconds = 1.0 / self.fps if dt is None else min(max(dt, 0.0), 0.25)
            self.advance(self.minutes_per_second * seconds)
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
) -> None:
    """Open the interactive viewer and run it until the user quits (see module docstring)."""
    pygame.display.init()  # not pygame.init(): the viewer needs no audio device
    pygame.font.init()
    try:
        snaps = [d.snapshot() for d in drivers]
        screen = pygame.display.set_mode(size or preferred_size(snaps), pygame.RESIZABLE)
        pygame.display.set_caption(title)
        app = App(drivers, minutes_per_second, fps, screen)
        clock = pygame.time.Clock()
        clock.tick(fps)
        while app.iterate(clock.tick(fps) / 1000.0):
            pass
    finally:
        pygame.display.quit()  # fonts stay loaded: the text cache keeps using them


# --- headless export ---------------------------------------------------------------------------


def _offscreen_app(
    drivers: Sequence[Driver], size: tuple[int, int] | None, selected: int | None
) -> App:
    _use_dummy_video_if_headless()
    pygame.font.init()
    snaps = [d.snapshot() for d in drivers]
    app = App(drivers, surface=pygame.Surface(size or preferred_size(snaps)))
    app.selected = selected
    app.show_status = False
    return app


def frames(
    drivers: Sequence[Driver],
    minutes: float,
    every: float,
    size: tuple[int, int] | None = None,
    selected: int | None = None,
) -> Iterator[pygame.Surface]:
    """Frames at every `every` simulated minutes up to `minutes` (the first one after `every`;
    ceil(minutes / every) frames, fewer if all drivers end earlier). The same surface is
    yielded each time: copy or save it before asking for the next one."""
    if every <= 0 or minutes <= 0:
        raise ValueError("minutes and every must be positive")
    app = _offscreen_app(drivers, size, selected)
    count = max(1, math.ceil(minutes / every - 1e-9))
    start = min(p.snap.time for p in app.panes)
    for k in range(1, count + 1):
        target = start + min(k * every, minutes)
        now = max(p.snap.time for p in app.panes)
        app.advance(max(target - now, 0.0))
        app.draw()
        yield app.surface
        if app.done:
            break


def export_frames(
    drivers: Sequence[Driver],
    minutes: float,
    every: float,
    out_dir: str | Path,
    size: tuple[int, int] | None = None,
    selected: int | None = None,
    prefix: str = "frame",
) -> list[Path]:
    """Write PNG frames `{prefix}_00001.png`, ... into `out_dir`; return their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, surface in enumerate(frames(drivers, minutes, every, size, selected), start=1):
        path = out / f"{prefix}_{i:05d}.png"
        pygame.image.save(surface, str(path))
        paths.append(path)
    return paths


def export_gif(
    drivers: Sequence[Driver],
    minutes: float,
    every: float,
    path: str | Path,
    fps: int = 10,
    size: tuple[int, int] | None = None,
    selected: int | None = None,
) -> Path:
    """Write an animated GIF (looping, `fps` frames per second) of the same frames."""
    from PIL import Image  # optional dependency, only needed here

    images = []
    for surface in frames(drivers, minutes, every, size, selected):
        rgb = pygame.surfarray.array3d(surface).swapaxes(0, 1)
        images.append(Image.fromarray(rgb).quantize(colors=255, method=Image.Quantize.MEDIANCUT))
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    images[0].save(
        out,
        save_all=True,
        append_images=images[1:],
        duration=max(round(1000 / max(fps, 1)), 20),
        loop=0,
        disposal=1,
    )
    return out


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
    for _ in range(8):  # let the part dots spread out as they would in motion
        app.draw()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    pygame.image.save(app.surface, str(out))
    return out
