"""Property-based fuzzing of scenario parsing and of the simulator on what parses.

Whatever document or text comes in, `parse_scenario` / `parse_scenario_text` either return a
Scenario or raise ScenarioError whose message is one printable line naming a field path; no
other exception, no hang. Valid generated lines also simulate: a short run terminates at its
horizon with finite KPIs whose state fractions sum to 1.

The default suite runs about 2,300 derandomised examples (so CI is deterministic); the `slow`
tests run ten times as many and are skipped unless selected with `-m slow`.
"""

from __future__ import annotations

import copy
import math
import random
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, Phase, assume, event, given, settings
from hypothesis import strategies as st

from factory_twin.errors import ScenarioError
from factory_twin.policy.registry import HEURISTICS, heuristic
from factory_twin.scenario import Scenario, parse_scenario, parse_scenario_text
from factory_twin.scenario.loading import _component
from factory_twin.sim import actions
from factory_twin.sim.kpi import collect
from factory_twin.sim.line import Line

FILE = "fuzz.yaml"
ROOT = Path(__file__).parent.parent
DATA_FILES = sorted((ROOT / "scenarios").glob("*.yaml")) + sorted(
    (ROOT / "tests" / "data" / "bad").glob("*.yaml")
)
PER_EXAMPLE_SECONDS = 10.0
FUZZ = settings(
    deadline=None,
    # no explain phase: it traces every line, which makes the per-example time limit flaky
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
    derandomize=True,
    database=None,
    print_blob=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SLOW_FACTOR = 10


def slow_only(request) -> None:
    """The slow runs take minutes: run them only when `-m slow` (or an expression naming
    `slow`) selects them."""
    if "slow" not in (request.config.option.markexpr or ""):
        pytest.skip("long fuzz run; select it with -m slow")


# --- checks ---------------------------------------------------------------------------------


def check_error(err: ScenarioError, doc: object = None) -> None:
    msg = str(err)
    assert err.file == FILE and err.path and err.expected
    assert msg == f"{FILE}: {err.path}: {err.expected}"
    assert len(msg.splitlines()) == 1
    assert msg.isprintable(), msg
    if isinstance(doc, dict) and not err.path.startswith(("(", "line ", "character ")):
        head = err.path.split(".")[0]
        known = set(Scenario.model_fields) | {_component(k) for k in doc}
        assert head in known or any(err.path.startswith(k) for k in known), err.path


def check_parse(doc: object) -> Scenario | None:
    start = time.perf_counter()
    try:
        sc = parse_scenario(doc, FILE)
    except ScenarioError as err:
        check_error(err, doc)
        event(f"rejected at {err.path.split('.')[0]}")
        sc = None
    else:
        assert isinstance(sc, Scenario)
        event("accepted")
    assert time.perf_counter() - start < PER_EXAMPLE_SECONDS
    return sc


def check_text(text: str) -> Scenario | None:
    start = time.perf_counter()
    try:
        sc = parse_scenario_text(text, FILE)
    except ScenarioError as err:
        check_error(err)
        event("rejected")
        sc = None
    else:
        assert isinstance(sc, Scenario)
        event("accepted")
    assert time.perf_counter() - start < PER_EXAMPLE_SECONDS
    return sc


def parse_only(doc: object) -> None:
    check_parse(doc)


def text_only(text: str) -> None:
    check_text(text)


# --- valid documents ------------------------------------------------------------------------

# names from a small alphabet of awkward (printable) characters keep generation fast; fully
# arbitrary unicode (control, bidi and zero-width characters included, which names refuse)
# comes in through the `rename` mutation below
NAME_CHARS = st.sampled_from(
    list("abcxyzABZ019-_.() /é߀") + ["🍾", "😀", "מ", "ي", "中", "\u0301", "\U0001f3ed"]
)
NAMES = st.one_of(
    st.sampled_from(
        [
            "filler",
            "capper",
            "cola",
            "water",
            "board-a",
            "Füller 🍾",
            "מילוי",
            "充填",
            "a.b",
            "null",
        ]
    ),
    st.text(NAME_CHARS, min_size=1, max_size=10).map(str.strip).filter(bool),
)


def dists(lo: float = 0.05, hi: float = 5.0, zero: bool = True) -> st.SearchStrategy[dict]:
    pos = st.floats(lo, hi)
    return st.one_of(
        st.builds(
            lambda v: {"dist": "deterministic", "value": v},
            st.one_of(pos, st.just(0.0)) if zero else pos,
        ),
        st.builds(lambda m: {"dist": "exponential", "mean": m}, pos),
        st.builds(
            lambda a, w: {"dist": "uniform", "low": a, "high": a + w},
            st.floats(0, hi) if zero else pos,
            pos,
        ),
        st.builds(lambda m, s: {"dist": "normal", "mean": m, "sd": s}, pos, st.floats(0, hi)),
        st.builds(lambda m, c: {"dist": "lognormal", "mean": m, "cv": c}, pos, st.floats(0, 2)),
        st.builds(lambda m, c: {"dist": "gamma", "mean": m, "cv": c}, pos, st.floats(0.05, 2)),
        st.builds(lambda m, k: {"dist": "erlang", "mean": m, "k": k}, pos, st.integers(1, 20)),
        st.builds(
            lambda sh, sc: {"dist": "weibull", "shape": sh, "scale": sc}, st.floats(0.5, 5), pos
        ),
    )


def maybe(draw, strategy):
    """A value from `strategy`, or None (meaning: leave the optional key out)."""
    return draw(strategy) if draw(st.booleans()) else None


# built once: constructing strategies inside @composite dominated generation time
PROCESS = dists()
FAILURE = st.fixed_dictionaries({"ttf": dists(1, 200, zero=False), "ttr": dists(0.05, 20)})
FAST = st.fixed_dictionaries(
    {"time_factor": st.floats(0.3, 1)},
    optional={"wear_factor": st.floats(1, 3), "scrap_prob": st.floats(0, 0.3)},
)
PM = st.fixed_dictionaries(
    {"duration": st.floats(0.1, 10)},
    optional={"resets_age": st.booleans(), "threshold": st.one_of(st.none(), st.floats(1, 100))},
)
SETUP_TIME = st.floats(0, 10)
SCRAP = st.floats(0, 0.2)
MACHINES = st.integers(1, 3)
BUFFER = st.one_of(st.none(), st.integers(1, 8))
FINITE_BUFFER = st.integers(1, 8)


@st.composite
def stations(draw, name: str, products: list[str], first: bool, saturated: bool) -> dict:
    doc: dict = {"name": name}
    if draw(st.booleans()):
        doc["machines"] = draw(MACHINES)
    buffer = draw(BUFFER)
    if buffer is None and first and saturated:
        buffer = draw(FINITE_BUFFER)
    if buffer is not None or draw(st.booleans()):
        doc["buffer"] = buffer
    if len(products) > 1 and draw(st.booleans()):
        doc["process"] = {p: draw(PROCESS) for p in products}
    else:
        doc["process"] = draw(PROCESS)
    if len(products) > 1 and draw(st.booleans()):
        pairs = [(a, b) for a in products for b in products if a != b]
        chosen = draw(st.lists(st.sampled_from(pairs), unique=True, max_size=len(pairs)))
        spacer = draw(st.sampled_from(["->", " -> "]))
        doc["setup"] = {"from_to": {f"{a}{spacer}{b}": draw(SETUP_TIME) for a, b in chosen}}
    for key, strategy in (("failure", FAILURE), ("scrap_prob", SCRAP), ("pm", PM)):
        value = maybe(draw, strategy)
        if value is not None:
            doc[key] = value
    fast = maybe(draw, FAST)
    if fast is not None:
        doc["speed_modes"] = {"fast": fast}
    elif draw(st.booleans()):
        doc["speed_modes"] = {}
    return doc


SOURCES = st.one_of(
    st.just({"kind": "saturated"}),
    st.builds(lambda r: {"kind": "poisson", "rate": r}, st.floats(0.05, 3)),
    st.builds(lambda n: {"kind": "conwip", "limit": n}, st.integers(1, 20)),
)


@st.composite
def valid_docs(draw) -> dict:
    names = draw(st.lists(NAMES, min_size=1, max_size=3, unique=True))
    weights = draw(st.lists(st.floats(0.05, 1), min_size=len(names), max_size=len(names)))
    total = math.fsum(weights)
    products = [{"name": n, "mix": w / total} for n, w in zip(names, weights, strict=True)]
    if len(products) == 1 and draw(st.booleans()):
        del products[0]["mix"]  # defaults to 1
    source = copy.deepcopy(draw(SOURCES))
    saturated = source["kind"] == "saturated"
    station_names = draw(st.lists(NAMES, min_size=1, max_size=4, unique=True))
    doc = {
        "name": draw(NAMES),
        "horizon": {"warmup": draw(st.floats(0, 100)), "length": draw(st.floats(1, 1000))},
        "products": products,
        "source": source,
        "stations": [
            draw(stations(n, names, i == 0, saturated)) for i, n in enumerate(station_names)
        ],
    }
    if draw(st.booleans()):
        # NEL and the Unicode line/paragraph separators are YAML line breaks: PyYAML's dumper
        # writes them raw and its loader folds them, so they cannot survive the YAML trip
        free_text = st.characters(exclude_characters="\x85\u2028\u2029")
        doc["description"] = draw(st.text(free_text, max_size=40))
    if draw(st.booleans()):
        doc["wait_time"] = draw(st.floats(0.1, 5))
    if draw(st.booleans()):
        doc["costs"] = draw(
            st.fixed_dictionaries(
                {},
                optional={
                    k: st.floats(0, 10) for k in ("good_unit", "wip_per_minute", "scrap", "pm")
                },
            )
        )
    return doc


ZERO_TIME_REJECTIONS = ("every station has a zero process time", "have zero process times")


@settings(FUZZ, max_examples=500)
@given(valid_docs())
def test_valid_documents_parse(doc):
    check_valid(doc)


@pytest.mark.slow
def test_valid_documents_parse_slow(request):
    slow_only(request)
    settings(FUZZ, max_examples=500 * SLOW_FACTOR)(given(valid_docs())(check_valid))()


def check_valid(doc: dict) -> None:
    """Generated lines are valid except where every station (or every one in front of an
    infinite buffer) can take zero time; they also survive a trip through YAML."""
    sc = check_parse(copy.deepcopy(doc))
    if sc is None:
        with pytest.raises(ScenarioError) as info:
            parse_scenario(doc, FILE)
        assert any(r in info.value.expected for r in ZERO_TIME_REJECTIONS), str(info.value)
        return
    assert sc.product_names == [p["name"] for p in doc["products"]]
    text = yaml.safe_dump(doc, allow_unicode=bool(len(sc.name) % 2), sort_keys=False)
    assert parse_scenario_text(text, FILE) == sc


# --- simulation of valid documents ------------------------------------------------------------


def random_decider(seed: int):
    """A policy that tries everything the action space allows: wait, any waiting product at
    either speed, PM where the station has it."""
    rng = random.Random(seed)

    def decide(station, machine) -> int:
        n = station.line.n_products
        options = [actions.WAIT] if rng.random() < 0.1 else []
        for k, q in enumerate(station.buffer.queues):
            if q:
                options.append(actions.process(k))
                if station.fast is not None:
                    options.append(actions.process(k, fast=True))
        if station.spec.pm is not None and rng.random() < 0.2:
            options.append(actions.pm(n))
        return rng.choice(options) if options else actions.WAIT

    return decide


def check_simulation(doc: dict, policy: str, seed: int) -> None:
    sc = check_parse(doc)
    assume(sc is not None)
    if policy == "random":
        decider = random_decider(seed)
    else:
        sc, decider = heuristic(policy, sc)
    start = time.perf_counter()
    line = Line(sc, seed, decider, warmup=0, length=50)
    line.run()
    k = collect(line)
    assert time.perf_counter() - start < PER_EXAMPLE_SECONDS
    assert line.now == 50
    for name in ("throughput", "wip", "oee", "scrap_rate", "utilisation", "bound_pct"):
        value = getattr(k, name)
        assert math.isfinite(value) and value >= 0, (name, value)
    assert (k.good_parts == 0) == math.isnan(k.lead_time_mean)
    for st_kpi in k.stations:
        fractions = st_kpi.state_fractions.values()
        assert math.fsum(fractions) == pytest.approx(1.0, abs=1e-9)
        assert min(fractions) >= 0
    event(f"policy {policy}")


POLICIES = st.sampled_from([*HEURISTICS, "random"])


@pytest.mark.timeout(300)
@settings(FUZZ, max_examples=200)
@given(valid_docs(), POLICIES, st.integers(0, 2**16))
def test_valid_documents_simulate(doc, policy, seed):
    check_simulation(doc, policy, seed)


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_valid_documents_simulate_slow(request):
    slow_only(request)
    fuzz = given(valid_docs(), POLICIES, st.integers(0, 2**16))(check_simulation)
    settings(FUZZ, max_examples=200 * SLOW_FACTOR)(fuzz)()


# --- mutated documents ----------------------------------------------------------------------

SCALAR_JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([10**400, -(10**30), 2**63, 0, -1, 1]),
    st.floats(),
    st.sampled_from([float("nan"), float("inf"), -float("inf"), 1e308, 5e-324, -0.0, 1e-300]),
    st.text(max_size=30),
    st.sampled_from(
        [
            "",
            " ",
            "\n",
            "\x00",
            "🍾🍾🍾",
            "\u202eevil",
            "a\u2028b",
            "[/x]",
            "[bold]",
            "normal",
            "deterministic",
            "a->b",
            "->",
            "NaN",
            "-inf",
            "1e400",
            "yes",
            "~",
            "x" * 2000,
        ]
    ),  # fmt: skip
    st.binary(max_size=8),
)


def nested(depth: int, leaf: object = 1) -> object:
    out = leaf
    for i in range(depth):
        out = [out] if i % 2 else {"k": out}
    return out


JUNK = st.one_of(
    st.recursive(
        SCALAR_JUNK,
        lambda kids: st.one_of(
            st.lists(kids, max_size=4),
            st.dictionaries(st.one_of(st.text(max_size=8), st.integers()), kids, max_size=4),
        ),
        max_leaves=12,
    ),
    st.integers(10, 400).map(nested),
    st.integers(257, 5000).map(lambda n: [0] * n),
    st.integers(17, 3000).map(lambda n: {f"k{i}": i for i in range(n)}),
)


def slots(node: object, out: list) -> list:
    """Every (container, key) position in a document."""
    if isinstance(node, dict):
        for key, value in node.items():
            out.append((node, key))
            slots(value, out)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out.append((node, i))
            slots(value, out)
    return out


@st.composite
def mutated_docs(draw) -> dict:
    doc = copy.deepcopy(draw(valid_docs()))
    rnd = random.Random(draw(st.integers(0, 2**32)))  # uniform picks of where to mutate
    for _ in range(draw(st.integers(1, 3))):
        places = slots(doc, [])
        op = draw(st.sampled_from(["replace", "delete", "add", "duplicate", "rename", "number"]))
        if op == "duplicate" and isinstance(doc.get("stations"), list) and doc["stations"]:
            doc["stations"].append(copy.deepcopy(rnd.choice(doc["stations"])))
            continue
        named = [
            d
            for key in ("stations", "products")
            if isinstance(doc.get(key), list)
            for d in doc[key]
            if isinstance(d, dict)
        ]
        if op == "rename" and named:
            rnd.choice(named)["name"] = draw(st.one_of(st.text(max_size=70), SCALAR_JUNK))
            continue
        if not places:
            continue
        container, key = rnd.choice(places)
        if op == "replace":
            container[key] = draw(JUNK)
        elif op == "number":
            container[key] = draw(
                st.one_of(
                    st.floats(), st.integers(-(10**6), 10**6), st.sampled_from([0, -1, 1e12, 1e13])
                )
            )
        elif op == "delete":
            del container[key]
        elif isinstance(container, dict):
            container[draw(st.one_of(st.text(max_size=12), st.integers(), st.none()))] = draw(JUNK)
        else:
            container.insert(key, draw(JUNK))
    return doc


@settings(FUZZ, max_examples=800)
@given(mutated_docs())
def test_mutated_documents_parse_or_fail_cleanly(doc):
    check_parse(doc)


@pytest.mark.slow
def test_mutated_documents_parse_or_fail_cleanly_slow(request):
    slow_only(request)
    settings(FUZZ, max_examples=800 * SLOW_FACTOR)(given(mutated_docs())(parse_only))()


@settings(FUZZ, max_examples=200)
@given(JUNK)
def test_arbitrary_values_parse_or_fail_cleanly(value):
    check_parse(value)


# --- raw text -------------------------------------------------------------------------------

YAMLISH = st.text(
    st.one_of(st.sampled_from(list(":-[]{}&*!|>'\"#%@`,?<= \n\t.0123456789eE+~")), st.characters()),
    max_size=200,
)


SEED_TEXTS = [p.read_text(encoding="utf-8") for p in DATA_FILES]


@st.composite
def damaged_yaml(draw) -> str:
    """A shipped or malformed example scenario with pieces cut, spliced or overwritten."""
    text = draw(st.sampled_from(SEED_TEXTS))
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(text)))
        j = draw(st.integers(i, min(len(text), i + 40)))
        text = text[:i] + draw(YAMLISH.map(lambda s: s[:20])) + text[j:]
    return text


@st.composite
def bombs(draw) -> str:
    """Alias bombs, alias loops, deep nesting, long lines and odd tags, placed into a field."""
    kind = draw(
        st.sampled_from(["laughs", "loop", "flow", "block", "mapping", "merge", "tags", "long"])
    )
    field = draw(
        st.sampled_from(["name", "description", "stations", "products", "source", "horizon"])
    )
    header = "horizon: {length: 10}\nproducts: [{name: a}]\nsource: {kind: saturated}\n"
    header += "stations: [{name: s, buffer: 1, process: {dist: exponential, mean: 1}}]\n"
    header = "\n".join(line for line in header.splitlines() if not line.startswith(field + ":"))
    if kind == "laughs":
        depth, fan = draw(st.integers(2, 12)), draw(st.integers(2, 10))
        lines = [f"l0: &l0 [{', '.join(['lol'] * fan)}]"]
        lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * fan)}]" for i in range(1, depth)]
        return "\n".join(lines) + f"\n{header}\n{field}: *l{depth - 1}\n"
    if kind == "loop":
        return f"{header}\n{field}: &x [*x, {{a: *x}}]\n"
    if kind == "merge":
        return f"{header}\n{field}: &x {{<<: *x, a: 1}}\n"
    if kind == "flow":
        n = draw(st.integers(50, 20_000))
        return f"{header}\n{field}: " + "[" * n + "]" * n + "\n"
    if kind == "block":
        n = draw(st.integers(50, 1000))
        return f"{header}\n{field}:\n" + "".join("  " * i + "- \n" for i in range(1, n))
    if kind == "mapping":
        n = draw(st.integers(50, 1000))
        return (
            f"{header}\n{field}:\n"
            + "".join(" " * i + f"k{i}:\n" for i in range(1, n))
            + " " * n
            + "1\n"
        )
    if kind == "tags":
        tag = draw(
            st.sampled_from(
                [
                    "!!int",
                    "!!float",
                    "!!bool",
                    "!!null",
                    "!!timestamp",
                    "!!binary",
                    "!!set",
                    "!!omap",
                    "!!pairs",
                    "!!str",
                    "!!seq",
                    "!!map",
                    "!!python/object:os.system",
                    "!custom",
                    "!<tag:yaml.org,2002:int>",
                ]
            )  # fmt: skip
        )
        value = draw(st.sampled_from(["abc", "1", "{a: 1}", "[1, 2]", "2024-13-45", "'x'", "***"]))
        return f"{header}\n{field}: {tag} {value}\n"
    n = draw(st.integers(1000, 200_000))
    return f"{header}\n{field}: " + draw(st.sampled_from(["x", "9", "ä", "🍾"])) * n + "\n"


TEXTS = st.one_of(YAMLISH, damaged_yaml(), bombs())


@pytest.mark.timeout(300)
@settings(FUZZ, max_examples=600)
@given(TEXTS)
def test_raw_text_parses_or_fails_cleanly(text):
    check_text(text)


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_raw_text_parses_or_fails_cleanly_slow(request):
    slow_only(request)
    settings(FUZZ, max_examples=600 * SLOW_FACTOR)(given(TEXTS)(text_only))()
