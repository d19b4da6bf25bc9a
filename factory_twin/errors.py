"""Errors a planner may see. The CLI prints them as one line and exits 2 (no traceback)."""

from __future__ import annotations


class FactoryTwinError(Exception):
    """Base class for every error caused by the user's input or files, not by a bug."""


class ScenarioError(FactoryTwinError):
    """A scenario file is unreadable or invalid: names file, field path and expectation."""

    def __init__(self, file: str, path: str, expected: str) -> None:
        self.file, self.path, self.expected = file, path, expected
        where = f"{file}: {path}" if path else file
        super().__init__(f"{where}: {expected}")


class ScenarioWarning(UserWarning):
    """A scenario is valid but likely not what the planner meant (e.g. it would run for
    hours): names file, field path and why. The CLI prints it as one line and goes on."""

    def __init__(self, file: str, path: str, message: str) -> None:
        self.file, self.path, self.message = file, path, message
        super().__init__(f"{file}: {path}: {message}")


class StoreError(FactoryTwinError):
    """An adapter or checkpoint file is missing, tampered with, or does not fit the base policy."""


class TrainingError(FactoryTwinError):
    """Training cannot continue (e.g. NaN in the loss); the last good checkpoint is kept."""


class UnknownPolicyError(FactoryTwinError):
    """A policy or training-method name nobody defined; the message lists the valid names."""

    def __init__(self, name: str, valid: tuple[str, ...], what: str = "policy") -> None:
        self.name, self.valid, self.what = name, valid, what
        super().__init__(f"unknown {what} {name!r}; expected one of {', '.join(valid)}")

    def __reduce__(self):
        # rebuilt from its own arguments, not the message: a worker process can send it back
        return type(self), (self.name, self.valid, self.what)


class OptionError(FactoryTwinError):
    """A command-line option is out of range, names something unknown, or names a path that
    cannot be used (e.g. an export target that cannot be written)."""


class NotMarkovianError(ScenarioError):
    """The exact optimum needs a line whose every duration is Markovian; names the first field
    (in schema order) that is not."""


class StateSpaceTooLargeError(FactoryTwinError):
    """The exact optimum would need more states than the limit allows."""
