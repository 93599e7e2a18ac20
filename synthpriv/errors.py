"""The error tree. Every error knows *where* it happened (file:line, config path, column)
so that the CLI can print one line that a user can act on.

Messages never contain values from the real table: column names are schema and may be
shown, cell values may not.
"""

from __future__ import annotations


class SynthprivError(Exception):
    """Base class of every error synthpriv reports to a user."""

    exit_code: int = 1

    def __init__(self, message: str, *, where: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.where = where

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message


class ConfigError(SynthprivError):
    """The pipeline file is malformed, has an unknown key, or a value out of range."""

    exit_code = 2


class DataError(SynthprivError):
    """The data cannot be used: missing file or column, empty table, unusable dtype."""

    exit_code = 3


class PrivacyConfigError(SynthprivError):
    """A privacy setting cannot be honoured (bad epsilon or delta, unsupported layer)."""

    exit_code = 4


class GateFailedError(SynthprivError):
    """A quality or privacy gate of the pipeline file failed, so nothing was exported."""

    exit_code = 5

    def __init__(self, message: str, *, where: str | None = None, failed: list[str] | None = None) -> None:
        super().__init__(message, where=where)
        #: One line per failed gate (its name, the figure, the bound), printed before the message.
        self.failed = list(failed or [])


class ModelFileError(SynthprivError):
    """A saved model folder is missing, incomplete, or was tampered with."""

    exit_code = 6


class StageError(SynthprivError):
    """A stage cannot run: its inputs are missing or its wiring is wrong."""

    exit_code = 7
