"""What the command line's commands share: the stderr console, the one-line error exit, and
the bounds of every integer option.

Integer options are checked here, at parse time, so an out-of-range value is one line naming
the option and the accepted range (exit 2) before any work starts, instead of an
OverflowError after a whole simulation. Typer's own ``min``/``max`` would print a framed
usage box over several lines, hence the callbacks.

Why ``MAX_SEED`` is 2**32 - 1: a seed is stored in the log's 64-bit integer columns after
the trainer and env derive per-episode seeds from it (``seed * 1000 + env``, then
``* 100_003 + episode``); 2**32 keeps those below 2**63. numpy's SeedSequence and torch's
``manual_seed`` accept every value in 0..2**32 - 1; numpy refuses negative seeds.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console

from factory_twin.errors import FactoryTwinError, OptionError, ScenarioWarning

__all__ = [
    "MAX_RUN_ID",
    "MAX_SEED",
    "MAX_STEPS",
    "DbOption",
    "JsonOption",
    "RayOption",
    "ScenarioArg",
    "SeedOption",
    "SelectOption",
    "StepsOption",
    "StoreOption",
    "ViewOption",
    "WorkersOption",
    "count",
    "err_console",
    "fail",
    "int_range",
    "scenario_warnings_as_lines",
]

MAX_SEED = 2**32 - 1
MAX_RUN_ID = 2**63 - 1  # SQLite's largest integer key
MAX_STEPS = 10**10  # environment steps: years of CPU time, still exact in a float

# markup off: scenario and station names are the planner's text and may contain "[...]"
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 200, markup=False)


@contextmanager
def scenario_warnings_as_lines() -> Iterator[None]:
    """While the block runs, each ScenarioWarning prints as one line on stderr (others as
    Python prints them); every one is shown, not only the first per place."""
    with warnings.catch_warnings():
        previous = warnings.showwarning
        warnings.simplefilter("always", ScenarioWarning)

        def show(message, category, filename, lineno, file=None, line=None) -> None:
            if issubclass(category, ScenarioWarning):
                err_console.print(f"warning: {message}", highlight=False, soft_wrap=True)
            else:
                previous(message, category, filename, lineno, file, line)

        warnings.showwarning = show
        yield


def fail(exc: FactoryTwinError) -> NoReturn:
    """Print ``exc`` as one line on stderr and exit with code 2."""
    err_console.print(f"error: {exc}", style="bold red", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def one_of(option: str, value: str, allowed: tuple[str, ...]) -> str:
    """`value` if it is one of `allowed`, else a one-line OptionError naming them."""
    if value not in allowed:
        raise OptionError(f"{option} must be one of {', '.join(allowed)}, got {value!r}")
    return value


def int_range(option: str, low: int, high: int) -> Callable[[int | None], int | None]:
    """A typer callback refusing values of ``option`` outside ``low..high`` (None passes)."""

    def check(value: int | None) -> int | None:
        if value is not None and not low <= value <= high:
            shown = str(value) if abs(value) < 10**30 else "a number of over 30 digits"
            fail(OptionError(f"{option} is {shown}; expected an integer in {low}..{high}"))
        return value

    return check


# --- option types the commands share ------------------------------------------------------

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="SQLAlchemy URL or SQLite path (default: $FACTORY_TWIN_DB, "
        "else db/factory_twin.sqlite)",
    ),
]
StoreOption = Annotated[
    Path,
    typer.Option("--store", help="folder of stored policies", envvar="FACTORY_TWIN_STORE"),
]
ScenarioArg = Annotated[Path, typer.Argument(help="scenario YAML file")]
SelectOption = Annotated[str | None, typer.Option(help="station to highlight and detail")]
ViewOption = Annotated[str, typer.Option(help="lower left panel: kpis | charts (key g)")]
StepsOption = Annotated[
    int,
    typer.Option(
        "--steps",
        callback=int_range("--steps", 1_000, MAX_STEPS),
        help="training budget in environment steps",
    ),
]
WorkersOption = Annotated[
    int | None,
    typer.Option(
        callback=int_range("--workers", 1, 256),
        help="worker processes (default: every core; 1 = this one)",
    ),
]
SeedOption = Annotated[
    int,
    typer.Option(
        "--seed", callback=int_range("--seed", 0, MAX_SEED), help=f"first seed (0..{MAX_SEED})"
    ),
]


def count(option: str, low: int, high: int, help: str):
    """An integer option bounded to ``low..high`` (checked at parse time, one-line error)."""
    check = int_range(option, low, high)
    return Annotated[int, typer.Option(option, callback=check, help=f"{help} ({low}..{high})")]


RayOption = Annotated[
    str | None,
    typer.Option("--ray", help="run the jobs as Ray tasks on this cluster ('auto' finds it)"),
]
JsonOption = Annotated[
    Path | None, typer.Option("--json", help="also write every number shown as JSON here")
]
ParentOption = Annotated[
    str | None, typer.Option("--from", help="stored line a new station was added to")
]
AlsoOption = Annotated[
    list[str] | None, typer.Option(help="new station only: also re-train this one's adapter")
]
EvalSeedsOption = Annotated[
    int,
    typer.Option(
        "--eval-seeds",
        "--seeds",
        callback=int_range("--eval-seeds", 2, 1000),
        help="held-out evaluation seeds",
    ),
]
LikeOption = Annotated[
    str | None,
    typer.Option(help="new station only: stored station whose id it takes (a base that sees ids)"),
]
