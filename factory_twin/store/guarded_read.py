"""Reading one file of the policy store without trusting what is on disk.

A store folder may be shared, copied from elsewhere or planted: a version folder may be a
link to a policy outside the store, a weights file a link to ``/dev/zero`` (endless), a FIFO
(a read blocks forever) or an 8 GB sparse file (exhausts memory). So a store file is read
only when its real path lies inside the store's real path, it is a regular file (checked with
``stat`` before it is opened, and again on the open descriptor in case it was swapped
meanwhile), and it holds at most ``MAX_STORE_FILE_BYTES``. Every refusal is a one-line
StoreError naming the file.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from factory_twin.errors import StoreError

__all__ = ["MAX_STORE_FILE_BYTES", "read_store_file"]

# Far above any policy this project trains (a few MB), far below what exhausts memory.
MAX_STORE_FILE_BYTES = 256 * 1024 * 1024
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)


def read_store_file(path: Path, root: Path, what: str) -> bytes:
    """The bytes of ``path``, a regular file inside the store ``root`` (module doc)."""
    _check_inside(path, root, what)
    _check_regular(path, _stat(path, what), what)
    try:
        fd = os.open(path, _OPEN_FLAGS | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        raise _unreadable(path, exc, what) from exc
    with os.fdopen(fd, "rb") as fh:
        _check_regular(path, os.fstat(fh.fileno()), what)
        data = fh.read(MAX_STORE_FILE_BYTES + 1)
    if len(data) > MAX_STORE_FILE_BYTES:
        raise _too_large(path, what)
    return data


def _check_inside(path: Path, root: Path, what: str) -> None:
    """Refuse a path that (through links) leads out of the store."""
    real, store = Path(os.path.realpath(path)), Path(os.path.realpath(root))
    if not real.is_relative_to(store):
        raise StoreError(
            f"{path}: leads to {real}, outside the store {store}; expected {what} inside it "
            "(remove the link)"
        )


def _stat(path: Path, what: str) -> os.stat_result:
    try:
        return os.stat(path)
    except FileNotFoundError as exc:
        raise StoreError(f"{path}: missing; expected {what}") from exc
    except OSError as exc:
        raise _unreadable(path, exc, what) from exc


def _check_regular(path: Path, info: os.stat_result, what: str) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise StoreError(
            f"{path}: is not a regular file (a device, FIFO, socket or folder); expected {what}"
        )
    if info.st_size > MAX_STORE_FILE_BYTES:
        raise _too_large(path, what)


def _too_large(path: Path, what: str) -> StoreError:
    return StoreError(
        f"{path}: larger than the store's limit of {MAX_STORE_FILE_BYTES} bytes; expected {what}"
    )


def _unreadable(path: Path, exc: OSError, what: str) -> StoreError:
    return StoreError(f"{path}: unreadable ({exc.strerror or exc}); expected {what}")
