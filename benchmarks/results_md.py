"""Writing one benchmark's section of benchmarks/RESULTS.md without touching the others."""

from __future__ import annotations

import os
import platform
import sys
import tempfile
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


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


def write_section(section: str, name: str, path: Path = RESULTS) -> None:
    """Replace the section between `name`'s markers (or append it) and swap the file in
    atomically; every other section of the file is kept byte for byte."""
    start, end = markers(name)
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    if start in text and end in text and text.index(start) < text.index(end):
        head, rest = text.split(start, 1)
        tail = rest.split(end, 1)[1].lstrip("\n")
        text = head + section + ("\n" + tail if tail else "")
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
