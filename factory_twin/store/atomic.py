"""Crash-safe file writes.

A checkpoint or adapter file that is half-written when the process dies (power loss, OOM
kill, Ctrl-C) is worse than no file at all: the next run would try to resume from it. So
every durable file goes through here: the bytes land in a temporary file next to the
target, are flushed and fsync'ed, and only then replace the target with ``os.replace``
(atomic on POSIX and Windows). The directory is fsync'ed afterwards so the rename itself
survives a power cut. Readers therefore see either the old file or the new one, never a mix.

A writer killed between creating its temp file and the rename leaves ``.<name>.<hex>.tmp``
behind. Readers never look at such names; the next write of the same target removes every
one whose writer is gone. Writers hold an flock on their temp file while they work, so a
concurrent writer's file is never swept from under it (``store/tmpdirs.py``).
"""

from __future__ import annotations

import glob
import os
import secrets
from pathlib import Path

from factory_twin.errors import StoreError
from factory_twin.faults import crash_point
from factory_twin.store.tmpdirs import still_at, sweep_stale, try_lock

__all__ = ["atomic_write_bytes", "atomic_write_text", "fsync_dir"]

# Temp names start with a dot so directory listings that look for real files skip them.
_TMP_SUFFIX = ".tmp"
_TOKEN_BYTES = 6


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Flush a directory entry table to disk, so renames/creations inside it are durable.

    Platforms that cannot open a directory (Windows) are skipped silently: there the
    rename is already as durable as the OS lets us make it.
    """
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
    try:
        fd = os.open(os.fspath(path), flags)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems (e.g. certain network mounts) refuse fsync on directories
    finally:
        os.close(fd)


def _open_temp(parent: Path, name: str) -> tuple[int, Path]:
    """Create and lock a fresh temp file beside the target, after sweeping those of dead
    writers; mode 0o666 lets the umask decide access."""
    sweep_stale(parent, f".{glob.escape(name)}.{'[0-9a-f]' * 2 * _TOKEN_BYTES}{_TMP_SUFFIX}")
    while True:
        tmp = parent / f".{name}.{secrets.token_hex(_TOKEN_BYTES)}{_TMP_SUFFIX}"
        try:
            fd = os.open(
                tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666
            )
        except FileExistsError:
            continue
        try_lock(fd, block=True)
        if still_at(fd, tmp):
            return fd, tmp
        os.close(fd)  # a sweeper removed it between creation and lock: start over


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically and durably.

    Missing parent directories are created. Any OS failure (disk full, permissions) is
    raised as a one-line StoreError naming the file; the previous content stays intact
    and no temp file is left behind.
    """
    target = Path(path)
    parent = target.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = _open_temp(parent, target.name)
    except OSError as exc:
        raise StoreError(
            f"{target}: cannot create a temp file in {parent} ({exc.strerror or exc}); "
            "expected a writable directory"
        ) from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
            crash_point("atomic-before-replace")
            os.replace(tmp, target)  # still locked: no sweeper can take it meanwhile
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise StoreError(
                f"{target}: write failed ({exc.strerror or exc}); expected a writable file "
                "with free disk space"
            ) from exc
        raise
    fsync_dir(parent)


def atomic_write_text(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> None:
    """Text flavour of :func:`atomic_write_bytes` (UTF-8 by default, newlines untouched)."""
    atomic_write_bytes(path, text.encode(encoding))
