"""The interactive viewer window (the headless exporters are in `export`).

Controls in the window:

    space          pause / resume
    right / left   while paused: one frame's worth of simulated time forward / back (back:
                   replays only, a live simulation cannot run backwards)
    PgDn / PgUp    jump an hour forward / back (also ']' / '['); Home / End: start / end;
                   0-9: jump to that tenth of the run
    + / -          double / halve the speed in simulated minutes per second (keypad too; '='
                   works as '+' so no shift is needed)
    g              switch the lower left panel between KPIs and charts (throughput, WIP, Gantt)
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
from collections.abc import Sequence

import pygame

from factory_twin.errors import OptionError
from factory_twin.viz.compare import frame_areas
from factory_twin.viz.drivers import Driver, close_all
from factory_twin.viz.layout import PaneLayout, layout, preferred_size
from factory_twin.viz.options import HEADLESS_DRIVERS, VIEWS
from factory_twin.viz.overlay import draw_help, draw_notice
from factory_twin.viz.pane import SAMPLE_MINUTES, PaneState, clock_text
from factory_twin.viz.render import draw_frame
from factory_twin.viz.timeline import WINDOW_MINUTES

MIN_SPEED = 0.25  # simulated minutes per second
MAX_SPEED = 7680.0  # about five simulated days per second
_FRAME_W, _FRAME_H = 16, 90  # window decorations and a task bar, in pixels
_PLUS_KEYS = {pygame.K_PLUS, pygame.K_KP_PLUS, pygame.K_EQUALS}
_MINUS_KEYS = {pygame.K_MINUS, pygame.K_KP_MINUS, pygame.K_UNDERSCORE}
JUMP_MINUTES = 60.0  # PgUp / PgDn
_DIGITS = {getattr(pygame, f"K_{k}"): k for k in range(10)} | {
    getattr(pygame, f"K_KP{k}"): k for k in range(10)
}


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
        self.view = VIEWS[0]
        self.layouts: list[PaneLayout] = []
        self.origin = self.clock  # the earliest time a jump goes back to
        self.end = max(_end(d, p.snap.extra.get("end", self.clock))
                       for d, p in zip(self.drivers, self.panes, strict=True))  # fmt: skip
        self.caption = ""

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

    @property
    def seekable(self) -> bool:
        """True when every driver can go back in time (replays of recordings)."""
        return all(callable(getattr(d, "rewind", None)) for d in self.drivers)

    def jump(self, time: float) -> None:
        """Show simulated `time` (clamped to the run) in every pane at once. Where the drivers
        can rewind, the panes restart one chart window before `time` and play up to it, so
        the charts and the Gantt strip show that past as if it had been watched; a live run
        only jumps forward (the simulation computes up to `time`)."""
        time = min(max(time, self.origin), self.end)
        if self.seekable and (time < self.clock or time - self.clock > WINDOW_MINUTES):
            start = self._on_grid(max(self.origin, time - WINDOW_MINUTES))
            for driver in self.drivers:
                driver.rewind(start)
            self.panes = [PaneState.start(p.label, d.snapshot())
                          for p, d in zip(self.panes, self.drivers, strict=True)]  # fmt: skip
            self.clock = start
        self.seek(max(time, self.clock))

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
            elif key == pygame.K_g:
                self.view = VIEWS[(VIEWS.index(self.view) + 1) % len(VIEWS)]
            elif key in _PLUS_KEYS or getattr(event, "unicode", "") == "+":
                self.set_speed(self.minutes_per_second * 2)
            elif key in _MINUS_KEYS:
                self.set_speed(self.minutes_per_second / 2)
            else:
                self._seek_key(key)
        elif event.type == pygame.MOUSEBUTTONDOWN and getattr(event, "button", 1) == 1:
            self.click(event.pos)
        elif event.type in (pygame.VIDEORESIZE, pygame.WINDOWSIZECHANGED):
            if pygame.display.get_surface() is not None:
                self.surface = pygame.display.get_surface()

    def _seek_key(self, key: int) -> None:
        """Stepping while paused, jumps by an hour, to the ends, or to a tenth of the run."""
        if key == pygame.K_RIGHT and self.paused:
            self.advance(self.step_minutes)
        elif key == pygame.K_LEFT and self.paused:
            self.jump(self.clock - self.step_minutes)
        elif key in (pygame.K_PAGEDOWN, pygame.K_RIGHTBRACKET):
            self.jump(self.clock + JUMP_MINUTES)
        elif key in (pygame.K_PAGEUP, pygame.K_LEFTBRACKET):
            self.jump(self.clock - JUMP_MINUTES)
        elif key == pygame.K_HOME:
            self.jump(self.origin)
        elif key == pygame.K_END:
            self.jump(self.end)
        elif key in _DIGITS:
            self.jump(self.origin + (self.end - self.origin) * _DIGITS[key] / 10)

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
        self.layouts = draw_frame(self.surface, self.panes, self.selected, status, self.view)
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
            self._set_caption()
            pygame.display.flip()
        return True

    def _set_caption(self) -> None:
        """The window's title bar: what is shown and the simulated time (set when it changes)."""
        caption = f"{_title(self.drivers)} · t {clock_text(self.clock)}"
        if caption != self.caption:
            pygame.display.set_caption(caption)
            self.caption = caption


def run_window(
    drivers: Sequence[Driver],
    minutes_per_second: float = 30.0,
    fps: int = 30,
    size: tuple[int, int] | None = None,
    start: float | None = None,
    selected: int | None = None,
    view: str = VIEWS[0],
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
        app = App(drivers, minutes_per_second, fps, screen, start)
        app.selected, app.view = selected, view
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


def _end(driver: Driver, horizon: float) -> float:
    """Where a driver's run ends: a replay's recording may stop before the horizon."""
    return float(getattr(driver, "end", horizon))


def _title(drivers: Sequence[Driver]) -> str:
    return "factory-twin · " + " vs ".join(d.label for d in drivers)
