"""The logging backstop refuses records that carry rows, from any synthpriv module."""

from __future__ import annotations

import io
import logging

import numpy as np
import pandas as pd
import pytest

from synthpriv.runtime.logging import configure_logging


@pytest.mark.parametrize(
    "arg", [pd.DataFrame({"secret": [123456789]}), pd.Series([123456789]), np.array([123456789])]
)
def test_records_with_rows_are_dropped(arg: object) -> None:
    stream = io.StringIO()
    handler = configure_logging(logging.INFO, stream=stream)
    try:
        logger = logging.getLogger("synthpriv.some.module")
        logger.info("value %s", arg)
        logger.info("rows: %d", 5)
    finally:
        logging.getLogger("synthpriv").removeHandler(handler)
    assert "123456789" not in stream.getvalue()
    assert "rows: 5" in stream.getvalue()
