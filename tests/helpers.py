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
