"""Every way a planner can get a scenario file wrong ends in one ScenarioError naming the file,
the field path and what was expected.

`tests/data/bad/` holds one malformed file per mistake; `EXPECTED` says, for each, which field
path the error must name and a fragment of the expectation it must state.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest
import yaml

from factory_twin.errors import ScenarioError
from factory_twin.scenario import Scenario, load_scenario, parse_scenario, parse_scenario_text
from factory_twin.scenario.loading import MAX_TEXT_BYTES

BAD = Path(__file__).parent / "data" / "bad"
SHIPPED = sorted((Path(__file__).parent.parent / "scenarios").glob("*.yaml"))

# file stem -> (field path, fragment of the expectation)
EXPECTED: dict[str, tuple[str, str]] = {
    "yaml_syntax": (
        "line 4, column 9",
        "invalid YAML: expected ',' or '}', but got ':' "
        "(while parsing a flow mapping at line 3, column 10)",
    ),
    "yaml_tab_indent": ("line 14, column 1", "found character '\\t' that cannot start any token"),
    "yaml_two_documents": ("line 16, column 1", "but found another document"),
    "yaml_bad_tagged_value": ("(yaml)", "invalid YAML value: ValueError: could not convert"),
    "duplicate_key": (
        "line 12, column 5",
        "found duplicate key 'buffer' (first written at line 10, column 5)",
    ),
    "top_level_list": (
        "(top level)",
        "expected a mapping of scenario fields at the top level, got list",
    ),
    "wrong_type_machines": ("stations.0.machines", "valid integer"),
    "stations_mapping": ("stations", "valid list"),
    "negative_rate": ("source.rate", "must be at least 1e-09 (got -0.5)"),
    "zero_rate": ("source.rate", "must be at least 1e-09 (got 0)"),
    "unknown_distribution": ("stations.1.process", "unknown kind 'triangular'; expected one of"),
    "unknown_source_kind": ("source", "unknown kind 'batch'"),
    "distribution_without_dist": ("stations.1.process", "missing the tag field; expected 'dist'"),
    "mix_not_summing": ("products", "mix values must sum to 1 (they sum to 0.9)"),
    "setup_unknown_product": (
        "stations.0.setup.from_to",
        "'water->juice' names an unknown product",
    ),
    "setup_key_without_arrow": ("stations.0.setup.from_to", "'cola-water' must look like"),
    "empty_stations": ("stations", "at least 1 item"),
    "unknown_key_typo": ("stations.0.machnies", "unknown key"),
    "missing_process": ("stations.1.process", "required field is missing"),
    "missing_horizon": ("horizon", "required field is missing"),
    "duplicate_station_names": (
        "stations",
        "station names must be unique ('filler' appears twice)",
    ),
    "duplicate_product_names": ("products", "product names must be unique ('cola' appears twice)"),
    "nan_mean": ("stations.1.process.mean", "finite number (got nan)"),
    "inf_length": ("horizon.length", "finite number (got inf)"),
    "zero_horizon_length": ("horizon.length", "must be greater than 0 (got 0)"),
    "process_table_missing_product": ("stations.0.process", "(missing ['water'], unknown [])"),
    "process_table_bad_entry": (
        "stations.0.process.water.mean",
        "must be greater than 0 (got -1.0)",
    ),
    "uniform_high_below_low": ("stations.1.process", "high must be >= low"),
    "saturated_infinite_first_buffer": ("stations.0.buffer", "saturated source needs a finite"),
    "zero_capacity_buffer": ("stations.1.buffer", "must be at least 1 (got 0)"),
    "all_zero_process_times": ("stations", "every station has a zero process time"),
    "zero_time_before_infinite_buffer": (
        "stations.1.buffer",
        "fill this infinite buffer at time 0 without end",
    ),
    "wait_time_zero": ("wait_time", "must be at least 1e-06 (got 0)"),
    "pm_duration_zero": ("stations.0.pm.duration", "must be at least 1e-06 (got 0)"),
    "ttf_zero": ("stations.0.failure.ttf", "mean time to failure must be at least 1e-06 min"),
    "scrap_prob_one": ("stations.1.scrap_prob", "must be less than 1 (got 1.0)"),
    "name_with_control_char": ("stations.1.name", "'capper\\x1b[31m' must not contain control"),
    "huge_process_time": ("stations.1.process.value", "must be at most 1e+12 (got 1e+300)"),
    "gamma_cv_extreme": ("stations.1.process.cv", "must be at most 10 (got 10000)"),
}


def bad_files() -> list[Path]:
    return sorted(BAD.glob("*.yaml"))


def test_every_bad_file_has_an_expectation_and_vice_versa():
    assert {p.stem for p in bad_files()} == set(EXPECTED)
    assert len(EXPECTED) >= 12


@pytest.mark.parametrize("path", bad_files(), ids=lambda p: p.stem)
def test_bad_file_names_file_field_and_expectation(path: Path):
    field, fragment = EXPECTED[path.stem]
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    err = info.value
    assert err.file == str(path)
    assert err.path == field
    assert fragment in err.expected
    assert str(err) == f"{path}: {field}: {err.expected}"
    assert len(str(err).splitlines()) == 1


@pytest.mark.parametrize("path", bad_files(), ids=lambda p: p.stem)
def test_text_and_file_entry_points_agree(path: Path):
    with pytest.raises(ScenarioError) as from_file:
        load_scenario(path)
    with pytest.raises(ScenarioError) as from_text:
        parse_scenario_text(path.read_text(encoding="utf-8"), str(path))
    assert str(from_text.value) == str(from_file.value)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_scenarios_are_valid(path: Path):
    assert isinstance(load_scenario(path), Scenario)


# --- files that cannot be read --------------------------------------------------------------


def test_missing_file(tmp_path: Path):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ScenarioError) as info:
        load_scenario(missing)
    assert str(info.value) == f"{missing}: (file): file not found"


def test_directory_instead_of_file(tmp_path: Path):
    with pytest.raises(ScenarioError) as info:
        load_scenario(tmp_path)
    assert str(info.value).startswith(f"{tmp_path}: (file): cannot read file (")


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root can read any file"
)
def test_unreadable_file(tmp_path: Path):
    path = tmp_path / "locked.yaml"
    path.write_text(SHIPPED[0].read_text())
    path.chmod(0)
    try:
        with pytest.raises(ScenarioError) as info:
            load_scenario(path)
    finally:
        path.chmod(0o600)
    assert str(info.value) == f"{path}: (file): cannot read file (PermissionError)"


def test_non_utf8_file(tmp_path: Path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: Kühlung\n".encode("latin-1"))
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert str(info.value) == f"{path}: (file): not UTF-8 text (byte 0xfc at offset 7)"


def test_utf16_file_is_not_utf8(tmp_path: Path):
    path = tmp_path / "utf16.yaml"
    path.write_bytes(SHIPPED[0].read_text().encode("utf-16"))
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert "not UTF-8 text (byte 0xff at offset 0)" in str(info.value)


def test_utf8_bom_is_accepted(tmp_path: Path):
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + SHIPPED[0].read_bytes())
    assert load_scenario(path) == load_scenario(SHIPPED[0])


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "---\n", "~\n"])
def test_empty_document(tmp_path: Path, text: str):
    path = tmp_path / "empty.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert str(info.value) == (
        f"{path}: (top level): the document is empty; expected a mapping of scenario fields"
    )


@pytest.mark.parametrize(
    ("text", "got"), [("just words\n", "str"), ("42\n", "int"), ("- a\n- b\n", "list")]
)
def test_top_level_must_be_a_mapping(text: str, got: str):
    with pytest.raises(ScenarioError) as info:
        parse_scenario_text(text, "f.yaml")
    assert str(info.value) == (
        f"f.yaml: (top level): expected a mapping of scenario fields at the top level, got {got}"
    )


@pytest.mark.timeout(30)
def test_huge_file_is_refused_without_parsing(tmp_path: Path):
    path = tmp_path / "huge.yaml"
    line = "# " + "x" * 98 + "\n"
    with path.open("w") as fh:
        fh.write(SHIPPED[0].read_text())
        for _ in range(MAX_TEXT_BYTES // len(line) + 1):
            fh.write(line)
    assert path.stat().st_size > MAX_TEXT_BYTES
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert str(info.value) == f"{path}: (file): file too large (more than {MAX_TEXT_BYTES} bytes)"
    with pytest.raises(ScenarioError) as info:
        parse_scenario_text(path.read_text(), "huge.yaml")
    assert (
        str(info.value)
        == f"huge.yaml: (file): text too large (more than {MAX_TEXT_BYTES} characters)"
    )


@pytest.mark.timeout(30)
def test_large_file_within_the_limit_still_parses(tmp_path: Path):
    path = tmp_path / "commented.yaml"
    text = SHIPPED[0].read_text() + "# padding comment line\n" * 80_000
    assert MAX_TEXT_BYTES // 2 < len(text) < MAX_TEXT_BYTES
    path.write_text(text)
    assert load_scenario(path) == load_scenario(SHIPPED[0])


@pytest.mark.parametrize(("n", "ok"), [(256, True), (257, False)])
def test_station_count_limit(n: int, ok: bool):
    doc = minimal()
    doc["stations"] = [
        {"name": f"s{i}", "buffer": 2, "process": {"dist": "exponential", "mean": 1}}
        for i in range(n)
    ]
    text = yaml.safe_dump(doc)
    if ok:
        assert len(parse_scenario_text(text, "f.yaml").stations) == n
    else:
        with pytest.raises(ScenarioError) as info:
            parse_scenario_text(text, "f.yaml")
        assert info.value.path == "stations"
        assert "at most 256 items" in info.value.expected


def test_device_file_is_read_no_further_than_the_limit():
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero")
    with pytest.raises(ScenarioError) as info:
        load_scenario("/dev/zero")
    assert (
        str(info.value) == f"/dev/zero: (file): file too large (more than {MAX_TEXT_BYTES} bytes)"
    )


# --- YAML the loader cannot build -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "path", "fragment"),
    [
        ("a: !!int abc\n", "(yaml)", "invalid literal for int()"),
        ("a: !!timestamp soon\n", "(yaml)", "invalid YAML value: AttributeError"),
        ("a: 2024-13-45\n", "(yaml)", "month must be in 1..12"),
        ("a: 1" + "0" * 5000 + "\n", "(yaml)", "Exceeds the limit (4300 digits)"),
        (
            "a: !!python/object:os.system {}\n",
            "line 1, column 4",
            "could not determine a constructor",
        ),
        ("a: *nowhere\n", "line 1, column 4", "found undefined alias 'nowhere'"),
        ("? [1, 2]\n: x\n", "line 1, column 3", "found unhashable key"),
        ("a: 1\x00\n", "character 4", "unacceptable character #x0000"),
        ("[" * 5000 + "]" * 5000, "line 1, column 65", "nesting deeper than 64 levels"),
        (
            "a:\n" + "".join("  " * i + "- \n" for i in range(1, 100)),
            "line 65, column 129",
            "nesting",
        ),
    ],
)
def test_yaml_the_loader_cannot_build(text: str, path: str, fragment: str):
    with pytest.raises(ScenarioError) as info:
        parse_scenario_text(text, "f.yaml")
    assert info.value.path == path
    assert fragment in info.value.expected
    assert len(str(info.value).splitlines()) == 1


@pytest.mark.parametrize(("depth", "ok"), [(64, True), (65, False)])
def test_nesting_limit(depth: int, ok: bool):
    text = "[" * depth + "]" * depth
    with pytest.raises(ScenarioError) as info:
        parse_scenario_text(text, "f.yaml")
    if ok:
        assert info.value.path == "(top level)"  # parsed; a list is no scenario
    else:
        assert str(info.value) == (
            f"f.yaml: line 1, column {depth}: invalid YAML: nesting deeper than 64 levels"
        )


def test_merge_keys_may_be_overridden_but_plain_duplicates_may_not():
    base = SHIPPED[0].read_text()
    merged = base + "costs: {<<: &c {good_unit: 2.0, scrap: 0.1}, good_unit: 3.0}\n"
    merged = merged.replace("costs: {good_unit: 1.0", "x_costs: {good_unit: 1.0", 1)
    with pytest.raises(ScenarioError) as info:  # x_costs is an unknown key
        parse_scenario_text(merged, "f.yaml")
    assert info.value.path == "x_costs"
    ok = merged.replace(
        "x_costs: {good_unit: 1.0, wip_per_minute: 0.002, scrap: 0.5, pm: 0.5}\n", ""
    )
    sc = parse_scenario_text(ok, "f.yaml")
    assert (sc.costs.good_unit, sc.costs.scrap) == (3.0, 0.1)


# --- paths through unions, odd keys and odd names -------------------------------------------


def minimal(**changes) -> dict:
    doc = {
        "name": "t",
        "horizon": {"length": 100},
        "products": [{"name": "a", "mix": 0.5}, {"name": "b", "mix": 0.5}],
        "source": {"kind": "saturated"},
        "stations": [{"name": "s", "buffer": 2, "process": {"dist": "exponential", "mean": 1}}],
    }
    doc.update(copy.deepcopy(changes))
    return doc


def error_of(doc: dict) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(doc, "f.yaml")
    return info.value


def with_station(**fields) -> dict:
    doc = minimal()
    doc["stations"][0].update(fields)
    return doc


def test_products_named_like_distribution_tags_keep_their_place_in_the_path():
    doc = minimal(products=[{"name": "normal", "mix": 0.5}, {"name": "integral", "mix": 0.5}])
    doc["stations"][0]["process"] = {
        "normal": {"dist": "normal", "mean": 1, "sd": 0.1},
        "integral": {"dist": "gamma", "mean": 1, "cv": -1},
    }
    err = error_of(doc)
    assert (err.path, err.expected) == (
        "stations.0.process.integral.cv",
        "must be at least 1e-06 (got -1)",
    )


def test_an_extra_key_named_like_the_tag_is_reported_under_its_own_name():
    err = error_of(with_station(process={"dist": "normal", "mean": 1, "sd": 0, "normal": 2}))
    assert (err.path, err.expected) == (
        "stations.0.process.normal",
        "unknown key (remove it or check its spelling)",
    )


def test_single_distribution_errors_are_not_reported_as_per_product_table_errors():
    err = error_of(with_station(process={"dist": "lognormal", "mean": 1, "cv": 99}))
    assert (err.path, err.expected) == ("stations.0.process.cv", "must be at most 10 (got 99)")


def test_per_product_table_errors_are_not_reported_as_a_missing_tag():
    table = {"a": {"dist": "exponential", "mean": 1}, "b": {"dist": "erlang", "mean": 1, "k": 0}}
    err = error_of(with_station(process=table))
    assert (err.path, err.expected) == ("stations.0.process.b.k", "must be at least 1 (got 0)")


def test_a_process_that_is_no_mapping():
    err = error_of(with_station(process=3))
    assert (err.path, err.expected) == (
        "stations.0.process",
        "expected a mapping (key: value pairs) (got 3)",
    )


def test_relative_rule_paths_include_the_station_index():
    doc = minimal()
    doc["stations"].append({"name": "t", "process": {"dist": "exponential", "mean": 1}})
    doc["stations"][1]["failure"] = {
        "ttf": {"dist": "uniform", "low": 0, "high": 1e-7},
        "ttr": {"dist": "exponential", "mean": 1},
    }
    assert error_of(doc).path == "stations.1.failure.ttf"


@pytest.mark.parametrize(
    ("key", "shown"),
    [
        ("foo\nbar", "'foo\\nbar'"),
        ("a.b", "'a.b'"),
        (" padded", "' padded'"),
        ("x" * 100, "x" * 37 + "..."),
        ("line\u2028sep", "'line\\u2028sep'"),
    ],
)
def test_odd_unknown_keys_are_quoted_on_one_line(key: str, shown: str):
    err = error_of(with_station(**{key: 1}))
    assert err.path == f"stations.0.{shown}"
    assert len(str(err).splitlines()) == 1


def test_non_string_keys():
    err = error_of(with_station(**{"name": "s"}) | {7: 1})
    assert (err.path, err.expected) == ("7", "keys must be strings (got 7)")


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("", "at least 1 character"),
        ("x" * 65, "at most 64 characters"),
        (" filler", "must not start or end with whitespace"),
        ("filler\n", "must not start or end with whitespace"),
        ("fil\nler", "'fil\\nler' must not contain control characters"),
        ("fil\u2029ler", "must not contain control characters"),
        ("a>b", "must not contain '>'"),
        (3, "valid string"),
    ],
)
def test_bad_station_names(name, fragment: str):
    err = error_of(with_station(name=name))
    assert err.path == "stations.0.name"
    assert fragment in err.expected
    assert len(str(err).splitlines()) == 1


@pytest.mark.parametrize("name", ["Füller 🍾", "מילוי", "充填機", "a-b_c.d (2)", "x" * 64])
def test_unicode_names_are_fine(name: str):
    doc = with_station(name=name)
    assert parse_scenario(doc, "f.yaml").stations[0].name == name
    text = yaml.safe_dump(doc, allow_unicode=True)
    assert parse_scenario_text(text, "f.yaml").stations[0].name == name


def test_setup_key_with_a_newline_is_quoted():
    err = error_of(with_station(setup={"from_to": {"a->b\nc": 1.0}}))
    assert err.path == "stations.0.setup.from_to"
    assert err.expected.startswith("'a->b\\nc' names an unknown product")


def test_long_values_are_shortened():
    err = error_of(with_station(machines="m" * 500))
    assert err.expected.endswith("(got 'mmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmm...)")


def test_first_problem_in_document_order_is_reported():
    doc = minimal(horizon={"length": -1}, wait_time=0)
    doc["stations"][0]["buffer"] = 0
    assert error_of(doc).path == "horizon.length"
