"""Logging with a backstop for the rule "never log real rows"."""

from __future__ import annotations

import logging
from typing import IO

import numpy as np
import pandas as pd

from synthpriv.runtime.terminal import printable

_TABULAR = (pd.DataFrame, pd.Series, pd.Index, np.ndarray)


class NoRowsFilter(logging.Filter):
    """Drops any record whose message arguments hold a table, a column or an array."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        values = args.values() if isinstance(args, dict) else (args or ())
        return not (isinstance(record.msg, _TABULAR) or any(isinstance(a, _TABULAR) for a in values))


class TerminalSafeFormatter(logging.Formatter):
    """One line per record, with names from the data made inert (see `printable`)."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        # The record's line only: a traceback appended after it keeps its own newlines.
        return printable(super().formatMessage(record))


class _CliHandler(logging.StreamHandler[IO[str]]):
    """The handler `configure_logging` installs; its class tells it apart from the user's own."""


def configure_logging(level: int = logging.WARNING, stream: IO[str] | None = None) -> logging.Handler:
    """Set up the ``synthpriv`` logger for the CLI: one line per record, rows filtered out.

    The filter sits on the handler, so it sees the records of every ``synthpriv.*`` module.
    """
    logger = logging.getLogger("synthpriv")
    logger.setLevel(level)
    for old in [h for h in logger.handlers if isinstance(h, _CliHandler)]:
        logger.removeHandler(old)
    handler = _CliHandler(stream)
    handler.setFormatter(TerminalSafeFormatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(NoRowsFilter())
    logger.addHandler(handler)
    return handler
