"""What-if re-training: after a planner edits one station, re-train only that station's adapter.

The shared base, the critic's starting point and every other station's adapter come from the
store; gradients reaching other stations' adapter slices are zeroed, so (with Adam and no
weight decay) their weights stay bit-identical. Only the edited station gets a new version,
published as a new LoRASA set: the one it started from with that adapter replaced.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from factory_twin.errors import FactoryTwinError
from factory_twin.scenario import Scenario
from factory_twin.store.policies import PolicyStore
from factory_twin.store.runlog import Database, ending_status
from factory_twin.train.config import config_from_dict
from factory_twin.train.mappo import MAPPO, Progress
from factory_twin.train.pipeline import (
    Trained,
    critic_kind,
    load_trained,
    save_trained,
)


def station_index(scenario: Scenario, station: str) -> int:
    names = [s.name for s in scenario.stations]
    if station not in names:
        raise FactoryTwinError(
            f"--station {station!r}: not a station of '{scenario.name}' (expected one of {names})"
        )
    return names.index(station)


def only_stations(trainer: MAPPO, indices: list[int]) -> None:
    """Let gradients through to these stations' adapter slices only."""
    for p in trainer.actor.adapter_parameters():
        keep = torch.zeros((p.shape[0],) + (1,) * (p.dim() - 1))
        keep[indices] = 1.0
        p.register_hook(_masker(keep))


def _masker(keep: torch.Tensor):
    return lambda grad: grad * keep


def adapt_station(
    scenario: Scenario,
    scenario_id: int,
    station: str,
    steps: int,
    seed: int,
    db: Database,
    store: PolicyStore,
    on_progress: Callable[[Progress], None] | None = None,
) -> tuple[Trained, Trained]:
    """Returns (before, after): the stored policy and the one with the re-trained adapter."""
    index = station_index(scenario, station)
    before = load_trained(store, scenario, "lorasa")
    cfg = config_from_dict(before.config, method="lorasa", total_steps=steps, seed=seed)
    trainer = MAPPO(scenario, cfg, critic_kind(before.config))
    trainer.actor.load_state_dict(before.actor.state_dict())
    trainer.critic.load_state_dict(before.critic.state_dict())
    trainer.switch_to_adapters()
    only_stations(trainer, [index])
    run_id = db.start_run(
        scenario_id,
        "train",
        "lorasa-adapt",
        cfg.seed,
        {**cfg.to_dict(), "station": station},
    )
    try:
        trainer.train(on_progress)
        after = Trained(
            "lorasa", trainer.actor, trainer.critic, run_id, before.config, before.lorasa_set
        )
        save_trained(store, db, scenario, after, stations=[index])
    except BaseException as exc:
        db.finish_run(run_id, ending_status(exc))
        raise
    db.finish_run(run_id, "done")
    return before, after
