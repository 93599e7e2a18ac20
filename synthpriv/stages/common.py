"""What validate and attack share: the real train and holdout rows of a run, and its synthetic table.

The split is read from ``train/split.parquet``, where the train stage stored the one it drew.
"""

from __future__ import annotations

import json

import pandas as pd

from synthpriv.data.io import read_table
from synthpriv.data.schema import TableSchema
from synthpriv.data.split import Split
from synthpriv.generators.model_files import GENERATOR_FILE
from synthpriv.stages.base import EvaluationTables, StageContext

__all__ = ["EvaluationTables", "evaluation_tables"]


def evaluation_tables(ctx: StageContext) -> EvaluationTables:
    """The evaluated tables: given to the context (`synthpriv evaluate`), or the run's artifacts."""
    if ctx.evaluation is not None:
        return ctx.evaluation
    split = Split.from_frame(pd.read_parquet(ctx.artifact("split")))
    meta = json.loads((ctx.artifact("model") / GENERATOR_FILE).read_text())
    return EvaluationTables(
        train=ctx.real.train(split),
        holdout=ctx.real.holdout(split),
        # Read as the real table is read, so both reach the metrics with the same pandas dtypes
        # (a date32 column is datetime64 in both, not datetime.date objects in one).
        synthetic=read_table(ctx.artifact("synthetic"), where="synthesize"),
        schema=TableSchema.from_dict(meta["schema"]),
    )
