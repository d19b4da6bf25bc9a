"""Scenario schema: what a planner writes in YAML to describe a production line.

Pydantic v2 models with `extra="forbid"` so a typo is an error, never silently ignored.
`load_scenario` turns every problem (unreadable file, bad YAML, schema violation) into one
`ScenarioError` naming the file, the field path and what was expected.

Guards against scenarios the simulator cannot run (each is a validation error, never a hang):

- every time is finite and at most `MAX_TIME` minutes, so means and sums of times stay finite;
  horizons (warm-up and length) are at most `MAX_HORIZON` minutes each;
- `wait_time` and `pm.duration` are at least `MIN_TIME` minutes: a shorter step cannot move the
  simulation clock at the end of the longest horizon, so a policy that keeps waiting or doing
  PM would loop forever at one instant;
- a Poisson source's rate lies in [1e-9, 1e6] parts per minute (mean gap <= MAX_TIME and
  >= MIN_TIME);
- zero process times are allowed (a pass-through station), but not where they make an endless
  stream of events at one instant: a station is *instant* when every product's mean process
  time (times its fastest speed factor) is below `MIN_TIME`. At least one station must not be
  instant, whatever the source: with a saturated or CONWIP release every part would leave at
  time 0 and be replaced at once (a Poisson line would run, but the `conwip` heuristic
  re-releases any line under CONWIP). With a saturated source the first non-instant station's
  input buffer must also be finite when instant stations feed it, or they would fill it at
  time 0 without end. Instant stations elsewhere are fine: a timed station paces them;
- a breakdown's mean time to failure is at least `MIN_TIME` (a machine that fails at once would
  never work and, with an instant repair, never let the clock move);
- the line's availability-adjusted throughput bound must be finite and at least `MIN_BOUND` (the
  denominator of the `bound_pct` KPI): scrap probabilities close to 1 at many stations can
  make it underflow to 0;
- gamma and lognormal coefficients of variation are at most 10 (beyond that nearly every draw
  rounds to 0 while the mean stays positive; numpy also overflows for huge values), and a
  gamma's cv is at least 1e-6 (its shape 1/cv^2 must stay finite; use `deterministic`);
- names (line, products, stations) are 1-64 characters without '>', control characters or
  line separators, and without leading or trailing whitespace, so they print on one line;
- a warm-up longer than the measured length is allowed (it only costs simulation time).

Reading YAML: scenario text is at most `MAX_TEXT_BYTES` (files are read no further), which
keeps parsing under a few seconds; collections nest at most `MAX_NESTING` deep (deeper nesting
is slow to parse and ends in a RecursionError); a key written twice in one mapping is an error
(YAML would keep the last silently); alias bombs stay cheap (aliases share one object) and
values the YAML loader cannot build (`!!int abc`, a 13th month) are reported as invalid YAML.
Errors about the file as a whole name the path `(file)`, YAML syntax errors `line L, column C`
and errors about the document as a whole `(top level)`.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from factory_twin.errors import ScenarioError

MIN_TIME = 1e-6  # minutes: the shortest step that still moves the clock at 2 * MAX_HORIZON
MAX_TIME = 1e12  # minutes: the longest time a distribution parameter may state
MAX_HORIZON = 1e9  # minutes, for warm-up and for length
MAX_TEXT_BYTES = 2 * 1024 * 1024
MAX_NESTING = 64  # YAML collections inside each other; a scenario needs about 6
MIN_RATE, MAX_RATE = 1e-9, 1e6  # Poisson arrivals per minute
MAX_CV = 10.0
MIN_BOUND = 1e-100  # parts per minute: below this the line delivers (almost) nothing

PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegFloat = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Probability = Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False)]
Time = Annotated[float, Field(ge=0, le=MAX_TIME, allow_inf_nan=False)]
PositiveTime = Annotated[float, Field(gt=0, le=MAX_TIME, allow_inf_nan=False)]
Duration = Annotated[float, Field(ge=MIN_TIME, le=MAX_TIME, allow_inf_nan=False)]

_BAD_NAME_CHAR = re.compile("[>\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _check_name(v: str) -> str:
    if v != v.strip():
        raise ValueError(f"name {v!r} must not start or end with whitespace")
    bad = _BAD_NAME_CHAR.search(v)
    if bad:
        what = "'>' (it separates setup pairs)" if bad.group() == ">" else "control characters"
        raise ValueError(f"name {v!r} must not contain {what}")
    return v


Name = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        description="1-64 characters; no '>', control characters or outer whitespace",
    ),
    AfterValidator(_check_name),
]


class Strict(BaseModel):
    """Base for every scenario model: unknown keys are errors, values are checked on assignment."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# --- distributions -------------------------------------------------------------------------


class Deterministic(Strict):
    dist: Literal["deterministic"]
    value: Time

    @property
    def mean(self) -> float:
        return self.value


class Exponential(Strict):
    dist: Literal["exponential"]
    mean: PositiveTime


class Uniform(Strict):
    dist: Literal["uniform"]
    low: Time
    high: PositiveTime

    @model_validator(mode="after")
    def _ordered(self) -> Uniform:
        if self.high < self.low:
            raise ValueError("high must be >= low")
        return self

    @property
    def mean(self) -> float:
        return (self.low + self.high) / 2


class Normal(Strict):
    """Normal truncated at zero (a time can never be negative); `mean` is the untruncated mean."""

    dist: Literal["normal"]
    mean: PositiveTime
    sd: Time


class LogNormal(Strict):
    """Parameterised by mean and coefficient of variation, the way planners read a time study."""

    dist: Literal["lognormal"]
    mean: PositiveTime
    cv: Annotated[float, Field(ge=0, le=MAX_CV, allow_inf_nan=False)]


class Gamma(Strict):
    dist: Literal["gamma"]
    mean: PositiveTime
    cv: Annotated[float, Field(ge=1e-6, le=MAX_CV, allow_inf_nan=False)]


class Erlang(Strict):
    dist: Literal["erlang"]
    mean: PositiveTime
    k: Annotated[int, Field(ge=1, le=1000)]


class Weibull(Strict):
    """Weibull(shape, scale); shape > 1 means wear-out, where preventive maintenance pays."""

    dist: Literal["weibull"]
    shape: Annotated[float, Field(gt=0.05, le=50, allow_inf_nan=False)]
    scale: PositiveTime

    @property
    def mean(self) -> float:
        return self.scale * math.gamma(1 + 1 / self.shape)


Distribution = Annotated[
    Deterministic | Exponential | Uniform | Normal | LogNormal | Gamma | Erlang | Weibull,
    Field(discriminator="dist"),
]
DIST_PARAMS = frozenset({"value", "mean", "low", "high", "sd", "cv", "k", "shape", "scale"})


def dist_mean(d: Distribution) -> float:
    """Mean of a distribution spec (the truncated normal uses the untruncated mean)."""
    return float(d.mean)


def expected_time(d: Distribution) -> float:
    """Mean of the times the simulator actually draws (a normal is drawn as max(X, 0))."""
    if isinstance(d, Normal) and d.sd > 0:
        z = d.mean / d.sd
        cdf = 0.5 * math.erfc(-z / math.sqrt(2))
        pdf = math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi) if z < 40 else 0.0
        return d.mean * cdf + d.sd * pdf
    return dist_mean(d)


# --- line elements -------------------------------------------------------------------------


class Product(Strict):
    name: Name
    mix: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)] = 1.0


class SaturatedSource(Strict):
    """Raw material is always there: the first buffer is kept full."""

    kind: Literal["saturated"]


class PoissonSource(Strict):
    """Orders arrive at random; arrivals that find the first buffer full are lost (counted)."""

    kind: Literal["poisson"]
    rate: Annotated[float, Field(ge=MIN_RATE, le=MAX_RATE, allow_inf_nan=False)]


class ConwipSource(Strict):
    """Constant WIP: a new part is released whenever one leaves the line."""

    kind: Literal["conwip"]
    limit: Annotated[int, Field(ge=1, le=100_000)]


Source = Annotated[SaturatedSource | PoissonSource | ConwipSource, Field(discriminator="kind")]


class Failure(Strict):
    """Breakdowns: time to failure counts operating (wear) time since the last repair or PM."""

    ttf: Distribution
    ttr: Distribution

    @model_validator(mode="after")
    def _can_work(self) -> Failure:
        if expected_time(self.ttf) < MIN_TIME:
            raise _FieldError(
                "ttf",
                f"mean time to failure must be at least {MIN_TIME:g} min "
                "(a machine that fails at once can never work)",
                relative=True,
            )
        return self


class SpeedMode(Strict):
    """Running faster: shorter process time, faster wear (age), more scrap."""

    time_factor: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)]
    wear_factor: Annotated[float, Field(ge=1, le=100, allow_inf_nan=False)] = 1.0
    scrap_prob: Probability = 0.0


class SpeedModes(Strict):
    fast: SpeedMode | None = None


class Setup(Strict):
    """Sequence-dependent changeover times, keys written as 'from->to'; missing pairs take 0."""

    from_to: dict[str, Time] = Field(default_factory=dict)

    @field_validator("from_to")
    @classmethod
    def _arrow_keys(cls, v: dict[str, float]) -> dict[str, float]:
        for key in v:
            if key.count("->") != 1 or not all(p.strip() for p in key.split("->")):
                raise ValueError(f"setup key {key!r} must look like 'productA->productB'")
        return v

    def pairs(self) -> dict[tuple[str, str], float]:
        out = {}
        for key, t in self.from_to.items():
            a, b = (p.strip() for p in key.split("->"))
            out[(a, b)] = t
        return out


class PM(Strict):
    """Preventive maintenance: takes `duration` minutes and makes the machine as good as new."""

    duration: Duration
    resets_age: bool = True
    threshold: PositiveTime | None = Field(
        default=None, description="age (wear minutes) at which the PM-threshold heuristic acts"
    )


class Station(Strict):
    name: Name
    machines: Annotated[int, Field(ge=1, le=64)] = 1
    buffer: Annotated[int, Field(ge=1, le=100_000)] | None = Field(
        default=None, description="capacity of the input buffer; null means infinite"
    )
    process: Distribution | dict[str, Distribution] = Field(
        description="one distribution for every product, or one per product name"
    )
    setup: Setup | None = None
    failure: Failure | None = None
    speed_modes: SpeedModes = Field(default_factory=SpeedModes)
    scrap_prob: Probability = 0.0
    pm: PM | None = None

    def process_for(self, product: str) -> Distribution:
        return self.process[product] if isinstance(self.process, dict) else self.process

    def is_instant(self, products: list[str]) -> bool:
        """True when every product's mean time, at the fastest speed, is below MIN_TIME."""
        fast = self.speed_modes.fast
        factor = fast.time_factor if fast is not None else 1.0
        return all(expected_time(self.process_for(p)) * factor < MIN_TIME for p in products)


class Horizon(Strict):
    warmup: Annotated[float, Field(ge=0, le=MAX_HORIZON, allow_inf_nan=False)] = 0.0
    length: Annotated[float, Field(gt=0, le=MAX_HORIZON, allow_inf_nan=False)]


class Costs(Strict):
    good_unit: NonNegFloat = 1.0
    wip_per_minute: NonNegFloat = 0.0
    scrap: NonNegFloat = 0.0
    pm: NonNegFloat = 0.0


class Scenario(Strict):
    name: Name
    description: str = ""
    horizon: Horizon
    products: list[Product] = Field(min_length=1, max_length=16)
    source: Source
    stations: list[Station] = Field(min_length=1, max_length=256)
    costs: Costs = Field(default_factory=Costs)
    wait_time: Duration = Field(
        default=1.0, description="minutes a machine holds when its policy chooses to wait"
    )

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        names = [p.name for p in self.products]
        _unique(names, "products", "product names must be unique")
        _unique([s.name for s in self.stations], "stations", "station names must be unique")
        total = math.fsum(p.mix for p in self.products)
        if abs(total - 1.0) > 1e-6:
            raise _field_error("products", f"mix values must sum to 1 (they sum to {total:g})")
        for i, st in enumerate(self.stations):
            if isinstance(st.process, dict):
                missing = [n for n in names if n not in st.process]
                extra = [k for k in st.process if k not in names]
                if missing or extra:
                    raise _field_error(
                        f"stations.{i}.process",
                        f"needs exactly one entry per product {names} "
                        f"(missing {missing}, unknown {extra})",
                    )
            if st.setup is not None:
                for a, b in st.setup.pairs():
                    if a not in names or b not in names:
                        raise _field_error(
                            f"stations.{i}.setup.from_to",
                            f"{a + '->' + b!r} names an unknown product (known: {names})",
                        )
        if isinstance(self.source, SaturatedSource) and self.stations[0].buffer is None:
            raise _field_error(
                "stations.0.buffer", "a saturated source needs a finite first buffer (an integer)"
            )
        self._no_zero_time_loop(names)
        self._positive_bound()
        return self

    def _no_zero_time_loop(self, names: list[str]) -> None:
        first_timed = next(
            (i for i, st in enumerate(self.stations) if not st.is_instant(names)), None
        )
        if first_timed is None:
            raise _field_error(
                "stations",
                f"every station has a zero process time (mean below {MIN_TIME:g} min), so parts "
                "would flow through the line at time 0 without end; give at least one station "
                "a positive process time",
            )
        saturated = isinstance(self.source, SaturatedSource)
        if saturated and first_timed > 0 and self.stations[first_timed].buffer is None:
            raise _field_error(
                f"stations.{first_timed}.buffer",
                f"stations before {self.stations[first_timed].name!r} have zero process times, "
                "so a saturated source would fill this infinite buffer at time 0 without end; "
                "give it a finite capacity",
            )

    def _positive_bound(self) -> None:
        from factory_twin.sim.bounds import availability_adjusted_bound

        rate = availability_adjusted_bound(self).rate
        if not (MIN_BOUND <= rate < math.inf):
            raise _field_error(
                "stations",
                f"the line's throughput bound is {rate:.3g} parts/min: with these scrap "
                "probabilities and times no good part can leave the line",
            )

    @property
    def product_names(self) -> list[str]:
        return [p.name for p in self.products]

    def content_hash(self) -> str:
        """sha256 of the canonical JSON form: the identity adapters and runs are tied to."""
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()


class _FieldError(ValueError):
    """A rule broken at `path`: absolute from the top level, or (relative=True) below the
    location of the model that raised it."""

    def __init__(self, path: str, message: str, relative: bool = False) -> None:
        self.path, self.relative = path, relative
        super().__init__(message)


def _field_error(path: str, message: str) -> _FieldError:
    return _FieldError(path, message)


def _unique(values: list[str], path: str, message: str) -> None:
    seen = set()
    for v in values:
        if v in seen:
            raise _field_error(path, f"{message} ({v!r} appears twice)")
        seen.add(v)


# --- loading -------------------------------------------------------------------------------

_UNION_LABEL = re.compile(r"^(tagged-union|dict|function-[a-z]+|list|nullable)\[")
_DISCRIMINATORS = ("dist", "kind")


def _format_loc(loc: tuple, data: object = None) -> str:
    """Turn pydantic's location tuple into 'stations.0.failure.ttf'.

    Pydantic inserts union labels ('tagged-union[...]', 'dict[str,...]') and discriminator
    tags ('normal', 'poisson') into the location; they are recognised by walking the input
    document alongside the location, so a product that happens to be named 'normal' or
    'integral' keeps its place in the path.
    """
    parts, node, tag_seen = [], data, False
    for item in loc:
        if isinstance(item, str):
            if not tag_seen and _tag_of(node) == item:
                tag_seen = True  # pydantic names the member it chose; it is not a key
                continue
            if _UNION_LABEL.match(item) and not (isinstance(node, dict) and item in node):
                continue
        parts.append(_component(item))
        node, tag_seen = _child(node, item), False
    return ".".join(parts)


def _tag_of(node: object) -> object:
    if isinstance(node, dict):
        for d in _DISCRIMINATORS:
            if isinstance(node.get(d), str):
                return node[d]
    return None


def _child(node: object, item: object) -> object:
    if isinstance(node, dict):
        return node[item] if item in node else node.get(str(item))
    if isinstance(node, list) and isinstance(item, int) and 0 <= item < len(node):
        return node[item]
    return None


def _component(item: object) -> str:
    """One path element, quoted when it would not print plainly on one line."""
    text = str(item)
    if text and text.isprintable() and "." not in text and text == text.strip():
        return text if len(text) <= 40 else text[:37] + "..."
    return _short(text)


def _short(value: object, limit: int = 40) -> str:
    """A one-line, bounded repr of a user value for an error message."""
    try:
        text = repr(value)
    except ValueError:  # an integer too long to print
        text = f"<{type(value).__name__} too long to print>"
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _one_line(text: str, limit: int = 120) -> str:
    """Loader messages on one line: whitespace collapsed, other unprintables escaped."""
    text = " ".join(text.split())
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _intended(loc: tuple, data: object) -> bool:
    """False for errors in a union branch the document did not mean: for `process`, a mapping
    with 'dist' (or distribution parameters) is one distribution, else a per-product table."""
    node = data
    for item in loc:
        if isinstance(item, str) and item.startswith(("tagged-union[", "dict[")):
            if isinstance(node, dict):
                single = "dist" in node or any(
                    k in DIST_PARAMS and not isinstance(v, dict) for k, v in node.items()
                )
                if single != item.startswith("tagged-union["):
                    return False
            continue
        node = _child(node, item)
    return True


_SCALARS = (str, int, float, bool, type(None))
_BOUNDS = {
    "greater_than": ("gt", "must be greater than"),
    "greater_than_equal": ("ge", "must be at least"),
    "less_than": ("lt", "must be less than"),
    "less_than_equal": ("le", "must be at most"),
}


def _explain(err: dict) -> str:
    kind, msg = err["type"], err["msg"]
    if kind == "extra_forbidden":
        return "unknown key (remove it or check its spelling)"
    if kind == "missing":
        return "required field is missing"
    if kind == "union_tag_invalid":
        ctx = err.get("ctx", {})
        return f"unknown kind {_short(ctx.get('tag'))}; expected one of {ctx.get('expected_tags')}"
    if kind == "union_tag_not_found":
        return f"missing the tag field; expected {err.get('ctx', {}).get('discriminator')}"
    if kind in ("model_attributes_type", "model_type", "dict_type"):
        msg = "expected a mapping (key: value pairs)"
    elif kind == "invalid_key":
        msg = "keys must be strings"
    elif kind in _BOUNDS:
        key, words = _BOUNDS[kind]
        limit = err.get("ctx", {}).get(key)
        msg = f"{words} {limit:g}" if isinstance(limit, float) else f"{words} {limit}"
    msg = " ".join(msg.removeprefix("Value error, ").split())
    value = err.get("input")
    if isinstance(value, _SCALARS) and kind != "value_error":
        msg += f" (got {_short(value)})"
    return msg


def parse_scenario(data: object, file: str = "<scenario>") -> Scenario:
    """Validate an already-parsed document; raise ScenarioError with the first problem."""
    if data is None:
        raise ScenarioError(
            file, "(top level)", "the document is empty; expected a mapping of scenario fields"
        )
    if not isinstance(data, dict):
        raise ScenarioError(
            file,
            "(top level)",
            f"expected a mapping of scenario fields at the top level, got {type(data).__name__}",
        )
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        err = _most_specific(exc.errors(), data)
    except RecursionError:
        raise ScenarioError(file, "(top level)", "the document is nested too deeply") from None
    path = _format_loc(err["loc"], data)
    cause = err.get("ctx", {}).get("error")
    if isinstance(cause, _FieldError):
        path = f"{path}.{cause.path}" if cause.relative and path else cause.path
    raise ScenarioError(file, path or "(top level)", _explain(err))


def _most_specific(errors: list, data: object) -> dict:
    """Pick the error to report: the first (in document order, the one a planner fixes first)
    among those in the union branch the document meant."""
    meant = [e for e in errors if _intended(e["loc"], data)]
    return (meant or errors)[0]


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario YAML file; every failure is a ScenarioError naming the file."""
    path = Path(path)
    file = str(path)
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_TEXT_BYTES + 1)
    except FileNotFoundError:
        raise ScenarioError(file, "(file)", "file not found") from None
    except OSError as exc:
        raise ScenarioError(
            file, "(file)", f"cannot read file ({exc.__class__.__name__})"
        ) from None
    if len(raw) > MAX_TEXT_BYTES:
        raise ScenarioError(file, "(file)", f"file too large (more than {MAX_TEXT_BYTES} bytes)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError(
            file, "(file)", f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})"
        ) from None
    return parse_scenario_text(text, file)


class _Loader(yaml.SafeLoader):
    """yaml.SafeLoader that rejects a key written twice in one mapping (PyYAML keeps the last
    one silently, so `buffer: 4` followed by `buffer: 6` would hide a mistake; keys brought in
    by a merge, `<<: *defaults`, may still be overridden) and nesting deeper than MAX_NESTING
    (the composer recurses per level: deep nesting would take seconds to end in a
    RecursionError)."""

    _depth = 0

    def compose_node(self, parent, index):
        if self._depth >= MAX_NESTING:
            raise yaml.composer.ComposerError(
                None,
                None,
                f"nesting deeper than {MAX_NESTING} levels",
                self.peek_event().start_mark,
            )
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=False)
                try:
                    duplicate = key in seen
                except TypeError:  # unhashable: the base class reports it
                    continue
                if duplicate:
                    raise yaml.constructor.ConstructorError(
                        "first written",
                        seen[key],
                        f"found duplicate key {key!r}",
                        key_node.start_mark,
                    )
                seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


def _yaml_problem(exc: yaml.MarkedYAMLError) -> tuple[str, str]:
    """(where, what) for a YAML error: the problem's line and column, and its context."""
    mark = exc.problem_mark or exc.context_mark
    where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(yaml)"
    what = _one_line(str(exc.problem or exc.context or "syntax error"))
    if exc.problem and exc.context:
        what += f" ({_one_line(str(exc.context))}"
        ctx = exc.context_mark
        if ctx is not None and ctx is not mark:
            what += f" at line {ctx.line + 1}, column {ctx.column + 1}"
        what += ")"
    return where, f"invalid YAML: {what}"


def parse_scenario_text(text: str, file: str = "<scenario>") -> Scenario:
    """Parse YAML text and validate it; every failure is a ScenarioError naming `file`."""
    if len(text) > MAX_TEXT_BYTES:
        raise ScenarioError(
            file, "(file)", f"text too large (more than {MAX_TEXT_BYTES} characters)"
        )
    try:
        data = yaml.load(text, Loader=_Loader)  # _Loader is a yaml.SafeLoader
    except yaml.MarkedYAMLError as exc:
        raise ScenarioError(file, *_yaml_problem(exc)) from None
    except yaml.reader.ReaderError as exc:
        char = f" #x{exc.character:04x}" if isinstance(exc.character, int) else ""
        raise ScenarioError(
            file, f"character {exc.position}", f"invalid YAML: unacceptable character{char}"
        ) from None
    except yaml.YAMLError as exc:
        raise ScenarioError(file, "(yaml)", f"invalid YAML: {_one_line(str(exc))}") from None
    except RecursionError:
        raise ScenarioError(file, "(yaml)", "invalid YAML: nesting too deep") from None
    except Exception as exc:  # the loader cannot build a value, e.g. `!!int abc`, 2024-13-45
        raise ScenarioError(
            file, "(yaml)", f"invalid YAML value: {_one_line(f'{type(exc).__name__}: {exc}')}"
        ) from None
    return parse_scenario(data, file)


def json_schema() -> dict:
    """JSON schema of the scenario format, for editors and documentation."""
    return Scenario.model_json_schema()
