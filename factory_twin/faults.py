"""Deterministic crash points, so tests can kill a process exactly between two named steps.

A crash test sets ``FACTORY_TWIN_CRASH_AT=<step>`` (or ``<step>@<n>``: the n-th time the step
is reached) in a child process's environment; when the child gets there it dies at once with
exit code 137, as ``kill -9`` would leave it: no ``finally`` blocks, no atexit handlers, no
flushed buffers. Unset (always, outside such tests) a crash point is one dictionary lookup
and does nothing.

Steps named in the code: ``version-before-rename`` (a store version's files written, not yet
renamed into place), ``lorasa-after-base`` (a LoRASA base published, no adapter yet),
``lorasa-before-set`` (base and adapters published, the set pointer not yet switched),
``checkpoint-before-switch`` (a checkpoint folder written, its pointer not yet switched),
``atomic-before-replace`` (an atomic write's temp file complete, not yet renamed onto its
target; with ``@n`` the n-th such write).
"""

from __future__ import annotations

import os
from collections import Counter

__all__ = ["CRASH_ENV", "CRASH_EXIT_CODE", "crash_point"]

CRASH_ENV = "FACTORY_TWIN_CRASH_AT"
CRASH_EXIT_CODE = 137  # what a shell reports for a process killed by SIGKILL
_REACHED: Counter[str] = Counter()


def crash_point(step: str) -> None:
    """Die here, like kill -9, when the environment names this step (module doc)."""
    name, _, nth = os.environ.get(CRASH_ENV, "").partition("@")
    if name != step:
        return
    _REACHED[step] += 1
    if (nth or "1") == str(_REACHED[step]):
        os._exit(CRASH_EXIT_CODE)
