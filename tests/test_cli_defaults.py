"""The CLI's default training budget is the trainer's: the README's numbers use it."""

from factory_twin.cli import DEFAULT_STEPS
from factory_twin.train.mappo import TrainConfig


def test_cli_budget_matches_trainer_default():
    assert DEFAULT_STEPS == TrainConfig().total_steps
