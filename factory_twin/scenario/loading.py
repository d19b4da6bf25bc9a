"""Reading scenarios: YAML text or an already-parsed document in, a validated `Scenario` out.

Every problem (unreadable file, bad YAML, schema violation, a line that can deliver nothing)
becomes one `ScenarioError` naming the file, the field path and what was expected.

Scenario text is at most `MAX_TEXT_BYTES` (files are read no further), which keeps parsing
under a few seconds; collections nest at most `MAX_NESTING` deep (deeper nesting is slow to
parse and ends in a RecursionError); a key written twice in one mapping is an error (YAML would
keep the last silently); alias bombs stay cheap (aliases share one object) and values the YAML
loader cannot build (`!!int abc`, a 13th month) are reported as invalid YAML. Errors about the
file as a whole name the path `(file)`, YAML syntax errors `line L, column C` and errors about
the document as a whole `(top level)`.

After the models validate, the loader checks the one rule that needs the line's capacity: the
normal-speed throughput bound (`capacity.nominal_bound`, never above the `bound_pct` KPI's
denominator) must be finite and at least `MIN_BOUND`, since scrap probabilities close to 1 at
many stations can make it underflow to 0. Last it warns (a `ScenarioWarning`, one line naming
the field; the scenario is still returned) when a replication would run unreasonably long
(`workload`).
"""

from __future__ import annotations

import math
import re
import warnings
from pathlib import Path

import yaml
from pydantic import ValidationError

from factory_twin.errors import ScenarioError, ScenarioWarning
from factory_twin.scenario.capacity import MIN_BOUND, nominal_bound
from factory_twin.scenario.model import DIST_PARAMS, DISTRIBUTION, FIXED, FieldError, Scenario
from factory_twin.scenario.workload import workload_warnings

MAX_TEXT_BYTES = 2 * 1024 * 1024
MAX_NESTING = 64  # YAML collections inside each other; a scenario needs about 6

_UNION_LABEL = re.compile(
    rf"^((tagged-union|dict|function-[a-z]+|list|nullable)\[|({FIXED}|{DISTRIBUTION})$)"
)
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
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        err = _most_specific(exc.errors(), data)
    except RecursionError:
        raise ScenarioError(file, "(top level)", "the document is nested too deeply") from None
    else:
        _check_bound(scenario, file)
        for path, message in workload_warnings(scenario):
            warnings.warn(ScenarioWarning(file, path, message), stacklevel=2)
        return scenario
    path = _format_loc(err["loc"], data)
    cause = err.get("ctx", {}).get("error")
    if isinstance(cause, FieldError):
        path = f"{path}.{cause.path}" if cause.relative and path else cause.path
    raise ScenarioError(file, path or "(top level)", _explain(err))


def _check_bound(scenario: Scenario, file: str) -> None:
    """Reject a line whose normal-speed throughput bound is zero or not finite: no good part
    could leave it at normal speed."""
    rate = nominal_bound(scenario).rate
    if not (MIN_BOUND <= rate < math.inf):
        raise ScenarioError(
            file,
            "stations",
            f"the line's throughput bound is {rate:.3g} parts/min: with these scrap "
            "probabilities and times no good part can leave the line",
        )


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
