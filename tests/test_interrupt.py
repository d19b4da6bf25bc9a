"""Ctrl-C stops a parallel sweep at once: SIGINT to the CLI process ends it, and every worker
process, within 5 s, with exit code 130 and no traceback; SIGTERM (`kill`, a scheduler's stop)
does the same with exit code 143."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _children(pid: int) -> set[int]:
    """Direct child processes of `pid` (from /proc)."""
    kids = set()
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(
                line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line
            )
        except OSError:
            continue
        if fields.get("PPid", "").strip() == str(pid):
            kids.add(int(status.parent.name))
    return kids


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads worker processes from /proc")
@pytest.mark.parametrize(
    ("signum", "code", "says"),
    [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "")],
    ids=["SIGINT", "SIGTERM"],
)
def test_a_signal_stops_a_parallel_sweep_and_its_workers_within_5_s(
    tmp_path: Path, signum: int, code: int, says: str
) -> None:
    cmd = [sys.executable, "-m", "factory_twin.cli", "sweep", str(ROOT / "scenarios/bottling.yaml"),
           "--policy", "fifo", "--seeds", "400", "--workers", "2",
           "--db", str(tmp_path / "log.sqlite"), "--store", str(tmp_path / "store")]  # fmt: skip
    # a planner's Ctrl-C comes from a shell with SIGINT at its default; pytest started as a
    # background job of a non-interactive shell passes SIGINT on ignored, and Python keeps it so
    default_sigint = lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)  # noqa: E731
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=default_sigint)  # fmt: skip
    deadline = time.monotonic() + 120
    workers: set[int] = set()
    while len(workers) < 2 and time.monotonic() < deadline:  # wait until both workers run
        workers = _children(proc.pid) - {proc.pid}
        time.sleep(0.2)
    assert len(workers) >= 2, "the sweep never started its workers"
    time.sleep(1.0)
    sent = time.monotonic()
    os.kill(proc.pid, signum)
    _, err = proc.communicate(timeout=30)
    took = time.monotonic() - sent
    assert took < 5.0, f"took {took:.1f} s to stop"
    assert proc.returncode == code and says in err and "Traceback" not in err, err[-2000:]
    time.sleep(0.5)
    alive = [w for w in workers if Path(f"/proc/{w}").exists()
             and "zombie" not in Path(f"/proc/{w}/status").read_text()]  # fmt: skip
    assert alive == [], f"workers still running: {alive}"
