"""Scenario schema: the pydantic models of what a planner writes in YAML to describe a line.

Every model forbids unknown keys, so a typo is an error, never silently ignored. Reading and
error text live in `factory_twin.scenario.loading`; this module only states the rules.

Guards against scenarios the simulator cannot run (each is a validation error, never a hang):

- every time is finite and at most `MAX_TIME` minutes, so means and sums of times stay finite;
  horizons (warm-up and length) are at most `MAX_HORIZON` minutes each;
- `wait_time` and the mean `pm.duration` are at least `MIN_TIME` minutes: a shorter step cannot
  move the simulation clock at the end of the longest horizon, so a policy that keeps waiting
  or doing PM would loop forever at one instant;
- setup and PM durations are a number of minutes (fixed) or a deterministic, exponential or
  Erlang distribution;
- a Poisson source's rate lies in [1e-9, 1e6] parts per minute (mean gap <= MAX_TIME and
  >= MIN_TIME);
- zero process times are allowed (a pass-through station), but not where they make an endless
  stream of events at one instant: a station is *instant* when every product's mean process
  time (times its fastest speed factor) is below `MIN_TIME`. At least one station must not be
  instant, whatever the source: with a saturated or CONWIP release every part would leave at
  time 0 and be replaced at once (a Poisson line would run, but the `conwip` heuristic
  re-releases any line under CONWIP, and a CONWIP release without a `rate` is saturated).
  With a saturated source the first non-instant station's input buffer must also be finite
  when instant stations feed it, or they would fill it at time 0 without end. Instant
  stations elsewhere are fine: a timed station paces them;
- a breakdown's mean time to failure is at least `MIN_TIME` (a machine that fails at once would
  never work and, with an instant repair, never let the clock move);
- gamma and lognormal coefficients of variation are at most 10 (beyond that nearly every draw
  rounds to 0 while the mean stays positive; numpy also overflows for huge values), and a
  gamma's cv is at least 1e-6 (its shape 1/cv^2 must stay finite; use `deterministic`);
- names (line, products, stations) are 1-64 characters without '>' and without leading or
  trailing whitespace, and every character is printable (no control characters, line
  separators, bidi overrides such as U+202E or zero-width characters), so they print on one
  line and cannot make a terminal show other text than they hold;
- a warm-up longer than the measured length is allowed (it only costs simulation time).

One more guard needs the line's capacity, so the loader checks it after these models validate
(`loading.parse_scenario`; `Scenario.model_validate` alone skips it): the availability-adjusted
normal-speed throughput bound must be finite and at least `capacity.MIN_BOUND`.

Every distribution model has a `mean` property: the mean of the times the simulator draws. It
is the one place a distribution's mean is asked for (bounds, samplers, observations, heuristics).
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

MIN_TIME = 1e-6  # minutes: the shortest step that still moves the clock at 2 * MAX_HORIZON
MAX_TIME = 1e12  # minutes: the longest time a distribution parameter may state
MAX_HORIZON = 1e9  # minutes, for warm-up and for length
MIN_RATE, MAX_RATE = 1e-9, 1e6  # Poisson arrivals per minute
MAX_CV = 10.0

NonNegFloat = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Probability = Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False)]
Time = Annotated[float, Field(ge=0, le=MAX_TIME, allow_inf_nan=False)]
PositiveTime = Annotated[float, Field(gt=0, le=MAX_TIME, allow_inf_nan=False)]
Duration = Annotated[float, Field(ge=MIN_TIME, le=MAX_TIME, allow_inf_nan=False)]


def _check_name(v: str) -> str:
    if v != v.strip():
        raise ValueError(f"name {v!r} must not start or end with whitespace")
    bad = next((c for c in v if c == ">" or not c.isprintable()), None)
    if bad == ">":
        raise ValueError(f"name {v!r} must not contain '>' (it separates setup pairs)")
    if bad is not None:  # str.isprintable is False for controls, bidi and format characters
        raise ValueError(
            f"name {v!r} must not contain control characters (U+{ord(bad):04X}; "
            "no control, bidi or invisible characters)"
        )
    return v


Name = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        description="1-64 printable characters; no '>' or outer whitespace",
    ),
    AfterValidator(_check_name),
]


class Strict(BaseModel):
    """Base for every scenario model: unknown keys are errors, and a validated model is frozen
    (immutable and hashable; `model_copy(update=...)` makes a changed copy without
    re-validating it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# --- distributions -------------------------------------------------------------------------
# Where a planner states the mean (`mean:`), the field is the property every caller reads.


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
    """Normal(mean, sd) censored at zero: a draw below zero counts as 0 (a time is never
    negative), so the mean time drawn is above `mean` when sd is large against it."""

    # The YAML key `mean` is the normal's mu; in Python the `mean` property is the mean of what
    # is drawn, E[max(X, 0)] = mu Phi(mu/sd) + sd phi(mu/sd), like every distribution's `mean`.
    model_config = ConfigDict(serialize_by_alias=True)

    dist: Literal["normal"]
    mu: PositiveTime = Field(alias="mean")
    sd: Time

    @property
    def mean(self) -> float:
        if self.sd == 0:
            return self.mu
        z = self.mu / self.sd
        cdf = 0.5 * math.erfc(-z / math.sqrt(2))
        pdf = math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
        return self.mu * cdf + self.sd * pdf


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

# Setup and PM durations: a fixed number of minutes (as always), or a deterministic,
# exponential or Erlang distribution, the phase-type ones the exact optimum can model.
TimedDistribution = Annotated[Deterministic | Exponential | Erlang, Field(discriminator="dist")]
FIXED, DISTRIBUTION = "fixed", "distribution"  # union tags; the loader leaves them out of paths


def _fixed_or_distribution(value: object) -> str:
    return DISTRIBUTION if isinstance(value, dict | BaseModel) else FIXED


def _timed(fixed: type) -> object:
    """A duration field: a number keeps its plain float form, so existing files (and their
    content hashes) are unchanged; a mapping is a distribution."""
    return Annotated[
        Annotated[fixed, Tag(FIXED)] | Annotated[TimedDistribution, Tag(DISTRIBUTION)],
        Discriminator(_fixed_or_distribution),
    ]


SetupTime = _timed(Time)
PMTime = _timed(Duration)


def as_distribution(value: float | Deterministic | Exponential | Erlang):
    """A duration field as a distribution model: a plain number is a fixed time."""
    if isinstance(value, int | float):
        return Deterministic(dist="deterministic", value=value)
    return value


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
    """Constant WIP: a new part is released whenever one leaves the line. With a `rate`, the
    line is demand-driven (a Poisson line under CONWIP): orders arrive at random at `rate`
    per minute and one is admitted only while WIP is below the limit and the first buffer has
    room, else it is lost, so CONWIP never makes more than the orders that came."""

    kind: Literal["conwip"]
    limit: Annotated[int, Field(ge=1, le=100_000)]
    rate: Annotated[float | None, Field(ge=MIN_RATE, le=MAX_RATE, allow_inf_nan=False)] = None


Source = Annotated[SaturatedSource | PoissonSource | ConwipSource, Field(discriminator="kind")]


def order_rate(source: SaturatedSource | PoissonSource | ConwipSource) -> float | None:
    """Orders per minute of a demand-driven source (Poisson, or CONWIP over Poisson orders);
    None where raw material is always there."""
    return None if isinstance(source, SaturatedSource) else source.rate


class Failure(Strict):
    """Breakdowns: time to failure counts operating (wear) time since the last repair or PM."""

    ttf: Distribution
    ttr: Distribution

    @model_validator(mode="after")
    def _can_work(self) -> Failure:
        if self.ttf.mean < MIN_TIME:
            raise FieldError(
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
    """Sequence-dependent changeover times, keys written as 'from->to'; missing pairs take 0.
    A time is a number of minutes or a deterministic, exponential or Erlang distribution."""

    from_to: dict[str, SetupTime] = Field(default_factory=dict)

    @field_validator("from_to")
    @classmethod
    def _arrow_keys(cls, v: dict[str, float]) -> dict[str, float]:
        for key in v:
            if key.count("->") != 1 or not all(p.strip() for p in key.split("->")):
                raise ValueError(f"setup key {key!r} must look like 'productA->productB'")
        return v

    def pairs(self) -> dict[tuple[str, str], float]:
        """(from, to) -> mean changeover minutes."""
        return {pair: spec.mean for pair, spec in self.distributions().items()}

    def distributions(self) -> dict[tuple[str, str], Deterministic | Exponential | Erlang]:
        """(from, to) -> the changeover's distribution (a number is a fixed time)."""
        out = {}
        for key, t in self.from_to.items():
            a, b = (p.strip() for p in key.split("->"))
            out[(a, b)] = as_distribution(t)
        return out


class PM(Strict):
    """Preventive maintenance: takes `duration` minutes (a number, or a deterministic,
    exponential or Erlang distribution) and makes the machine as good as new."""

    duration: PMTime
    resets_age: bool = True
    threshold: PositiveTime | None = Field(
        default=None, description="age (wear minutes) at which the PM-threshold heuristic acts"
    )

    @model_validator(mode="after")
    def _moves_the_clock(self) -> PM:
        if self.time.mean < MIN_TIME:
            raise FieldError("duration", f"mean must be at least {MIN_TIME:g} min", relative=True)
        return self

    @property
    def time(self) -> Deterministic | Exponential | Erlang:
        """The duration as a distribution (a number is a fixed time)."""
        return as_distribution(self.duration)


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
        return all(self.process_for(p).mean * factor < MIN_TIME for p in products)


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
            raise FieldError("products", f"mix values must sum to 1 (they sum to {total:g})")
        for i, st in enumerate(self.stations):
            if isinstance(st.process, dict):
                missing = [n for n in names if n not in st.process]
                extra = [k for k in st.process if k not in names]
                if missing or extra:
                    raise FieldError(
                        f"stations.{i}.process",
                        f"needs exactly one entry per product {names} "
                        f"(missing {missing}, unknown {extra})",
                    )
            if st.setup is not None:
                for a, b in st.setup.pairs():
                    if a not in names or b not in names:
                        raise FieldError(
                            f"stations.{i}.setup.from_to",
                            f"{a + '->' + b!r} names an unknown product (known: {names})",
                        )
        if isinstance(self.source, SaturatedSource) and self.stations[0].buffer is None:
            raise FieldError(
                "stations.0.buffer", "a saturated source needs a finite first buffer (an integer)"
            )
        self._no_zero_time_loop(names)
        return self

    def _no_zero_time_loop(self, names: list[str]) -> None:
        first_timed = next(
            (i for i, st in enumerate(self.stations) if not st.is_instant(names)), None
        )
        if first_timed is None:
            raise FieldError(
                "stations",
                f"every station has a zero process time (mean below {MIN_TIME:g} min), so parts "
                "would flow through the line at time 0 without end; give at least one station "
                "a positive process time",
            )
        saturated = isinstance(self.source, SaturatedSource)
        if saturated and first_timed > 0 and self.stations[first_timed].buffer is None:
            raise FieldError(
                f"stations.{first_timed}.buffer",
                f"stations before {self.stations[first_timed].name!r} have zero process times, "
                "so a saturated source would fill this infinite buffer at time 0 without end; "
                "give it a finite capacity",
            )

    @property
    def product_names(self) -> list[str]:
        return [p.name for p in self.products]

    def content_hash(self) -> str:
        """sha256 of the canonical JSON form: the identity adapters and runs are tied to."""
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()


class FieldError(ValueError):
    """A rule broken at `path`: absolute from the top level, or (relative=True) below the
    location of the model that raised it. Pydantic wraps it in its ValidationError; the loader
    reads the path back so the message names the field the rule is about."""

    def __init__(self, path: str, message: str, relative: bool = False) -> None:
        self.path, self.relative = path, relative
        super().__init__(message)


def _unique(values: list[str], path: str, message: str) -> None:
    seen = set()
    for v in values:
        if v in seen:
            raise FieldError(path, f"{message} ({v!r} appears twice)")
        seen.add(v)
