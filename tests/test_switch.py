"""LoRASA's plateau switch: the base phase ends at the first greedy curve point that is no
better than the best before it, never later than `switch_fraction`, and the job's learning
curve reuses the trainer's evaluations instead of repeating them."""

from __future__ import annotations

import math

import pytest
from test_mappo import small_config, small_line

from factory_twin.train import jobs, mappo
from factory_twin.train.evaluate import curve_every
from factory_twin.train.mappo import MAPPO
from factory_twin.train.switch import PLATEAU_RISE, plateaued


def test_plateau_needs_two_points_and_a_rise_above_the_best_before():
    assert not plateaued([])
    assert not plateaued([0.5])
    assert not plateaued([0.5, 0.8])  # rising
    assert plateaued([0.5, 0.8, 0.8])  # flat
    assert plateaued([0.5, 0.8, 0.7])  # fell back
    assert plateaued([0.8, 0.5, 0.8 * (1 + PLATEAU_RISE)])  # not above the best by more
    assert not plateaued([0.8, 0.5, 0.8 * (1 + 2 * PLATEAU_RISE)])


def scripted_curve(monkeypatch, values: list[float]) -> list[int]:
    """Make the trainer's greedy evaluations return `values` in turn; returns the list the
    calls' count goes into."""
    calls: list[int] = []

    def fake(scenario, actor) -> float:
        calls.append(1)
        return values[min(len(calls) - 1, len(values) - 1)]

    monkeypatch.setattr(mappo, "curve_throughput", fake)
    monkeypatch.setattr(jobs, "curve_throughput", fake)
    return calls


def switch_step(tr: MAPPO) -> list[int]:
    """Record the step count at each switch to the adapters."""
    steps: list[int] = []
    switch = tr.switch_to_adapters

    def recording() -> None:
        steps.append(tr.steps)
        switch()

    tr.switch_to_adapters = recording
    return steps


@pytest.mark.parametrize(
    "values, points_before_switch",
    [
        ([0.3, 0.6, 0.6], 3),  # flat at the third point
        ([0.3, 0.2], 2),  # worse at the second
    ],
)
def test_switches_at_the_first_point_without_progress(monkeypatch, values, points_before_switch):
    scripted_curve(monkeypatch, values)
    cfg = small_config(method="lorasa", total_steps=40_960, lorasa_switch="plateau",
                       switch_fraction=0.9)  # fmt: skip
    tr = MAPPO(small_line(), cfg)
    at = switch_step(tr)
    tr.train()
    every = curve_every(cfg.total_steps)
    per_update = cfg.n_envs * cfg.rollout_len
    assert len(at) == 1
    # the first update at or past the k-th multiple of the curve's spacing
    assert at[0] == math.ceil(points_before_switch * every / per_update) * per_update
    assert tr.curve == values[:points_before_switch]
    assert tr.phase == "adapters"


def test_a_curve_that_keeps_rising_switches_at_switch_fraction(monkeypatch):
    scripted_curve(monkeypatch, [0.1 * k for k in range(1, 20)])
    cfg = small_config(method="lorasa", total_steps=40_960, lorasa_switch="plateau",
                       switch_fraction=0.5)  # fmt: skip
    tr = MAPPO(small_line(), cfg)
    at = switch_step(tr)
    tr.train()
    assert at == [int(0.5 * cfg.total_steps)]


def test_fixed_switch_and_other_methods_never_evaluate_in_the_trainer(monkeypatch):
    calls = scripted_curve(monkeypatch, [0.5])
    for method, switch in (("lorasa", "fixed"), ("ps", "plateau")):
        tr = MAPPO(small_line(), small_config(method=method, total_steps=8192,
                                              lorasa_switch=switch))  # fmt: skip
        tr.train()
        assert tr.curve == []
    assert calls == []


def test_job_curve_reuses_the_trainers_evaluations(monkeypatch):
    values = [0.3, 0.6, 0.6]
    calls = scripted_curve(monkeypatch, values)
    cfg = small_config(method="lorasa", total_steps=40_960, lorasa_switch="plateau",
                       switch_fraction=0.9)  # fmt: skip
    result = jobs.train_job(small_line(), cfg)
    points = [p.throughput for p in result.curve if not math.isnan(p.throughput)]
    # one evaluation per curve point: three by the trainer, the rest by the job
    assert len(calls) == len(points)
    assert points[:3] == values
    assert result.config["lorasa_switch"] == "plateau"


def test_checkpoint_keeps_the_curve(monkeypatch):
    scripted_curve(monkeypatch, [0.3, 0.4, 0.5])
    cfg = small_config(method="lorasa", total_steps=40_960, lorasa_switch="plateau",
                       switch_fraction=0.9)  # fmt: skip
    tr = MAPPO(small_line(), cfg)
    while len(tr.curve) < 2:
        steps_before = tr.steps
        tr.update(tr.collect())
        tr._watch_plateau(steps_before)
    state = tr.state_dict()
    again = MAPPO(small_line(), cfg)
    again.load_state_dict(state)
    assert again.curve == tr.curve == [0.3, 0.4]


def test_unknown_switch_is_refused():
    with pytest.raises(ValueError, match="lorasa_switch must be one of"):
        small_config(lorasa_switch="early")


def entropy_by_phase(adapter_ent_coef: float) -> dict[str, list[float]]:
    """Each update's policy entropy, by phase, of a small LoRASA run."""
    cfg = small_config(method="lorasa", total_steps=8192, adapter_ent_coef=adapter_ent_coef)
    seen: dict[str, list[float]] = {"base": [], "adapters": []}
    MAPPO(small_line(), cfg).train(lambda p: seen[p.phase].append(p.losses["entropy"]))
    return seen


def test_adapter_phase_entropy_bonus_applies_after_the_switch_only():
    """The adapters' own bonus leaves the base phase as it was, and a larger one keeps the
    adapted policy trying more actions."""
    low, high = entropy_by_phase(0.0), entropy_by_phase(0.5)
    assert low["base"] == high["base"]
    assert len(low["adapters"]) >= 2
    assert high["adapters"][-1] > low["adapters"][-1] + 0.05


@pytest.mark.parametrize("anneal, halfway", [(True, 0.05), (False, 0.1)])
def test_adapter_phase_bonus_falls_to_zero_over_the_phase(anneal: bool, halfway: float):
    cfg = small_config(method="lorasa", total_steps=8192, adapter_ent_coef=0.1,
                       adapter_ent_anneal=anneal)  # fmt: skip
    tr = MAPPO(small_line(), cfg)
    assert tr._ent_coef() == cfg.ent_coef
    tr.steps = 4096
    tr.switch_to_adapters()
    assert tr._ent_coef() == pytest.approx(0.1)
    tr.steps = 6144
    assert tr._ent_coef() == pytest.approx(halfway)
