"""Training runs end to end: train a method, store what it learned, load it back.

What is stored where (see store/policies.py for the layout):
- LoRASA: the shared base (actor base + critic) under `_base/`, one adapter per station under
  `<station>/`, and last the set file naming those versions (store/policy_sets.py), switched
  in one atomic rename; loading rebuilds the policy from exactly the versions the set names,
  so a crash mid-save leaves the previous policy in use, never a mix. A line extended by a
  station (train/extend.py) names another line's base and adapters and its own critic under
  `_critic/`; truncated adapters (train/truncate.py) are versions of a lower rank, padded
  with zeros to the policy's rank when loaded.
- PS, PS+ID, NPS: the whole policy under `_policies/<method>/`.
Every training run is a row in the log's `runs` table; every adapter version a row in
`adapter_versions`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from torch import Tensor

from factory_twin.env import LineEnv
from factory_twin.errors import StoreError
from factory_twin.faults import crash_point
from factory_twin.policy.line_critic import PooledCritic, make_critic
from factory_twin.policy.networks import Actor, ActorConfig, Critic, base_hash
from factory_twin.policy.registry import resolve
from factory_twin.policy.truncation import adapter_tensor_rank, padded
from factory_twin.scenario import Scenario
from factory_twin.store.curves import UpdatePoint, add_updates
from factory_twin.store.policies import PolicyStore, SavedVersion
from factory_twin.store.policy_sets import (
    LorasaSet,
    load_lorasa_set,
    publish_lorasa_set,
    set_path,
)
from factory_twin.store.runlog import Database, ending_status, episode_kpis
from factory_twin.train.checkpoint import load_checkpoint, save_checkpoint
from factory_twin.train.config import TrainConfig
from factory_twin.train.mappo import MAPPO, Progress
from factory_twin.train.resumable import resumable_run
from factory_twin.train.tensors import prefixed, unprefixed


@dataclass
class Trained:
    method: str
    actor: Actor
    critic: Critic | PooledCritic
    run_id: int | None
    config: dict
    lorasa_set: LorasaSet | None = None  # the stored set a LoRASA policy was loaded from


def train_method(
    scenario: Scenario,
    scenario_id: int,
    cfg: TrainConfig,
    db: Database,
    store: PolicyStore,
    on_progress: Callable[[Progress], None] | None = None,
    checkpoints: Path | None = None,
    checkpoint_every: int = 10,
    resume: int | None = None,
    allow_changed: bool = False,
) -> Trained:
    """Train one method under the config's budget, store the result, log the run.

    Every finished training episode is logged with its KPIs. With `checkpoints`, the trainer's
    full state is written (atomically) every `checkpoint_every` updates under
    `checkpoints/run-<id>/`; `resume=<run id>` continues such a run from its last checkpoint,
    under the same run id, so the log shows one run with its whole episode history
    (`train.resumable` says which runs may be resumed; `allow_changed` accepts an edited
    scenario).
    """
    if resume is not None:
        run, cfg = resumable_run(db, resume, scenario, scenario_id, allow_changed)
        run_id, trainer = resume, MAPPO(scenario, cfg)
        with _fitting(run.checkpoint_path):
            load_checkpoint(trainer, Path(run.checkpoint_path))
        db.finish_run(run_id, "running")
    else:
        run_id = db.start_run(scenario_id, "train", cfg.method, cfg.seed, cfg.to_dict())
        trainer = MAPPO(scenario, cfg)
    ckpt_dir = None
    if checkpoints is not None:
        ckpt_dir = checkpoints / f"run-{run_id}"
        db.set_checkpoint(run_id, ckpt_dir)

    def log_episode(env, episode_return: float) -> None:
        kpis = episode_kpis(env.kpis(), episode_return)
        db.add_episode(run_id, trainer.episodes_logged, env.last_seed, env.now, kpis)
        trainer.episodes_logged += 1

    def after_update(p: Progress) -> None:
        point = UpdatePoint(p.update, p.steps, p.phase, p.mean_return, p.losses, math.nan)
        add_updates(db, run_id, [point])
        if ckpt_dir is not None and trainer.updates % checkpoint_every == 0:
            save_checkpoint(trainer, ckpt_dir)
        if on_progress is not None:
            on_progress(p)

    trainer.on_episode = log_episode
    try:
        trainer.train(after_update)
        if ckpt_dir is not None:
            save_checkpoint(trainer, ckpt_dir)
        trained = Trained(cfg.method, trainer.actor, trainer.critic, run_id, full_config(trainer))
        save_trained(store, db, scenario, trained)
    except BaseException as exc:
        db.finish_run(run_id, ending_status(exc))
        raise
    db.finish_run(run_id, "done")
    return trained


def full_config(tr: MAPPO) -> dict:
    return {
        **tr.cfg.to_dict(),
        "actor": _actor_dict(tr.actor.config),
        "stations": [s.name for s in tr.scenario.stations],
        "critic": tr.critic_kind,
    }


def _actor_dict(c: ActorConfig) -> dict:
    d = asdict(c)
    d["hidden"] = list(c.hidden)
    return d


def save_trained(
    store: PolicyStore,
    db: Database,
    scenario: Scenario,
    t: Trained,
    kpis: dict | None = None,
    stations: list[int] | None = None,
) -> None:
    """Store a trained policy; for LoRASA the base once, one adapter per station, then the set
    naming them (`stations` limits which adapters get a new version, as `adapt` needs: the new
    set is the one the policy was loaded from with those adapters replaced)."""
    sh = scenario.content_hash()
    if t.method != "lorasa":
        tensors = {
            **prefixed("actor", t.actor.state_dict()),
            **prefixed("critic", t.critic.state_dict()),
        }
        store.save_policy(
            scenario.name,
            t.method,
            tensors,
            {"scenario_hash": sh, "config": t.config, "run_id": t.run_id},
        )
        return
    bh = base_hash(t.actor)
    if stations is None:
        tensors = {
            **prefixed("actor", t.actor.base_state_dict()),
            **prefixed("critic", t.critic.state_dict()),
        }
        base = store.save_base(
            scenario.name,
            tensors,
            {"base_hash": bh, "scenario_hash": sh, "config": t.config, "run_id": t.run_id},
        )
        crash_point("lorasa-after-base")
        policy = LorasaSet(base, bh, {})
    else:
        policy = _set_adapted_from(t, bh)
    chosen = range(len(scenario.stations)) if stations is None else stations
    adapters = {i: t.actor.export_adapter(i) for i in chosen}
    publish_adapters(store, db, scenario, t, policy, adapters, kpis)


def publish_adapters(
    store: PolicyStore,
    db: Database,
    scenario: Scenario,
    t: Trained,
    policy: LorasaSet,
    adapters: dict[int, dict[str, Tensor]],
    kpis: dict | None = None,
) -> LorasaSet:
    """Save `adapters` (station index -> exported tensors, of the policy's rank or truncated
    below it) as new versions, then publish `policy` with them in place; log each version."""
    cfg = t.actor.config
    bh = base_hash(t.actor)
    alpha = float(cfg.alpha if cfg.alpha is not None else cfg.rank)
    new: dict[str, SavedVersion] = {}
    ranks: dict[str, int] = {}
    for i, exported in adapters.items():
        name = scenario.stations[i].name
        rank = adapter_tensor_rank(exported)
        meta = {
            "rank": rank,
            "alpha": alpha * rank / cfg.rank,  # the same scale alpha / rank as the policy's
            "base_hash": bh,
            "scenario_hash": scenario.content_hash(),
            "run_id": t.run_id,
            "kpis": kpis or {},
            "adapter_layers": cfg.adapter_layers,
        }
        new[name], ranks[name] = store.save_adapter(scenario.name, name, exported, meta), rank
    kept_from = {k: v for k, v in policy.adapters_from.items() if k not in new}
    published = replace(policy, adapters={**policy.adapters, **new}, adapters_from=kept_from)
    publish_lorasa_set(store, scenario.name, published, t.run_id)
    # the files keep the run they came from; the log links it only where it holds that run
    logged = t.run_id if t.run_id is not None and db.has_run(t.run_id) else None
    for name, saved in new.items():
        db.add_adapter_version(
            scenario.name,
            name,
            saved.version,
            str(saved.dir / "adapter.safetensors"),
            saved.sha256,
            bh,
            ranks[name],
            alpha * ranks[name] / cfg.rank,
            run_id=logged,
        )
    return published


def _set_adapted_from(t: Trained, bh: str) -> LorasaSet:
    """The set a re-trained policy started from: its base and the adapters it keeps."""
    if t.lorasa_set is None or t.lorasa_set.base_hash != bh:
        raise StoreError(
            "re-trained adapters need the stored LoRASA set they started from, with the same "
            "base policy (load it with load_trained)"
        )
    return t.lorasa_set


def check_fits(config: dict, scenario: Scenario, where: str) -> None:
    names = [s.name for s in scenario.stations]
    if config.get("stations") != names:
        raise StoreError(
            f"{where}: trained for stations {config.get('stations')}; the scenario has {names} "
            "(retrain with `factory-twin train`)"
        )
    env = LineEnv(scenario)
    actor = config.get("actor", {})
    shape = (actor.get("obs_dim"), actor.get("n_actions"))
    if shape != (env.obs_dim, env.n_actions):
        raise StoreError(
            f"{where}: trained for observations/actions of size {shape}; this scenario and "
            f"version of factory-twin use {(env.obs_dim, env.n_actions)} (retrain with "
            "`factory-twin train`)"
        )


def load_trained(store: PolicyStore, scenario: Scenario, method: str) -> Trained:
    """Load the latest stored policy of a learned method or its alias ('shared', 'adapted')."""
    method = resolve(method, "learned").name
    if method == "lorasa":
        return _load_lorasa(store, scenario)
    tensors, meta = store.load_policy(scenario.name, method)
    config = meta["config"]
    where = str(store.policy_dir(scenario.name, method))
    check_fits(config, scenario, where)
    with _fitting(where):
        actor, critic = build_policy(config)
        actor.load_state_dict(unprefixed("actor", tensors))
        critic.load_state_dict(unprefixed("critic", tensors))
    return Trained(method, actor, critic, meta.get("run_id"), config)


def build_policy(config: dict) -> tuple[Actor, Critic | PooledCritic]:
    """Fresh networks of a stored config's shape (configs stored before critics had kinds
    are joint)."""
    a = dict(config["actor"])
    a["hidden"] = tuple(a["hidden"])
    actor = Actor(ActorConfig(**a))
    kind = critic_kind(config)
    return actor, make_critic(kind, a["obs_dim"], a["n_agents"], config["hidden"])


def critic_kind(config: dict) -> str:
    """The critic a stored config was trained with (configs from before critics had kinds,
    and every line trained from scratch, have the joint one)."""
    return config.get("critic", "joint")


def _load_lorasa(store: PolicyStore, scenario: Scenario) -> Trained:
    t = read_lorasa(store, scenario.name)
    check_fits(t.config, scenario, str(set_path(store, scenario.name)))
    return t


def read_lorasa(store: PolicyStore, name: str) -> Trained:
    """The policy of scenario `name`'s published set: exactly the base and adapter versions it
    names (wherever they live: an extended line's come partly from the line it grew from),
    for the stations its config lists (the caller checks they are the scenario's)."""
    policy = load_lorasa_set(store, name)
    tensors, meta = store.load_base(policy.owner(name), policy.base.version, policy.base_hash)
    _check_version(policy.base, meta)
    config, critic_state = meta["config"], unprefixed("critic", tensors)
    if policy.critic is not None:
        critic_tensors, critic_meta = store.load_critic(name, policy.critic.version)
        _check_version(policy.critic, critic_meta)
        critic_state = unprefixed("critic", critic_tensors)
        config = critic_meta["config"]
    with _fitting(str(policy.base.dir)):
        actor, critic = build_policy(config)
        actor.load_base_state_dict(unprefixed("actor", tensors))
        critic.load_state_dict(critic_state)
    bh = base_hash(actor)
    if bh != meta["base_hash"]:
        raise StoreError(f"{policy.base.dir}: base weights do not match base_hash")
    for i, station in enumerate(config.get("stations", [])):
        saved = policy.adapters.get(station)
        if saved is None:
            raise StoreError(
                f"{set_path(store, name)}: the LoRASA set has no adapter for station "
                f"{station!r} (retrain with `factory-twin train --method lorasa`)"
            )
        rank = actor.config.rank
        ad, ad_meta = store.load_adapter(
            policy.owner(name, station), station, saved.version, bh, max_rank=rank
        )
        _check_version(saved, ad_meta)
        with _fitting(str(saved.dir)):
            actor.load_adapter(i, padded(ad, rank))
    return Trained("lorasa", actor, critic, meta.get("run_id"), config, policy)


@contextmanager
def _fitting(where: str) -> Iterator[None]:
    """Stored tensors or config that do not fit the network (a missing tensor, another shape,
    a malformed config) end as a one-line StoreError naming the folder, not a traceback."""
    try:
        yield
    except (RuntimeError, KeyError, ValueError, TypeError) as exc:
        text = " ".join(str(exc).split())[:200]
        raise StoreError(
            f"{where}: stored tensors do not fit the network their config describes ({text}); "
            "expected files written by PolicyStore (retrain with `factory-twin train`)"
        ) from None


def _check_version(saved: SavedVersion, meta: dict) -> None:
    """The version on disk is the one the set recorded (same weights' sha256)."""
    if meta["sha256"] != saved.sha256:
        raise StoreError(
            f"{saved.dir}: sha256 is {meta['sha256']}; expected {saved.sha256} from the "
            "LoRASA set (version replaced or modified)"
        )
