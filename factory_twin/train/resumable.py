"""Whether a logged run may be continued with `--resume`, and with which config.

Refused, each as one line naming the run: a run that is not a training run (a simulate or
evaluate run has no checkpoint), a finished run (resuming it would store its policy a second
time), a run whose owner process still works on it, a run of another scenario, and a run of
an edited scenario (same name, other content hash) unless the caller allows it, since the
checkpoint learned another line. A run left 'running' by a dead process may be resumed.
"""

from __future__ import annotations

from factory_twin.errors import StoreError
from factory_twin.scenario import Scenario
from factory_twin.store.records import RunInfo
from factory_twin.store.run_owners import owner_alive
from factory_twin.store.runlog import Database
from factory_twin.train.config import TrainConfig, config_from_dict

__all__ = ["resumable_run"]


def resumable_run(
    db: Database, run_id: int, scenario: Scenario, scenario_id: int, allow_changed: bool = False
) -> tuple[RunInfo, TrainConfig]:
    """The run to resume and its training config; StoreError when it may not be resumed."""
    run = db.get_run(run_id)
    where = f"{db.where}: run {run_id}"
    _check_kind_and_status(run, where)
    _check_scenario(run, scenario, scenario_id, allow_changed, where)
    if run.checkpoint_path is None:
        raise StoreError(f"{where} has no checkpoint to resume from (pass --checkpoints)")
    try:
        return run, config_from_dict(run.config)
    except (TypeError, ValueError, KeyError) as exc:
        raise StoreError(
            f"{where}: stored config is unusable ({exc}); expected a training config"
        ) from None


def _check_kind_and_status(run: RunInfo, where: str) -> None:
    if run.kind != "train":
        raise StoreError(
            f"{where} is a {run.kind} run; expected a training run (only those have checkpoints)"
        )
    if run.status == "done":
        raise StoreError(f"{where} is done; expected an interrupted or failed run to resume")
    if run.status == "running" and owner_alive(run.owner_pid, run.owner_host):
        raise StoreError(
            f"{where} is still running (process {run.owner_pid} on {run.owner_host}); "
            "expected a run whose process has ended"
        )


def _check_scenario(
    run: RunInfo, scenario: Scenario, scenario_id: int, allow_changed: bool, where: str
) -> None:
    if run.scenario_id == scenario_id:
        return
    if run.scenario_name != scenario.name:
        raise StoreError(
            f"{where} trained scenario {run.scenario_name!r}; expected a run of {scenario.name!r}"
        )
    if not allow_changed:
        raise StoreError(
            f"{where} trained another version of {scenario.name!r} (content hash differs: the "
            "file changed since); expected the same file, or pass --allow-changed-scenario"
        )
