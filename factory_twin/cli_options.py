"""The command line's shared argument and option types: one definition of `--db`, `--store`,
`--steps`, `--json` and the rest, which every command that takes them uses (so help texts and
limits agree across commands)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

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
    int, typer.Option("--steps", min=1_000, help="training budget in environment steps")
]
WorkersOption = Annotated[
    int | None,
    typer.Option(min=1, max=256, help="worker processes (default: every core; 1 = this one)"),
]
JsonOption = Annotated[
    Path | None, typer.Option("--json", help="also write every number shown as JSON here")
]
RayOption = Annotated[
    str | None,
    typer.Option("--ray", help="run the jobs as Ray tasks on this cluster ('auto' finds it)"),
]
