"""Scenarios at the edge of what the simulator can run: each is either rejected at validation
with a clear ScenarioError, or runs to the end of its horizon with finite KPIs.

Decisions (see the module docstring of `factory_twin.scenario.model`):
- zero process times are fine as long as they cannot produce endless events at one instant:
  rejected when every station is instant (any source: the conwip heuristic re-releases a line
  under CONWIP), or when instant stations feed an infinite buffer from a saturated source;
- buffers hold at least 1 part (or are infinite: null);
- a machine that is down nearly all the time runs and delivers nothing; one that fails at once
  (mean time to failure below 1e-6 min) is rejected;
- horizon length must be > 0; a warm-up longer than the measured length is allowed;
- wait_time and pm.duration must be at least 1e-6 min (0 would loop forever at one instant);
- a Poisson source so slow that no part finishes still yields KPIs (lead time NaN) and a table.
"""

from __future__ import annotations

import math

import pytest
from helpers import det, exp, line
from typer.testing import CliRunner

from factory_twin.cli import app
from factory_twin.errors import ScenarioError
from factory_twin.policy.heuristics import fifo, pm_threshold
from factory_twin.policy.registry import heuristic
from factory_twin.sim import actions
from factory_twin.sim.kpi import KPIs, collect
from factory_twin.sim.line import Line

pytestmark = pytest.mark.timeout(30)

SATURATED = {"kind": "saturated"}


def run(sc, decider=fifo, seed: int = 0) -> tuple[Line, KPIs]:
    ln = Line(sc, seed, decider)
    ln.run()
    return ln, collect(ln)


def assert_sane(ln: Line, k: KPIs) -> None:
    """The run reached its horizon and every KPI except lead time (NaN when no good part
    left the line) is finite; each station's state fractions sum to 1."""
    assert ln.now == pytest.approx(ln.end)
    for name in ("throughput", "wip", "oee", "scrap_rate", "utilisation", "bound_pct"):
        assert math.isfinite(getattr(k, name)), name
    assert math.isfinite(k.departure_rate)
    if k.good_parts:
        assert math.isfinite(k.lead_time_mean) and math.isfinite(k.lead_time_p95)
    else:
        assert math.isnan(k.lead_time_mean) and math.isnan(k.lead_time_p95)
    for st in k.stations:
        assert math.fsum(st.state_fractions.values()) == pytest.approx(1.0, abs=1e-9)
        assert min(st.state_fractions.values()) >= 0


def rejected(stations, source=SATURATED, length=100.0, **extra) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        line(stations, source, length=length, **extra)
    assert len(str(info.value).splitlines()) == 1
    return info.value


# --- zero process times ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "source", [SATURATED, {"kind": "conwip", "limit": 3}, {"kind": "poisson", "rate": 1.0}]
)
def test_every_station_instant_is_rejected(source):
    """Even under a Poisson source: the conwip heuristic re-releases any line under CONWIP,
    where such a line would loop at time 0."""
    stations = [
        {"name": "a", "buffer": 2, "process": det(0)},
        {"name": "b", "buffer": 2, "process": det(0)},
    ]
    err = rejected(stations, source)
    assert err.path == "stations"
    assert err.expected == (
        "every station has a zero process time (mean below 1e-06 min), so parts would flow "
        "through the line at time 0 without end; give at least one station a positive "
        "process time"
    )


@pytest.mark.parametrize(
    "process",
    [
        exp(1e-9),  # positive, but far below what the clock can resolve
        {"dist": "uniform", "low": 0, "high": 1e-7},
        {"dist": "weibull", "shape": 50, "scale": 1e-300},
    ],
)
def test_near_zero_process_times_count_as_instant(process):
    assert rejected([{"name": "a", "buffer": 1, "process": process}]).path == "stations"


def test_fast_mode_that_makes_every_station_instant_is_rejected():
    st = {
        "name": "a",
        "buffer": 1,
        "process": det(1.5e-6),
        "speed_modes": {"fast": {"time_factor": 0.5}},
    }
    assert rejected([st]).path == "stations"
    st["speed_modes"] = {}
    line([st], SATURATED, length=1)  # at normal speed only it is fine


def test_normal_with_tiny_mean_but_wide_spread_is_not_instant():
    """Drawn as max(X, 0): half the draws are 0, the rest are minutes long."""
    process = {"dist": "normal", "mean": 1e-9, "sd": 1.0}
    sc = line([{"name": "a", "buffer": 2, "process": process}], SATURATED, length=200)
    ln, k = run(sc)
    assert_sane(ln, k)
    assert 100 < k.good_parts < 600  # about 200 / E[max(X, 0)] = 200 / 0.4


def test_instant_stations_before_an_infinite_buffer_are_rejected():
    stations = [
        {"name": "sorter", "buffer": 3, "process": det(0)},
        {"name": "labeler", "buffer": 3, "process": det(0)},
        {"name": "press", "process": det(1.0)},  # buffer null: infinite
    ]
    err = rejected(stations)
    assert err.path == "stations.2.buffer"
    assert err.expected.startswith("stations before 'press' have zero process times")


def test_one_instant_station_among_timed_ones_runs():
    stations = [
        {"name": "sorter", "buffer": 3, "process": det(0)},
        {"name": "press", "buffer": 2, "process": det(1.0)},
        {"name": "pass", "process": det(0)},  # infinite buffer fed by a timed station
        {"name": "pack", "process": det(0.5)},
    ]
    sc = line(stations, SATURATED, length=300, warmup=10)
    ln, k = run(sc)
    assert_sane(ln, k)
    assert k.throughput == pytest.approx(1.0, abs=2 / 300)
    assert k.stations[0].state_fractions["busy"] == 0.0  # instant: never busy ...
    assert k.stations[0].state_fractions["blocked"] == pytest.approx(1.0)  # ... always blocked
    assert k.stations[1].state_fractions["busy"] == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("policy", ["fifo", "conwip"])
def test_poisson_source_may_feed_instant_stations_into_an_infinite_buffer(policy):
    stations = [
        {"name": "a", "process": det(0)},
        {"name": "b", "process": det(0)},
        {"name": "c", "process": det(0.2)},
    ]
    sc, decider = heuristic(policy, line(stations, {"kind": "poisson", "rate": 2.0}, length=200))
    ln, k = run(sc, decider)
    assert_sane(ln, k)
    assert k.good_parts > 300
    if policy == "fifo":
        assert k.lead_time_mean > 0.2 and k.stations[0].state_fractions["busy"] == 0.0


# --- buffers --------------------------------------------------------------------------------


@pytest.mark.parametrize("capacity", [0, -3])
def test_zero_or_negative_buffer_is_rejected(capacity):
    stations = [
        {"name": "a", "buffer": 2, "process": exp(1)},
        {"name": "b", "buffer": capacity, "process": exp(1)},
    ]
    err = rejected(stations)
    assert (err.path, err.expected) == ("stations.1.buffer", f"must be at least 1 (got {capacity})")


def test_one_place_buffers_and_an_infinite_middle_buffer_run():
    stations = [
        {"name": "a", "buffer": 1, "process": exp(1)},
        {"name": "b", "process": exp(0.5)},
        {"name": "c", "buffer": 1, "process": exp(0.8)},
    ]
    ln, k = run(line(stations, SATURATED, length=500))
    assert_sane(ln, k)
    assert k.good_parts > 200


# --- breakdowns -----------------------------------------------------------------------------


def test_station_that_is_always_down_runs_and_delivers_nothing():
    stations = [
        {"name": "feeder", "buffer": 3, "process": exp(1.0)},
        {
            "name": "broken",
            "buffer": 3,
            "process": det(1.0),
            "failure": {"ttf": det(0.01), "ttr": det(1e6)},
        },
    ]
    ln, k = run(line(stations, SATURATED, length=500))
    assert_sane(ln, k)
    assert k.good_parts == 0 and k.throughput == 0.0
    fractions = k.stations[1].state_fractions
    assert fractions["down"] > 0.98  # from its first part (the feeder's first delivery) on
    assert fractions["busy"] == pytest.approx(0.01 / 500)
    assert fractions["down"] + fractions["starved"] == pytest.approx(1 - 0.01 / 500)
    assert k.stations[0].state_fractions["blocked"] > 0.9
    assert k.bound_pct == 0.0


@pytest.mark.parametrize("ttf", [det(0), exp(1e-7), {"dist": "normal", "mean": 1e-12, "sd": 0}])
def test_machine_that_fails_at_once_is_rejected(ttf):
    st = {"name": "m", "buffer": 2, "process": exp(1), "failure": {"ttf": ttf, "ttr": det(0)}}
    err = rejected([st])
    assert err.path == "stations.0.failure.ttf"
    assert err.expected == (
        "mean time to failure must be at least 1e-06 min "
        "(a machine that fails at once can never work)"
    )


def test_instant_repair_is_fine():
    st = {"name": "m", "buffer": 2, "process": det(1.0), "failure": {"ttf": exp(2), "ttr": det(0)}}
    ln, k = run(line([st], SATURATED, length=200))
    assert_sane(ln, k)
    assert k.throughput == pytest.approx(1.0, abs=1 / 200)
    assert k.stations[0].failures > 50


# --- horizon --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("horizon", "path", "expected"),
    [
        ({"length": 0}, "horizon.length", "must be greater than 0 (got 0)"),
        ({"length": -5}, "horizon.length", "must be greater than 0 (got -5)"),
        ({"length": 2e9}, "horizon.length", "must be at most 1e+09 (got 2000000000.0)"),
        ({"length": 10, "warmup": -1}, "horizon.warmup", "must be at least 0 (got -1)"),
        (
            {"length": 10, "warmup": 2e9},
            "horizon.warmup",
            "must be at most 1e+09 (got 2000000000.0)",
        ),
    ],
)
def test_bad_horizons_are_rejected(horizon, path, expected):
    from factory_twin.scenario import parse_scenario

    doc = {
        "name": "h",
        "horizon": horizon,
        "products": [{"name": "a"}],
        "source": SATURATED,
        "stations": [{"name": "s", "buffer": 1, "process": exp(1)}],
    }
    with pytest.raises(ScenarioError) as info:
        parse_scenario(doc, "h.yaml")
    assert (info.value.path, info.value.expected) == (path, expected)


def test_warmup_longer_than_the_measured_length_is_allowed():
    sc = line([{"name": "s", "buffer": 1, "process": det(2.0)}], SATURATED, length=50, warmup=500)
    ln, k = run(sc)
    assert_sane(ln, k)
    assert k.sim_minutes == pytest.approx(50)
    assert k.good_parts == 25  # only parts leaving during the measured window count


# --- slow sources ---------------------------------------------------------------------------


def test_poisson_source_so_slow_that_nothing_finishes():
    sc = line([{"name": "s", "process": exp(1)}], {"kind": "poisson", "rate": 1e-6}, length=100)
    ln, k = run(sc)
    assert_sane(ln, k)
    assert k.good_parts == 0 and ln.totals.released == 0
    assert math.isnan(k.lead_time_mean)
    assert k.throughput == 0.0 and k.bound_pct == 0.0


def test_cli_prints_a_table_when_nothing_finishes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "slow.yaml").write_text(
        "name: slow\nhorizon: {length: 100}\nproducts: [{name: a}]\n"
        "source: {kind: poisson, rate: 1.0e-6}\n"
        "stations: [{name: s, process: {dist: exponential, mean: 1}}]\n"
    )
    db = tmp_path / "runs.sqlite"
    result = CliRunner().invoke(
        app, ["run", "slow.yaml", "--policy", "fifo", "--seeds", "2", "--db", str(db)]
    )
    assert result.exit_code == 0, result.output
    assert "slow: 2 seeds, 100 min each" in result.stdout
    assert "throughput" in result.stdout
    assert "fifo (run 1)" in result.stdout
    assert "nan" in result.stdout  # lead time is undefined, shown as such
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("rate", "expected"),
    [
        (1e-10, "must be at least 1e-09 (got 1e-10)"),
        (1e7, "must be at most 1e+06 (got 10000000.0)"),
    ],
)
def test_poisson_rate_outside_range_is_rejected(rate, expected):
    err = rejected([{"name": "s", "process": exp(1)}], {"kind": "poisson", "rate": rate})
    assert (err.path, err.expected) == ("source.rate", expected)


# --- preventive maintenance and waiting -------------------------------------------------------


@pytest.mark.parametrize(
    ("duration", "expected"),
    [
        (0, "must be at least 1e-06 (got 0)"),
        (-2, "must be at least 1e-06 (got -2)"),
        (1e-9, "must be at least 1e-06 (got 1e-09)"),
    ],
)
def test_pm_that_takes_no_time_is_rejected(duration, expected):
    st = {"name": "m", "buffer": 2, "process": exp(1), "pm": {"duration": duration}}
    err = rejected([st])
    assert (err.path, err.expected) == ("stations.0.pm.duration", expected)


def test_pm_that_never_resets_age_keeps_the_machine_in_pm_but_terminates():
    st = {
        "name": "m",
        "buffer": 2,
        "process": det(1.0),
        "pm": {"duration": 0.5, "resets_age": False, "threshold": 10},
    }
    ln, k = run(line([st], SATURATED, length=200), decider=pm_threshold)
    assert_sane(ln, k)
    assert k.good_parts == 10  # the age passes the threshold after 10 parts; then only PM
    assert k.stations[0].state_fractions["pm"] == pytest.approx(190 / 200)


@pytest.mark.parametrize(
    ("wait", "expected"),
    [(0, "must be at least 1e-06 (got 0)"), (-1, "must be at least 1e-06 (got -1)")],
)
def test_wait_time_that_cannot_move_the_clock_is_rejected(wait, expected):
    err = rejected([{"name": "s", "buffer": 1, "process": exp(1)}], wait_time=wait)
    assert (err.path, err.expected) == ("wait_time", expected)


def test_policy_that_always_waits_terminates():
    sc = line([{"name": "s", "buffer": 2, "process": exp(1)}], SATURATED, length=20, wait_time=0.5)
    ln, k = run(sc, decider=lambda station, machine: actions.WAIT)
    assert_sane(ln, k)
    assert k.good_parts == 0
    assert k.stations[0].state_fractions["idle"] == pytest.approx(1.0)


# --- numbers at the edge ----------------------------------------------------------------------


def test_scrap_everywhere_leaving_no_good_part_is_rejected():
    stations = [
        {"name": f"s{i}", "buffer": 1, "process": exp(1), "scrap_prob": 0.99} for i in range(200)
    ]
    err = rejected(stations)
    assert err.path == "stations"
    assert err.expected == (
        "the line's throughput bound is 0 parts/min: with these scrap probabilities and "
        "times no good part can leave the line"
    )


@pytest.mark.parametrize(
    ("process", "path", "fragment"),
    [
        ({"dist": "uniform", "low": 0, "high": 1e308}, "stations.0.process.high", "at most 1e+12"),
        ({"dist": "normal", "mean": 1, "sd": 1e300}, "stations.0.process.sd", "at most 1e+12"),
        ({"dist": "gamma", "mean": 1, "cv": 1e-200}, "stations.0.process.cv", "at least 1e-06"),
        ({"dist": "gamma", "mean": 1, "cv": 100}, "stations.0.process.cv", "at most 10"),
        ({"dist": "lognormal", "mean": 1, "cv": 1e155}, "stations.0.process.cv", "at most 10"),
        ({"dist": "erlang", "mean": 1, "k": 10_000}, "stations.0.process.k", "at most 1000"),
    ],
)
def test_parameters_the_samplers_cannot_handle_are_rejected(process, path, fragment):
    err = rejected([{"name": "s", "buffer": 1, "process": process}])
    assert err.path == path
    assert fragment in err.expected


@pytest.mark.parametrize(
    "process",
    [
        det(1e12),
        {"dist": "weibull", "shape": 0.051, "scale": 1e12},
        {"dist": "gamma", "mean": 1, "cv": 10},
        {"dist": "lognormal", "mean": 1, "cv": 10},
        {"dist": "lognormal", "mean": 1, "cv": 0},
        {"dist": "normal", "mean": 1e12, "sd": 1e12},
    ],
)
def test_extreme_but_allowed_parameters_run(process):
    stations = [
        {"name": "a", "buffer": 2, "process": exp(1)},
        {"name": "b", "buffer": 2, "process": process},
    ]
    ln, k = run(line(stations, SATURATED, length=100))
    assert_sane(ln, k)
