"""Valid but endless scenarios are warned about (one line naming the field, the scenario still
loads), and names holding bidi overrides or other unprintable characters are refused with one
line naming the field path."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from factory_twin.cli import app
from factory_twin.errors import ScenarioError, ScenarioWarning
from factory_twin.scenario import load_scenario, parse_scenario
from factory_twin.scenario.workload import SLOW_RUN_S, estimated_seconds

LINE = {
    "name": "w",
    "horizon": {"warmup": 0, "length": 480},
    "products": [{"name": "a"}],
    "source": {"kind": "poisson", "rate": 0.5},
    "stations": [
        {"name": "s1", "process": {"dist": "exponential", "mean": 1.0}},
        {"name": "s2", "buffer": 4, "process": {"dist": "exponential", "mean": 1.5}},
    ],
}


def variant(**changes) -> dict:
    doc = yaml.safe_load(yaml.safe_dump(LINE))
    for path, value in changes.items():
        node, *keys, last = [doc, *path.split("__")]
        for key in keys:
            node = node[int(key)] if isinstance(node, list) else node[key]
        node[int(last) if isinstance(node, list) else last] = value
    return doc


def caught(doc: dict) -> list[ScenarioWarning]:
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        parse_scenario(doc, "w.yaml")
    return [w.message for w in seen if isinstance(w.message, ScenarioWarning)]


def test_a_reasonable_line_loads_without_warning():
    assert caught(LINE) == []
    assert estimated_seconds(parse_scenario(LINE)) < 1.0


def test_horizon_of_a_billion_minutes_warns_but_loads():
    doc = variant(horizon__length=1e9)
    [warning] = caught(doc)
    assert (warning.file, warning.path) == ("w.yaml", "horizon")
    assert "hours of simulation per replication" in warning.message
    with pytest.warns(ScenarioWarning):
        assert estimated_seconds(parse_scenario(doc)) > SLOW_RUN_S


def test_poisson_rate_above_capacity_warns_with_the_bottleneck():
    [warning] = caught(variant(source__rate=2.0))
    assert warning.path == "source.rate" and "queue grows without limit" in warning.message
    assert "'s2'" in warning.message and "3 times" in warning.message


def test_poisson_rate_of_a_million_warns_twice():
    found = caught(variant(source__rate=1e6))
    assert [w.path for w in found] == ["source.rate", "horizon"]
    assert all("\n" not in str(w) for w in found)


def test_overload_into_finite_buffers_does_not_warn_about_the_queue():
    doc = variant(source__rate=2.0, stations__0__buffer=5)  # arrivals are lost, no queue
    assert caught(doc) == []


def test_cli_prints_the_warning_as_one_line_and_goes_on(tmp_path: Path):
    path = tmp_path / "slow.yaml"
    path.write_text(yaml.safe_dump(variant(horizon__length=1e9)))
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"warning: {path}: horizon: warm-up")
    assert result.stdout.startswith(f"ok {path}")


@pytest.mark.parametrize(
    "field, name",
    [
        ("name", "line\u202eevil"),
        ("products.0.name", "a\u2066b"),
        ("stations.1.name", "s\u200b2"),
        ("stations.0.name", "s\u00a01"),
        ("stations.0.name", "s\x071"),
    ],
    ids=["bidi-override", "bidi-isolate", "zero-width", "nbsp", "bell"],
)
def test_unprintable_characters_in_names_are_refused(field: str, name: str):
    doc = variant(**{field.replace(".", "__"): name})
    if field.startswith("products"):  # keep the line consistent: no product-keyed tables
        doc["products"][0]["name"] = name
    with pytest.raises(ScenarioError) as info:
        parse_scenario(doc, "w.yaml")
    err = info.value
    assert err.path == field
    assert f"U+{ord(next(c for c in name if not c.isprintable())):04X}" in err.expected
    assert str(err).isprintable() and "\n" not in str(err)


def test_bidi_name_in_a_file_is_one_line_from_the_cli(tmp_path: Path):
    path = tmp_path / "bidi.yaml"
    path.write_text(yaml.safe_dump(variant(name="x\u202egnp.exe"), allow_unicode=True))
    with pytest.raises(ScenarioError, match="U\\+202E"):
        load_scenario(path)
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}: name: ")
    assert "U+202E" in lines[0]
    assert "\u202e" not in result.stderr
