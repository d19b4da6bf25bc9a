"""Every shipped line trains: a tiny LoRASA run (shared phase, then adapters) moves the
weights, and the trained actor runs a short line to the end with parts coming out."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers import TINY_TRAIN

from factory_twin.scenario import Horizon, load_scenario
from factory_twin.train.config import TrainConfig
from factory_twin.train.evaluate import evaluate_actor
from factory_twin.train.mappo import MAPPO

SHIPPED = sorted((Path(__file__).resolve().parents[1] / "scenarios").glob("*.yaml"))


def test_the_new_lines_are_shipped():
    assert {"glass_line", "press_shop", "packaging"} <= {p.stem for p in SHIPPED}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_line_trains_on_a_tiny_budget(path: Path):
    sc = load_scenario(path)
    # half the tiny budget in each phase: at the default 10% the shared phase is one update,
    # whose few decisions may all have a single legal action on some lines
    trainer = MAPPO(sc, TrainConfig(method="lorasa", seed=1, switch_fraction=0.5, **TINY_TRAIN))
    before = {k: v.clone() for k, v in trainer.actor.state_dict().items()}
    trainer.train()
    after = trainer.actor.state_dict()
    moved = [k for k in before if not torch.equal(before[k], after[k])]
    assert any("lora" in k for k in moved) and any("lora" not in k for k in moved), moved
    short = sc.model_copy(update={"horizon": Horizon(warmup=0.0, length=240.0)})
    (kpis,) = evaluate_actor(short, trainer.actor, [5])
    assert kpis.good_parts > 0 and kpis.sim_minutes == pytest.approx(240.0)
