"""What `synthpriv run` prints on stderr when it fails, for the tests of tests/cli.

A run that fails after its first stage began prints its stage table and the page to open (issue
20, point 4), then its `error:` line; one that fails before (a bad option, a refused folder)
prints the `error:` line alone.
"""

from __future__ import annotations

import re
from typing import Any

from synthpriv.config.model import STAGES

#: A row of the stage table: the stage, then what this invocation did with it (`runner.OUTCOMES`).
STAGE_ROW = re.compile(r"  (\w+) +(ran|reused|failed|kept|removed|not run)\b")


def run_error_line(result: Any, code: int, *needles: str, table: bool | None = None) -> str:
    """The one ``error:`` line of a failed run, its last line, holding ``needles``; every line
    before it a complete stage table and the page to open. ``table``: whether a table must be
    there (True) or must not (False); None accepts both."""
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("error: "), result.stderr
    before = lines[:-1]
    if before or table:
        rows = [STAGE_ROW.match(line) for line in before[: len(STAGES)]]
        assert [row[1] if row else None for row in rows] == list(STAGES), result.stderr
        assert all(line.startswith("open ") for line in before[len(STAGES) :]), result.stderr
    assert table is None or bool(before) == table, result.stderr
    for needle in needles:
        assert needle in lines[-1], lines[-1]
    return lines[-1]


def stage_outcomes(stderr: str) -> dict[str, str]:
    """Stage -> what the run did with it, read from the table."""
    rows = (STAGE_ROW.match(line) for line in stderr.splitlines())
    return {row[1]: row[2] for row in rows if row and row[1] in STAGES}
