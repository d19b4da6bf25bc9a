"""What the benchmark scripts share: paths, the machine/version lines every section starts with,
interleaved timing and its summaries, the shipped scenarios, and writing one script's section
of RESULTS.md without touching the others.

Why one module: every script reports the same way (machine, code version, medians of
interleaved ratios, its own marked section of RESULTS.md), so how that is done lives here once.
A script run as `python benchmarks/NAME.py` has this folder on `sys.path` already, so the scripts
import it as `common`.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import simpy

from factory_twin.scenario import Scenario, load_scenario

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "RESULTS.md"
SCENARIOS = ROOT / "scenarios"
TITLE = "# Benchmark results\n"
# round 1's training defaults (5e4280d), still expressible through TrainConfig: the
# "today" that issue 13's speed and quality targets are measured against
ROUND1_CONFIG = {"hidden": (256, 256), "update_epochs": 4, "minibatches": 4}
# the TrainConfig sizes of a benchmark's --quick smoke run: tiny, so it checks wiring, not speed
QUICK_TRAIN = {"n_envs": 2, "rollout_len": 32, "hidden": (32, 32)}


# --- machine and code lines ------------------------------------------------------------------


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo (platform.processor() is often empty on Linux)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine_lines(extra: str = "") -> list[str]:
    """Machine, versions, date and the exact command, as bullet lines."""
    cpu = cpu_name()
    versions = f"Python {platform.python_version()}, simpy {simpy.__version__}"
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        versions += f", torch {torch.__version__} (threads: {torch.get_num_threads()})"
    try:
        load = "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "load average unknown"
    return [
        f"- Machine: {platform.platform()}, {cpu}, {os.cpu_count()} logical CPUs ({load} "
        "at the end of the run: other work shares this machine, so compare ratios, which are "
        "measured interleaved in the same run, rather than absolute numbers)",
        f"- {versions}{extra}",
        f"- Code: {code_version()}",
        f"- Date: {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- Command: `{shlex.join(['python', *sys.argv])}`",
    ]


def code_version() -> str:
    """Commit of the checkout, and which package files differ from it (work in progress)."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10, check=True
        ).stdout

    try:
        sha = git("rev-parse", "--short", "HEAD").strip()
        dirty = [ln[3:] for ln in git("status", "--porcelain", "--", "factory_twin").splitlines()]
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout)"
    if not dirty:
        return f"git {sha}"
    return f"git {sha} + uncommitted changes in {', '.join(dirty)}"


# --- interleaved timing ----------------------------------------------------------------------


def interleaved(cases: dict[str, Callable[[int], dict]], rounds: int) -> dict[str, list[dict]]:
    """Run every case once per round, in turn (ABAB...), so that a load spike on a shared
    machine hits all cases alike. A case gets the round index and returns a dict of numbers
    (at least 'seconds'); the result keeps every round's dict per case."""
    out: dict[str, list[dict]] = {name: [] for name in cases}
    for r in range(rounds):
        for name, fn in cases.items():
            out[name].append(fn(r))
    return out


def med(samples: list[dict], key: str) -> float:
    return statistics.median(s[key] for s in samples)


def ratio_summary(values: list[float]) -> str:
    """'median (min-max)' of per-round ratios."""
    return f"{statistics.median(values):.2f}x ({min(values):.2f}-{max(values):.2f})"


# --- shipped scenarios -----------------------------------------------------------------------


def shipped_scenarios() -> dict[str, Scenario]:
    return {p.stem: load_scenario(p) for p in sorted(SCENARIOS.glob("*.yaml"))}


def longest(scenarios: dict[str, Scenario]) -> str:
    """The scenario with the most stations (then machines, then horizon)."""
    return max(
        scenarios,
        key=lambda n: (
            len(scenarios[n].stations),
            sum(s.machines for s in scenarios[n].stations),
            scenarios[n].horizon.warmup + scenarios[n].horizon.length,
        ),
    )


# --- RESULTS.md sections ---------------------------------------------------------------------


def markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


def write_section(section: str, name: str, path: Path = RESULTS, first: bool = False) -> None:
    """Replace the section between `name`'s markers (or add it: at the end, or right under
    the title with `first`) and swap the file in atomically; every other section of the file
    is kept byte for byte."""
    start, end = markers(name)
    text = path.read_text() if path.exists() else TITLE
    if start in text and end in text and text.index(start) < text.index(end):
        head, rest = text.split(start, 1)
        tail = rest.split(end, 1)[1].lstrip("\n")
        text = head + section + ("\n" + tail if tail else "")
    elif first and text.startswith(TITLE):
        text = TITLE + "\n" + section + "\n" + text[len(TITLE) :].lstrip("\n")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".RESULTS.", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def publish(section: str, name: str, summary: list[str], write: bool) -> None:
    """Print a benchmark's section and its one-line summaries (what logs and the smoke tests
    read); with `write`, also replace the section in RESULTS.md."""
    print(section, end="")
    for line in summary:
        print(line)
    if write:
        write_section(section, name)
        print(f"wrote section to {RESULTS}", file=sys.stderr)


def summary_section(text: str) -> str:
    """A table of every section's title and its target verdicts ("Target: ..." lines), for
    the top of RESULTS.md: the answer to "which targets are met?" without reading it all;
    under it, each missed target's "What stops it" paragraph from its section."""
    start, end = markers("summary")
    rows, stops = [], []
    for block in re.findall(r"<!-- (\w+):start -->(.*?)<!-- \1:end -->", text, re.S):
        name, body = block
        if name == "summary":
            continue
        title = re.search(r"^## (.+)$", body, re.M)
        link = f"[{name}](#{_anchor(title.group(1)) if title else name})"
        targets = re.findall(r"^Target: (.+)$", body, re.M)
        verdict = "<br>".join(targets) if targets else "reported (no target)"
        rows.append(f"| {link} | {verdict} |")
        if any("MISSED" in t for t in targets):
            reasons = re.findall(r"^What stops it(.+)$", body, re.M)
            stops += [f"- {link}: what stops it{r}" for r in reasons or [": not given."]]
    return "\n".join([
        start,
        "## Summary: targets and verdicts",
        "",
        "Collected from the sections below by `run_all.py` (each section has its machine, date "
        "and command).",
        "",
        "| section | target and verdict |",
        "|---|---|",
        *rows,
        *(["", "Missed targets: what was measured is in the table above; what stops each one "
           "and what it would take, from its section:", "", *stops] if stops else []),
        end,
    ]) + "\n"  # fmt: skip


def _anchor(title: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")


def training_cpu_rate(sc: Scenario, cfg, updates: int) -> dict:
    """CPU seconds of `updates` collect+update rounds of `cfg` (a TrainConfig) on `sc`,
    construction excluded, and env steps per CPU-second: the training benchmarks' one timing
    (this process's CPU time, so other programs' load does not count)."""
    from factory_twin.train.mappo import MAPPO  # torch: only the benchmarks that train load it

    cfg = replace(cfg, total_steps=updates * cfg.n_envs * cfg.rollout_len)
    trainer = MAPPO(sc, cfg)
    t0 = time.process_time()
    trainer.train()
    cpu = time.process_time() - t0
    return {"seconds": cpu, "steps_per_cpu_s": trainer.steps / cpu}
