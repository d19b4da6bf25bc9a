"""Temp folders (and files) that a writer fills before renaming them into place, and their
clean-up.

A writer that dies (kill -9, power cut) leaves its temp folder behind. To tell such a leftover
from the folder of a writer that is still busy (another trainer on a slow disk), the writer
holds an exclusive ``flock`` on its folder for as long as it works: the kernel drops the lock
when the process dies, however it dies. The next writer sweeps every temp folder whose lock
it can take. Where ``fcntl`` is missing (Windows) only folders older than a day are swept.

Race-free both ways: the sweeper removes a folder while holding its lock, and a new writer
checks, once it holds the lock, that its folder is still the one on disk (else it starts over).
``store.atomic`` locks its temp files the same way and sweeps them with :func:`sweep_stale`.
"""

from __future__ import annotations

import os
import secrets
import shutil
import time
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["TMP_PREFIX", "LockedDir", "make_locked_dir", "still_at", "sweep_stale", "try_lock"]

TMP_PREFIX = ".tmp-"
_UNLOCKABLE_STALE_S = 24 * 3600


class LockedDir:
    """A fresh hidden folder under ``parent``, locked until :meth:`release`."""

    def __init__(self, path: Path, fd: int | None) -> None:
        self.path, self._fd = path, fd

    def release(self) -> None:
        """Drop the lock (after the folder was renamed away or removed)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def try_lock(fd: int, block: bool) -> bool:
    """Take an exclusive flock on ``fd``; False when ``block`` is off and someone holds it."""
    if fcntl is None:  # pragma: no cover - Windows
        return True
    flags = fcntl.LOCK_EX | (0 if block else fcntl.LOCK_NB)
    try:
        fcntl.flock(fd, flags)
    except BlockingIOError:
        return False
    return True


def make_locked_dir(parent: Path) -> LockedDir:
    """Create and lock a new ``.tmp-<hex>`` folder (mode 0o777 minus umask); OSError passes."""
    while True:
        path = parent / f"{TMP_PREFIX}{secrets.token_hex(8)}"
        try:
            path.mkdir(mode=0o777)
        except FileExistsError:
            continue
        if fcntl is None:  # pragma: no cover - Windows
            return LockedDir(path, None)
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            continue  # a sweeper removed it between mkdir and open: start over
        try_lock(fd, block=True)
        if still_at(fd, path):
            return LockedDir(path, fd)
        os.close(fd)  # a sweeper removed it between open and lock: start over


def still_at(fd: int, path: Path) -> bool:
    """Whether ``path`` still names the folder open as ``fd`` (not removed or renamed)."""
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except FileNotFoundError:
        return False


def sweep_stale(parent: Path, pattern: str = f"{TMP_PREFIX}*") -> list[Path]:
    """Remove the temp folders (or files) in ``parent`` matching ``pattern`` whose writer is
    gone; returns what was removed."""
    removed = []
    for entry in parent.glob(pattern):
        try:
            if _remove_if_abandoned(entry):
                removed.append(entry)
        except OSError:
            continue  # vanished meanwhile or unreadable: not ours to judge
    return removed


def _remove_if_abandoned(entry: Path) -> bool:
    """Remove ``entry`` unless a live writer holds its lock (the sweep keeps it meanwhile)."""
    if fcntl is None:  # pragma: no cover - Windows
        if entry.stat().st_mtime >= time.time() - _UNLOCKABLE_STALE_S:
            return False
        _remove(entry)
        return True
    fd = os.open(entry, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    try:
        if not try_lock(fd, block=False) or not still_at(fd, entry):
            return False  # a live writer holds it, or it was published meanwhile
        _remove(entry)
        return True
    finally:
        os.close(fd)


def _remove(entry: Path) -> None:
    if entry.is_dir() and not entry.is_symlink():
        shutil.rmtree(entry, ignore_errors=True)
    else:
        entry.unlink(missing_ok=True)
