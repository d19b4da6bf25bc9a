"""Noticing, before any work starts, that a folder results will be written to is unusable.

Training writes its policy to the store and its checkpoints to a folder only at the end or
every few updates; finding out then that the folder is read-only (or a file stands where a
folder should be) loses the whole budget. So writing workflows probe first: they create and
remove one hidden file in the folder, or in its nearest existing parent when the folder is
yet to be made (creating nothing that was not there).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from factory_twin.errors import StoreError

__all__ = ["require_writable"]


def require_writable(folder: Path, what: str) -> None:
    """Refuse (one-line StoreError naming ``folder``) a folder this process cannot write."""
    existing = _nearest_existing(folder)
    if not existing.is_dir():
        raise StoreError(f"{folder}: {existing} is not a folder; expected a folder for {what}")
    try:
        fd, probe = tempfile.mkstemp(prefix=".write-probe-", dir=existing)
    except OSError as exc:
        raise StoreError(
            f"{folder}: not writable ({exc.strerror or exc}); expected a folder this user can "
            f"write for {what}"
        ) from exc
    os.close(fd)
    os.unlink(probe)


def _nearest_existing(folder: Path) -> Path:
    path = Path(os.path.abspath(folder))
    while not os.path.lexists(path) and path.parent != path:
        path = path.parent
    return path
