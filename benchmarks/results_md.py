"""Writing one benchmark's section of benchmarks/RESULTS.md without touching the others."""

from __future__ import annotations

import os
import platform
import re
import sys
import tempfile
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
TITLE = "# Benchmark results\n"


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo (platform.processor() is often empty on Linux)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


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
    the top of RESULTS.md: the answer to "which targets are met?" without reading it all."""
    start, end = markers("summary")
    rows = []
    for block in re.findall(r"<!-- (\w+):start -->(.*?)<!-- \1:end -->", text, re.S):
        name, body = block
        if name == "summary":
            continue
        title = re.search(r"^## (.+)$", body, re.M)
        targets = re.findall(r"^Target: (.+)$", body, re.M)
        verdict = "<br>".join(targets) if targets else "reported (no target)"
        rows.append(f"| [{name}](#{_anchor(title.group(1)) if title else name}) | {verdict} |")
    return "\n".join([
        start,
        "## Summary: targets and verdicts",
        "",
        "Collected from the sections below by `run_all.py` (each section has its machine, date "
        "and command; a missed target's section and the issue notes explain what stops it).",
        "",
        "| section | target and verdict |",
        "|---|---|",
        *rows,
        end,
    ]) + "\n"  # fmt: skip


def _anchor(title: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")
