"""Scenario schema: what a planner writes in YAML to describe a production line.

Pydantic v2 models with `extra="forbid"` so a typo is an error, never silently ignored.
`load_scenario` turns every problem (unreadable file, bad YAML, schema violation) into one
`ScenarioError` naming the file, the field path and what was expected.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from factory_twin.errors import ScenarioError

PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegFloat = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Probability = Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False)]
Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[^\s>][^>]*$")]


class Strict(BaseModel):
    """Base for every scenario model: unknown keys are errors, values are checked on assignment."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# --- distributions -------------------------------------------------------------------------


class Deterministic(Strict):
    dist: Literal["deterministic"]
    value: NonNegFloat

    @property
    def mean(self) -> float:
        return self.value


class Exponential(Strict):
    dist: Literal["exponential"]
    mean: PositiveFloat


class Uniform(Strict):
    dist: Literal["uniform"]
    low: NonNegFloat
    high: PositiveFloat

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
    mean: PositiveFloat
    sd: NonNegFloat


class LogNormal(Strict):
    """Parameterised by mean and coefficient of variation, the way planners read a time study."""

    dist: Literal["lognormal"]
    mean: PositiveFloat
    cv: NonNegFloat


class Gamma(Strict):
    dist: Literal["gamma"]
    mean: PositiveFloat
    cv: PositiveFloat


class Erlang(Strict):
    dist: Literal["erlang"]
    mean: PositiveFloat
    k: Annotated[int, Field(ge=1, le=1000)]


class Weibull(Strict):
    """Weibull(shape, scale); shape > 1 means wear-out, where preventive maintenance pays."""

    dist: Literal["weibull"]
    shape: Annotated[float, Field(gt=0.05, le=50, allow_inf_nan=False)]
    scale: PositiveFloat

    @property
    def mean(self) -> float:
        return self.scale * math.gamma(1 + 1 / self.shape)


Distribution = Annotated[
    Deterministic | Exponential | Uniform | Normal | LogNormal | Gamma | Erlang | Weibull,
    Field(discriminator="dist"),
]


def dist_mean(d: Distribution) -> float:
    """Mean of a distribution spec (the truncated normal uses the untruncated mean)."""
    return float(d.mean)


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
    rate: PositiveFloat


class ConwipSource(Strict):
    """Constant WIP: a new part is released whenever one leaves the line."""

    kind: Literal["conwip"]
    limit: Annotated[int, Field(ge=1, le=100_000)]


Source = Annotated[SaturatedSource | PoissonSource | ConwipSource, Field(discriminator="kind")]


class Failure(Strict):
    """Breakdowns: time to failure counts operating (wear) time since the last repair or PM."""

    ttf: Distribution
    ttr: Distribution


class SpeedMode(Strict):
    """Running faster: shorter process time, faster wear (age), more scrap."""

    time_factor: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)]
    wear_factor: Annotated[float, Field(ge=1, le=100, allow_inf_nan=False)] = 1.0
    scrap_prob: Probability = 0.0


class SpeedModes(Strict):
    fast: SpeedMode | None = None


class Setup(Strict):
    """Sequence-dependent changeover times, keys written as 'from->to'; missing pairs take 0."""

    from_to: dict[str, NonNegFloat] = Field(default_factory=dict)

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

    duration: PositiveFloat
    resets_age: bool = True
    threshold: PositiveFloat | None = Field(
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


class Horizon(Strict):
    warmup: NonNegFloat = 0.0
    length: Annotated[float, Field(gt=0, le=1e9, allow_inf_nan=False)]


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
    wait_time: PositiveFloat = Field(
        default=1.0, description="minutes a machine holds when its policy chooses to wait"
    )

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        names = [p.name for p in self.products]
        _unique(names, "products", "product names must be unique")
        _unique([s.name for s in self.stations], "stations", "station names must be unique")
        total = sum(p.mix for p in self.products)
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
                            f"'{a}->{b}' names an unknown product (known: {names})",
                        )
        if isinstance(self.source, SaturatedSource) and self.stations[0].buffer is None:
            raise _field_error(
                "stations.0.buffer", "a saturated source needs a finite first buffer (an integer)"
            )
        return self

    @property
    def product_names(self) -> list[str]:
        return [p.name for p in self.products]

    def content_hash(self) -> str:
        """sha256 of the canonical JSON form: the identity adapters and runs are tied to."""
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()


class _FieldError(ValueError):
    def __init__(self, path: str, message: str) -> None:
        self.path = path
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


def _format_loc(loc: tuple) -> str:
    """Turn pydantic's location tuple into 'stations.0.failure.ttf', dropping union tags."""
    parts = []
    for item in loc:
        if isinstance(item, int):
            parts.append(str(item))
        elif isinstance(item, str) and not _is_union_tag(item):
            parts.append(item)
    return ".".join(parts)


def _is_union_tag(item: str) -> bool:
    tags = {
        "deterministic", "exponential", "uniform", "normal", "lognormal", "gamma", "erlang",
        "weibull", "saturated", "poisson", "conwip", "function-after[_ordered(), Uniform]",
    }  # fmt: skip
    return item in tags or item.startswith(("function-", "dict[", "tagged-union", "int", "float"))


def _explain(err: dict) -> str:
    kind, msg = err["type"], err["msg"]
    if kind == "extra_forbidden":
        return "unknown key (remove it or check its spelling)"
    if kind == "missing":
        return "required field is missing"
    if kind == "union_tag_invalid":
        ctx = err.get("ctx", {})
        return f"unknown kind {ctx.get('tag')!r}; expected one of {ctx.get('expected_tags')}"
    if kind == "union_tag_not_found":
        return f"missing the tag field; expected {err.get('ctx', {}).get('discriminator')}"
    return msg.removeprefix("Value error, ")


def parse_scenario(data: object, file: str = "<scenario>") -> Scenario:
    """Validate an already-parsed document; raise ScenarioError with the first problem."""
    if not isinstance(data, dict):
        raise ScenarioError(file, "", "expected a mapping of scenario fields at the top level")
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        err = _most_specific(exc.errors())
        path = _format_loc(err["loc"])
        cause = err.get("ctx", {}).get("error")
        if isinstance(cause, _FieldError):
            path = cause.path
        raise ScenarioError(file, path or "(top level)", _explain(err)) from None


def _most_specific(errors: list) -> dict:
    """Pick the error to report: pydantic lists them in document order, the first is the one
    a planner fixes first."""
    return errors[0]


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario YAML file; every failure is a ScenarioError naming the file."""
    path = Path(path)
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(file, "", "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(file, "", f"cannot read file ({exc.__class__.__name__})") from None
    return parse_scenario_text(text, file)


def parse_scenario_text(text: str, file: str = "<scenario>") -> Scenario:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        problem = getattr(exc, "problem", None) or "syntax error"
        raise ScenarioError(file, "", f"invalid YAML at {where}: {problem}") from None
    except RecursionError:
        raise ScenarioError(file, "", "invalid YAML: nesting too deep") from None
    return parse_scenario(data, file)


def json_schema() -> dict:
    """JSON schema of the scenario format, for editors and documentation."""
    return Scenario.model_json_schema()
