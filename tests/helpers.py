"""Small builders shared by tests."""

from __future__ import annotations

from factory_twin.scenario import Scenario, parse_scenario


def line(stations: list[dict], source: dict, length: float, warmup: float = 0.0,
         products: list[dict] | None = None, **extra) -> Scenario:  # fmt: skip
    doc = {
        "name": "test-line",
        "horizon": {"warmup": warmup, "length": length},
        "products": products or [{"name": "a", "mix": 1.0}],
        "source": source,
        "stations": stations,
        **extra,
    }
    return parse_scenario(doc, "test")


def exp(mean: float) -> dict:
    return {"dist": "exponential", "mean": mean}


def det(value: float) -> dict:
    return {"dist": "deterministic", "value": value}


def register(db, scenario: Scenario) -> int:
    """The scenario's row in a test log (as a workflow registers it once per command)."""
    return db.ensure_scenario(scenario.name, scenario.content_hash(), "yaml")


# a training budget that runs in seconds: enough updates to move weights, for tests only
TINY_TRAIN = dict(total_steps=1024, n_envs=2, rollout_len=64, hidden=(32, 32), episode_minutes=60.0)


def rushable_line() -> Scenario:
    """Two exponential stations whose fast mode scraps one part in five."""
    fast = {"fast": {"time_factor": 0.7, "scrap_prob": 0.2}}
    stations = [
        {"name": "a", "buffer": 4, "process": exp(0.5), "speed_modes": fast},
        {"name": "b", "buffer": 4, "process": exp(0.8), "speed_modes": fast},
    ]
    return line(stations, {"kind": "saturated"}, length=120, warmup=10)
