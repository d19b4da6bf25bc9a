"""What `factory-twin adapt` and `truncate` do once their options are parsed: open the
workspace, run the workflow under progress bars, print its table (cli.py keeps the options)."""

from __future__ import annotations

from pathlib import Path

from factory_twin.cli_progress import bars, console, progress_bars


def adapt(file: Path, db: str | None, store: Path, station: str, steps: int, seed: int,
          seeds: int, parent: str | None, also: tuple[str, ...],
          like: str | None) -> None:  # fmt: skip
    """Re-train or add `station` (`workflows.what_if`) and print the line before and after."""
    from factory_twin.report import kpi_table
    from factory_twin.workflows import open_workspace, what_if

    ws = open_workspace(file, db, store)
    with progress_bars() as progress:
        found = what_if(ws, station, steps, seed, seeds, bars(progress), parent, also, like)
    console.print(kpi_table(found.title(ws.scenario.name), found.results))
    if found.twin is not None:
        console.print(
            f"{station} took the station id of {found.twin}: the stored base sees station ids, "
            f"so it acted for {station} as for {found.twin} before its adapter trained",
            highlight=False,
        )
    console.print(f"new adapter version v{found.version} for {station}", highlight=False)


def truncate(file: Path, db: str | None, store: Path, eval_seeds: int) -> None:
    """Cut the stored adapters to the ranks they need (`workflows.truncate`); print them."""
    from factory_twin.report import truncation_table
    from factory_twin.workflows import open_workspace
    from factory_twin.workflows import truncate as truncate_workflow

    ws = open_workspace(file, db, store)
    with progress_bars() as progress:
        found = truncate_workflow(ws, eval_seeds, bars(progress))
    console.print(truncation_table(ws.scenario.name, found))
