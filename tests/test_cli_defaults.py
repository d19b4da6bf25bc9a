"""The CLI's default training settings are the trainer's: the README's numbers use them."""

import inspect

from factory_twin import cli
from factory_twin.train.config import TrainConfig


def test_cli_budget_and_lora_defaults_match_trainer_defaults():
    defaults = TrainConfig()
    for command in (cli.train, cli.compare):
        assert inspect.signature(command).parameters["steps"].default == defaults.total_steps
    train = inspect.signature(cli.train).parameters
    assert train["rank"].default == defaults.rank
    assert train["switch"].default == defaults.switch_fraction
