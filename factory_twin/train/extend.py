"""A station added to a trained line: adapt the new station without retraining the base.

A planner adds a station (a second labeler) to a line whose LoRASA policy is stored, and saves
the longer line under a new name. `extend_line` builds the longer line's policy from the
stored one:

* the shared base actor, loaded and frozen as it is (its input is one station's observation,
  whose size depends on the products, not on how many stations there are). A base that also
  sees a one-hot station id (`--lorasa-base ps-id`, the default) has no column for a new
  station, so the new station wears the id of its twin, a stored station: the one named with
  `--like`, else the one whose settings it has (a second labeler built like the first). The
  base then acts for the new station as it does for the twin, and needs no new input;
* every known station's adapter, as stored (their gradients are masked, so they stay
  bit-identical), unless the planner asks to refresh some of them (`also`);
* the new station's adapter at zero (``B = 0``), so it starts as the shared policy;
* a critic that can serve the changed line: the joint critic reads all stations'
  observations concatenated and cannot take one more, so the longer line gets a
  `PooledCritic` (own observation, mean/max over the line, station embedding), trained from
  scratch alongside the new adapter. If the stored line was itself extended, its pooled
  critic is kept and only its station embedding grows by the new station's row.

Only the new adapter (and any `also` adapters) and the critic train. The published set of the
longer line names the stored base and the kept adapters where they are (under the line they
came from), the new adapter and the critic under the longer line; the stored line's own set
and versions are not touched.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from factory_twin.errors import FactoryTwinError, StoreError
from factory_twin.policy.line_critic import PooledCritic, grown_state
from factory_twin.scenario import Scenario
from factory_twin.store.policies import PolicyStore
from factory_twin.store.policy_sets import LorasaSet, published_lines
from factory_twin.store.runlog import Database, ending_status
from factory_twin.train.adapt import only_stations, station_index
from factory_twin.train.config import config_from_dict
from factory_twin.train.mappo import MAPPO, Progress
from factory_twin.train.pipeline import (
    Trained,
    check_fits,
    full_config,
    publish_adapters,
    read_lorasa,
)
from factory_twin.train.tensors import prefixed


@dataclass
class Extended:
    """The longer line's policy at the start (new adapter at zero) and after adaptation."""

    start: Trained
    after: Trained
    parent: str  # the stored line it grew from
    twin: str | None  # the stored station whose id the new one wears (a base that sees ids)


def _stored_stations(store: PolicyStore, name: str) -> list[str] | None:
    """The stations of scenario `name`'s published LoRASA policy, None if it has none."""
    try:
        return read_lorasa(store, name).config.get("stations")
    except StoreError:
        return None


def find_parent(store: PolicyStore, scenario: Scenario, station: str) -> str:
    """The stored line that `scenario` is with `station` taken out: the one named like it (an
    edited file) or else the only other stored line with exactly those stations."""
    want = [s.name for s in scenario.stations if s.name != station]
    if _stored_stations(store, scenario.name) == want:
        return scenario.name
    found = sorted(
        name
        for name in published_lines(store)
        if name != scenario.name and _stored_stations(store, name) == want
    )
    if len(found) != 1:
        what = "none" if not found else ", ".join(found)
        raise FactoryTwinError(
            f"--station {station!r}: '{scenario.name}' has no stored LoRASA policy for its "
            f"stations, and the stored lines with the stations {want} to extend are: {what} "
            f"(in {store.root}; train this line, or name the line it extends with --from)"
        )
    return found[0]


def extend_line(
    scenario: Scenario,
    scenario_id: int,
    station: str,
    steps: int,
    seed: int,
    db: Database,
    store: PolicyStore,
    parent: str | None = None,
    also: Sequence[str] = (),
    on_progress: Callable[[Progress], None] | None = None,
    like: str | None = None,
) -> Extended:
    """Adapt `station`, new to the stored line `parent` (found if None), on `scenario`; `like`
    names its twin where the stored base sees station ids."""
    parent = parent or find_parent(store, scenario, station)
    before = read_lorasa(store, parent)
    twin = twin_of(scenario, station, before, like)
    trainer = start_trainer(scenario, before, parent, station, steps, seed, twin)
    start = Trained("lorasa", copy.deepcopy(trainer.actor), copy.deepcopy(trainer.critic), None, {})
    trained = train_only(trainer, [station, *also])
    run_config = {**trainer.cfg.to_dict(), "station": station, "extends": parent, "twin": twin}
    run_id = db.start_run(scenario_id, "train", "lorasa-extend", seed, run_config)
    try:
        trainer.train(on_progress)
        config = full_config(trainer)
        after = Trained("lorasa", trainer.actor, trainer.critic, run_id, config)
        after.lorasa_set = _publish(store, db, scenario, after, before, parent, trained)
    except BaseException as exc:
        db.finish_run(run_id, ending_status(exc))
        raise
    db.finish_run(run_id, "done")
    start.config = after.config
    return Extended(start, after, parent, twin)


def twin_of(scenario: Scenario, station: str, before: Trained, like: str | None) -> str | None:
    """The stored station whose id the new `station` wears where the stored base sees station
    ids (None where it does not): `like`, else the first stored station with the same settings
    as the new one apart from the name."""
    old = list(before.config["stations"])
    if not before.actor.config.sees_id:
        if like is not None:
            raise FactoryTwinError(
                f"--like {like!r}: the stored base does not see station ids, so the new "
                "station needs no twin"
            )
        return None
    if like is not None:
        if like not in old:
            raise FactoryTwinError(f"--like {like!r}: the stored line has no such station: {old}")
        return like
    spec = scenario.stations[station_index(scenario, station)].model_dump(exclude={"name"})
    same = [
        s.name
        for s in scenario.stations
        if s.name in old and s.model_dump(exclude={"name"}) == spec
    ]
    if not same:
        raise FactoryTwinError(
            f"--station {station!r}: the stored base sees a one-hot station id and no stored "
            f"station has {station}'s settings; name the one it is most like with --like "
            f"(one of {old}), or train the line with --lorasa-base ps"
        )
    return same[0]


def _id_columns(names: list[str], station: str, twin: str, before: Trained) -> tuple[int, ...]:
    """Each station's id column on the longer line: a known station keeps its own, the new
    one takes its twin's."""
    c, old = before.actor.config, list(before.config["stations"])
    return tuple(c.id_column(old.index(twin if n == station else n)) for n in names)


def start_trainer(
    scenario: Scenario,
    before: Trained,
    parent: str,
    station: str,
    steps: int,
    seed: int,
    twin: str | None = None,
) -> MAPPO:
    """A trainer on the longer line, from the stored policy `before` of line `parent`: stored
    base and adapters, the new station's adapter at zero (wearing the id of `twin`, from
    `twin_of`, where the base sees ids), and a pooled critic (fresh, or the stored pooled one
    with its embedding grown). Refuses a line that is not `parent` with `station` added."""
    names = [s.name for s in scenario.stations]
    old = list(before.config["stations"])
    station_index(scenario, station)
    if [n for n in names if n != station] != old:
        raise FactoryTwinError(
            f"--station {station!r}: '{scenario.name}' without it has stations "
            f"{[n for n in names if n != station]}; the stored line '{parent}' has {old}"
        )
    if before.actor.config.sees_id != (twin is not None):
        raise ValueError("a base that sees station ids needs a twin for the new station")
    ids = None if twin is None else _id_columns(names, station, twin, before)
    check_fits({**before.config, "stations": names}, scenario, f"stored line '{parent}'")
    cfg = config_from_dict(before.config, method="lorasa", total_steps=steps, seed=seed)
    trainer = MAPPO(scenario, cfg, critic_kind="pooled", id_columns=ids)
    trainer.actor.load_base_state_dict(before.actor.base_state_dict())
    for i, name in enumerate(names):
        if name in old:
            trainer.actor.load_adapter(i, before.actor.export_adapter(old.index(name)))
    if isinstance(before.critic, PooledCritic):
        trainer.critic.load_state_dict(grown_state(before.critic.state_dict(), old, names))
    trainer.actor.set_adapters_active(True)  # the stored adapters act from the first step
    return trainer


def train_only(trainer: MAPPO, stations: Sequence[str]) -> list[int]:
    """Freeze the base and every adapter but these stations' (returns their indices)."""
    indices = sorted({station_index(trainer.scenario, n) for n in stations})
    trainer.switch_to_adapters()
    only_stations(trainer, indices)
    return indices


def _publish(
    store: PolicyStore,
    db: Database,
    scenario: Scenario,
    after: Trained,
    before: Trained,
    parent: str,
    trained: list[int],
) -> LorasaSet:
    """Save the critic and the trained adapters under the longer line, then its set: the
    parent's base and kept adapters where they live."""
    stored = before.lorasa_set
    assert stored is not None  # read_lorasa always sets it
    critic = store.save_critic(
        scenario.name,
        prefixed("critic", after.critic.state_dict()),
        {"scenario_hash": scenario.content_hash(), "config": after.config, "run_id": after.run_id},
    )
    names = [s.name for s in scenario.stations]
    kept = {n: stored.adapters[n] for n in names if n in stored.adapters}
    here = scenario.name  # versions in the longer line's own folder need no owner
    base_from = stored.owner(parent)
    owners = {n: owner for n in kept if (owner := stored.owner(parent, n)) != here}
    policy = LorasaSet(
        stored.base,
        stored.base_hash,
        kept,
        base_from=None if base_from == here else base_from,
        adapters_from=owners,
        critic=critic,
    )
    adapters = {i: after.actor.export_adapter(i) for i in trained}
    return publish_adapters(store, db, scenario, after, policy, adapters)
