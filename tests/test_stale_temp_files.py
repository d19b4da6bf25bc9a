"""An atomic write killed before its rename (deterministically, through the fault hook)
leaves the previous content whole and a temp file that readers ignore; the next write of the
same file removes it, but never the temp file of a writer that is still at work."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from factory_twin.faults import CRASH_ENV, CRASH_EXIT_CODE
from factory_twin.store.atomic import atomic_write_text
from factory_twin.store.tmpdirs import try_lock
from factory_twin.train.checkpoint import current_checkpoint

ROOT = Path(__file__).resolve().parent.parent
CHILD = """
import sys
from factory_twin.store.atomic import atomic_write_text
atomic_write_text(sys.argv[1], sys.argv[2])
"""


def write_and_die(target: Path, text: str) -> None:
    env = {**os.environ, CRASH_ENV: "atomic-before-replace", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", CHILD, str(target), text], env=env)
    assert done.returncode == CRASH_EXIT_CODE


def temps(folder: Path, name: str) -> list[Path]:
    return sorted(folder.glob(f".{name}.*.tmp"))


def test_killed_write_keeps_old_content_and_next_write_sweeps(tmp_path: Path):
    target = tmp_path / "CURRENT"
    atomic_write_text(target, "ckpt-1")
    (tmp_path / "ckpt-1").mkdir()
    (tmp_path / "ckpt-1" / "checkpoint.json").write_text("{}")
    write_and_die(target, "ckpt-2")
    left = temps(tmp_path, "CURRENT")
    assert len(left) == 1 and left[0].read_text() == "ckpt-2"  # complete, never renamed
    assert target.read_text() == "ckpt-1"
    assert current_checkpoint(tmp_path) == tmp_path / "ckpt-1"  # the reader ignores it
    atomic_write_text(target, "ckpt-3")
    assert temps(tmp_path, "CURRENT") == [] and target.read_text() == "ckpt-3"


def test_killed_set_file_write_is_swept_by_the_next(tmp_path: Path):
    target = tmp_path / "_lorasa-set.json"
    write_and_die(target, "{}")
    first = temps(tmp_path, "_lorasa-set.json")
    write_and_die(target, "{}")  # the second writer sweeps the first one's leftover
    second = temps(tmp_path, "_lorasa-set.json")
    assert len(first) == len(second) == 1 and first != second and not target.exists()
    atomic_write_text(target, '{"ok": 1}')
    assert temps(tmp_path, "_lorasa-set.json") == []


def test_a_live_writers_temp_file_and_other_targets_temps_are_kept(tmp_path: Path):
    live = tmp_path / ".CURRENT.0123456789ab.tmp"
    other = tmp_path / ".CURRENT.x.0123456789ab.tmp"  # temp of a file named "CURRENT.x"
    live.write_text("busy")
    other.write_text("other")
    fd = os.open(live, os.O_RDONLY)
    try:
        assert try_lock(fd, block=False)  # as a writer at work holds it
        atomic_write_text(tmp_path / "CURRENT", "ckpt-1")
        assert live.exists() and other.exists()
    finally:
        os.close(fd)
    atomic_write_text(tmp_path / "CURRENT", "ckpt-2")  # the writer is gone now
    assert not live.exists() and other.exists()
